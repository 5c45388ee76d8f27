import Foundation
import HealCore
@testable import HealSystem
import Testing
import TestSupport

/// GrubEnvBlock against GRUB's own grub-editenv: same variables read, same bytes written.
@Suite struct GrubEnvInteropTests {
    enum Edit: Sendable, CustomStringConvertible {
        case set(String, String)
        case unset(String)

        var description: String {
            switch self {
            case .set(let name, let value): "set \(name)=\(value.debugDescription)"
            case .unset(let name): "unset \(name)"
            }
        }
    }

    static let scripts: [[Edit]] = [
        [],
        [.set("saved_entry", "0")],
        [.set("saved_entry", "gnulinux-advanced-5f1b3a52>gnulinux-6.1.0-50-cloud-amd64-advanced-5f1b3a52")],
        [.set("next_entry", "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64")],
        [.set("a", "1"), .set("b", "two words"), .set("c", "x=y=z")],
        [.set("path", "C:\\boot\\grub"), .set("trailing", "back\\")],
        [.set("multi", "line one\nline two\n"), .set("after", "ok")],
        [.set("mixed", "a\\\nb\\\\\n\n")],
        [.set("utf8", "Grüße ✓"), .set("empty", "")],
        [.set("a", "1"), .set("b", "2"), .set("a", "a much longer value than before"), .set("c", "3")],
        [.set("a", "1"), .set("b", "2"), .set("c", "3"), .unset("b"), .set("d", "4"), .unset("a")],
        [.set("clarity_heal_attempts", "0"), .set("clarity_heal_attempts", "1"), .set("clarity_heal_attempts", "12")],
        [.set("boot_success", "0"), .set("boot_indeterminate", "2"), .set("boot_counter", "-1")],
        [.set("hash", "#not a comment"), .set("x", "###")],
        [.set("", "empty name")],
        [.set("fill", String(repeating: "f", count: 1024 - 25 - 69 - 6))],
    ]

    /// Applies `edits` with grub-editenv to a fresh file; returns its bytes.
    static func grubEditenv(_ edits: [Edit], in dir: TemporaryDirectory) throws -> (path: String, bytes: [UInt8]) {
        let path = dir.path + "/grubenv"
        try #require(Tool.run("grub-editenv", [path, "create"]).status == 0)
        for edit in edits {
            let result: Tool.Result
            switch edit {
            case .set(let name, let value): result = try Tool.run("grub-editenv", [path, "set", name + "=" + value])
            case .unset(let name): result = try Tool.run("grub-editenv", [path, "unset", name])
            }
            try #require(result.status == 0, "grub-editenv \(edit): \(result.stderr)")
        }
        return (path, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    static func listed(_ block: GrubEnvBlock) -> String {
        block.variables.map { "\($0.name)=\($0.value)\n" }.joined()
    }

    @Test(arguments: scripts)
    func weReadWhatGrubEditenvWrites(edits: [Edit]) throws {
        let dir = try TemporaryDirectory(prefix: "grubenv")
        let (path, bytes) = try Self.grubEditenv(edits, in: dir)
        let block = try GrubEnvBlock(parsing: bytes)
        let list = try Tool.run("grub-editenv", [path, "list"])
        #expect(list.status == 0)
        #expect(Self.listed(block) == list.stdout)
    }

    @Test(arguments: scripts)
    func weWriteTheBytesGrubEditenvWrites(edits: [Edit]) throws {
        let dir = try TemporaryDirectory(prefix: "grubenv")
        let (_, expected) = try Self.grubEditenv(edits, in: dir)
        var block = GrubEnvBlock()
        for edit in edits {
            switch edit {
            case .set(let name, let value): block.set(name, value)
            case .unset(let name): block.unset(name)
            }
        }
        let ours = try block.serialized()
        #expect(ours == expected)
        // And GRUB reads our block back as we meant it.
        let path = try dir.write("ours", Data(ours))
        let list = try Tool.run("grub-editenv", [path, "list"])
        #expect(list.status == 0)
        #expect(list.stdout == Self.listed(block))
    }

    @Test func bothRefuseABlockThatOverflows() throws {
        let dir = try TemporaryDirectory(prefix: "grubenv")
        let path = dir.path + "/grubenv"
        _ = try Tool.run("grub-editenv", [path, "create"])
        // One byte more than fits: header, warning line, "big=", the value, "\n".
        let value = String(repeating: "x", count: 1024 - 25 - 69 - 4)
        let result = try Tool.run("grub-editenv", [path, "set", "big=" + value])
        #expect(result.status != 0)
        #expect(result.stderr.contains("environment block too small"))
        var block = GrubEnvBlock()
        block.set("big", value)
        #expect(throws: GrubEnvBlock.Error.tooLarge(needed: 1025)) { try block.serialized() }
    }

    @Test func salvagedBlockIsReadByGrubEditenv() throws {
        // A truncated, edited-by-hand grubenv: the repair writes a valid block keeping
        // the keys GRUB could still read.
        let dir = try TemporaryDirectory(prefix: "grubenv")
        var damaged = Array((GrubEnvBlock.header + "saved_entry=gnulinux-simple-x\njunk without equals\nnext_entry=1\n").utf8)
        damaged += [UInt8](repeating: UInt8(ascii: "#"), count: 300)
        #expect(throws: GrubEnvBlock.Error.wrongSize(damaged.count)) { try GrubEnvBlock(parsing: damaged) }
        let (block, problems) = GrubEnvBlock.salvage(damaged)
        #expect(!problems.isEmpty)
        let path = try dir.write("grubenv", Data(try block.serialized()))
        let list = try Tool.run("grub-editenv", [path, "list"])
        #expect(list.stdout == "saved_entry=gnulinux-simple-x\nnext_entry=1\n")
    }
}
