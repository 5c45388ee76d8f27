import Testing
@testable import HealCore

@Suite struct GrubEnvBlockTests {
    static func block(_ body: String) -> [UInt8] {
        var bytes = Array((GrubEnvBlock.header + body).utf8)
        bytes += repeatElement(UInt8(ascii: "#"), count: max(0, 1024 - bytes.count))
        return bytes
    }

    @Test func emptyBlockIsWhatGrubEditenvCreates() throws {
        let bytes = try GrubEnvBlock().serialized()
        #expect(bytes.count == 1024)
        #expect(bytes.starts(with: Array((GrubEnvBlock.header + GrubEnvBlock.warning).utf8)))
        #expect(bytes.last == UInt8(ascii: "#"))
        #expect(try GrubEnvBlock(parsing: bytes).variables.isEmpty)
    }

    @Test(arguments: [
        ("saved_entry=0\n", [("saved_entry", "0")]),
        ("a=1\nb=two words\n", [("a", "1"), ("b", "two words")]),
        ("p=x\\\\y\n", [("p", "x\\y")]),
        ("n=l1\\\nl2\n", [("n", "l1\nl2")]),
        ("# a comment\nk=v=w\n", [("k", "v=w")]),
        ("e=\n", [("e", "")]),
        ("=x\n", [("", "x")]),
    ])
    func parsesVariables(body: String, expected: [(String, String)]) throws {
        let block = try GrubEnvBlock(parsing: Self.block(body))
        #expect(block.variables.map(\.name) == expected.map(\.0))
        #expect(block.variables.map(\.value) == expected.map(\.1))
        // And writes the same bytes back.
        #expect(try block.serialized() == Self.block(body))
    }

    static let corrupt: [([UInt8], GrubEnvBlock.Error)] = {
        let hashes = [UInt8](repeating: UInt8(ascii: "#"), count: 1000)
        let cutOff = Array((GrubEnvBlock.header + "a=1\nb=").utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 1024 - 31)
        return [
            ([UInt8](repeating: UInt8(ascii: "#"), count: 1023), .wrongSize(1023)),
            ([], .wrongSize(0)),
            (Array("# GRUB Environment Blok\n".utf8) + hashes, .badHeader),
            (block("garbage line\n"), .unparsableLine(line: 2, offset: 25)),
            (block("a=1\nno equals sign\n"), .unparsableLine(line: 3, offset: 29)),
            (block("a=1\nb=x\\qy\n"), .badEscape(line: 3, offset: 29)),
            (cutOff, .unterminatedLine(line: 3, offset: 29)),
        ]
    }()

    @Test(arguments: corrupt)
    func rejectsCorruptBlocks(bytes: [UInt8], error: GrubEnvBlock.Error) {
        #expect(throws: error) { try GrubEnvBlock(parsing: bytes) }
    }

    @Test func errorsReadLikeSentences() {
        #expect(GrubEnvBlock.Error.wrongSize(512).description == "grubenv is 512 bytes, not 1024")
        #expect(GrubEnvBlock.Error.unparsableLine(line: 3, offset: 40).description
                == "cannot parse grubenv line 3 (byte 40): no name=value")
    }

    @Test func salvageKeepsParsableKeys() {
        var bytes = Self.block("saved_entry=gnulinux-x\ngarbage\nnext_entry=1\n")
        bytes.removeLast(100)
        let (block, problems) = GrubEnvBlock.salvage(bytes)
        #expect(block.variables.map(\.name) == ["saved_entry", "next_entry"])
        #expect(block["next_entry"] == "1")
        #expect(problems.contains(.wrongSize(924)))
        #expect(problems.contains(.unparsableLine(line: 3, offset: 48)))
    }

    @Test func salvageWithoutHeaderReadsTheRest() {
        let bytes = Array("garbage header\nsaved_entry=2\n".utf8)
        let (block, problems) = GrubEnvBlock.salvage(bytes)
        #expect(block["saved_entry"] == "2")
        #expect(problems.contains(.badHeader))
    }

    // Found by Fuzz/Harnesses/GrubEnvBlockFuzz.swift: a damaged file shorter than the
    // header, without it, whose last line has no newline, made salvage count lines from
    // byte 25 of a shorter array (a trap on every boot's `detect --quick`).
    @Test(arguments: [
        (Array("x\ny".utf8), [GrubEnvBlock.Error.wrongSize(3), .badHeader, .unterminatedLine(line: 2, offset: 2)]),
        ([0x0a, 0x00, 0x47, 0x52, 0x23, 0x20, 0x47, 0x52, 0x55, 0x42],
         [.wrongSize(10), .badHeader, .unterminatedLine(line: 2, offset: 1)]),
    ])
    func salvagesShortFilesWithoutHeader(bytes: [UInt8], problems: [GrubEnvBlock.Error]) {
        let salvaged = GrubEnvBlock.salvage(bytes)
        #expect(salvaged.problems == problems)
        #expect(salvaged.block.variables.isEmpty)
    }

    // Found by Fuzz/Harnesses/GrubEnvBlockFuzz.swift, checked against GRUB's reading
    // (grub-core/lib/envblk.c): a last line whose newline is escaped runs into the padding,
    // where GRUB finds no end and reads nothing more; it was read as a value ending in a
    // newline and written back one byte longer.
    @Test(arguments: [
        ("a=x\\\n", GrubEnvBlock.Error.unterminatedLine(line: 2, offset: 25)),
        ("a=1\n# note\\\n", .unterminatedLine(line: 3, offset: 29)),
    ])
    func aLineEndingInAnEscapedNewlineIsCutOff(body: String, error: GrubEnvBlock.Error) {
        #expect(throws: error) { try GrubEnvBlock(parsing: Self.block(body)) }
        let salvaged = GrubEnvBlock.salvage(Self.block(body))
        #expect(salvaged.problems == [error])
        #expect(salvaged.block.variables.map(\.name) == (body.hasPrefix("a=1") ? ["a"] : []))
    }

    // Found while modelling GRUB's reading for that harness: GRUB ends a comment at the
    // first newline no backslash escapes, so the line after "# note\" is comment too.
    @Test func aCommentEndingInABackslashTakesTheNextLine() throws {
        let bytes = Self.block("# note\\\nhidden=1\nshown=2\n")
        let block = try GrubEnvBlock(parsing: bytes)
        #expect(block.lines == [.comment("# note\\\nhidden=1"), .variable(name: "shown", value: "2")])
        #expect(try block.serialized() == bytes)
    }

    @Test func setReplacesInPlaceAndUnsetRemoves() throws {
        var block = GrubEnvBlock()
        block.set("a", "1")
        block.set("b", "2")
        block.set("a", "longer")
        #expect(block.variables.map(\.name) == ["a", "b"])
        #expect(block["a"] == "longer")
        block.unset("a")
        #expect(block.variables.map(\.name) == ["b"])
        #expect(block["a"] == nil)
    }

    @Test func serializingTooMuchFails() throws {
        var block = GrubEnvBlock()
        block.set("big", String(repeating: "x", count: 1000))
        #expect(throws: GrubEnvBlock.Error.tooLarge(needed: 25 + 69 + 1005)) { try block.serialized() }
        var exact = GrubEnvBlock(lines: [])
        exact.set("k", String(repeating: "y", count: 1024 - 25 - 3))
        #expect(try exact.serialized().count == 1024)
    }

    @Test(arguments: ["a=b", "a\nb"])
    func namesGrubCannotReadAreRefused(name: String) {
        var block = GrubEnvBlock()
        block.lines.append(.variable(name: name, value: "v"))
        #expect(throws: GrubEnvBlock.Error.invalidName(name)) { try block.serialized() }
    }
}
