import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `grubenv-rewrite` on copies of the real root with a damaged grubenv; GRUB's own
/// grub-editenv (the clone's, in the sandbox, and the host's) reads the result.
@Suite("grubenv repair strategy", .serialized)
struct GrubEnvStrategyTests {
    static let path = "/boot/grub/grubenv"

    @Test("a torn grubenv becomes a valid 1024-byte block keeping the readable variables")
    func tornBlock() throws {
        let copy = try TestRoot.writableCopy()
        _ = try Tool.run("/usr/bin/grub-editenv", [copy.at(Self.path), "set", "saved_entry=gnulinux-simple-\(TestRoot.rootUUID)"])
        _ = try Tool.run("/usr/bin/grub-editenv", [copy.at(Self.path), "set", "clarity_heal_attempts=0"])
        _ = try Tool.run("/usr/bin/truncate", ["-s", "300", copy.at(Self.path)])
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.bootloaderEnvCorrupt, with: StrategyCatalogue.strategy("grubenv-rewrite"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == [Self.path])
        // The plan ends with the clone's grub-editenv reading the block, and it did.
        #expect(outcome.operations.last?.description == "run /usr/bin/grub-editenv \(Self.path) list (changes nothing)")
        #expect(outcome.outcomes.last?.succeeded == true)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: run.environment.root.host(Self.path)))
        #expect(bytes.count == 1024)
        let listed = try Tool.run("/usr/bin/grub-editenv", [run.environment.root.host(Self.path), "list"])
        #expect(listed.status == 0)
        #expect(listed.stdout == "saved_entry=gnulinux-simple-\(TestRoot.rootUUID)\nclarity_heal_attempts=0\n")
    }

    @Test("a block with a garbage line and a bad header keeps what GRUB could read")
    func garbage() throws {
        let copy = try TestRoot.writableCopy()
        var bytes = Array("# GRUB Environment Blokc\nsaved_entry=0\nthis line has no equals\nnext_entry=1\n".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "#"), count: 1024 - bytes.count)
        try? FileManager.default.removeItem(atPath: copy.at(Self.path))
        try Data(bytes).write(to: URL(fileURLWithPath: copy.at(Self.path)))
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.bootloaderEnvCorrupt, with: StrategyCatalogue.strategy("grubenv-rewrite"))
        #expect(outcome.validated, "\(outcome.explanation)")
        let listed = try Tool.run("/usr/bin/grub-editenv", [run.environment.root.host(Self.path), "list"])
        #expect(listed.stdout == "saved_entry=0\nnext_entry=1\n")
    }

    @Test("a valid grubenv is left alone")
    func healthy() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/etc/fstab") { $0 + "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2\n" }
        let run = try BootRepairRun(copy)
        let reason = try StrategyCatalogue.strategy("grubenv-rewrite").unmetPrecondition(try run.context(.fstabUnresolvableSource))
        #expect(reason == "every grubenv is a valid block")
    }
}
