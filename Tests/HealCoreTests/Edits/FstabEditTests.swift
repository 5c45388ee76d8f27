import Testing
@testable import HealCore

/// The fstab line edits: the changed field is spliced in, every other byte — tabs,
/// aligned columns, trailing blanks, `\r`, a missing final newline — stays.
@Suite struct FstabEditTests {
    static func edit(_ text: String, _ body: ([UInt8]) throws -> [UInt8]) rethrows -> String {
        String(decoding: try body(Array(text.utf8)), as: UTF8.self)
    }

    @Test(arguments: [
        // Spaces, the last line without a newline.
        ("# c\nLABEL=dtaa /data ext4 defaults 0 2", 2, "LABEL=data",
         "# c\nLABEL=data /data ext4 defaults 0 2"),
        // Tabs and aligned columns around a shorter value.
        ("UUID=1\t/\text4\terrors=remount-ro\t0\t1\nLABEL=dtaa\t\t/data   ext4 defaults 0 2\n", 2, "UUID=5f1b",
         "UUID=1\t/\text4\terrors=remount-ro\t0\t1\nUUID=5f1b\t\t/data   ext4 defaults 0 2\n"),
        // Trailing spaces and a CRLF ending on the edited line.
        ("LABEL=a /a ext4 defaults 0 2   \r\n#x\n", 1, "LABEL=b", "LABEL=b /a ext4 defaults 0 2   \r\n#x\n"),
        // Leading blanks before the source.
        ("  \tLABEL=a /a ext4\n", 1, "LABEL=with space", "  \tLABEL=with\\040space /a ext4\n"),
    ])
    func replacesTheSourceOnly(text: String, line: Int, source: String, expected: String) throws {
        #expect(try Self.edit(text) { try FstabEdit.replacing(.source, with: source, line: line, in: $0) } == expected)
    }

    @Test(arguments: [
        ("/dev/vda1 / xfs errors=remount-ro 0 1\n", "/dev/vda1 / ext4 errors=remount-ro 0 1\n"),
        ("/dev/vda1\t/\txfs \t defaults\n", "/dev/vda1\t/\text4 \t defaults\n"),
    ])
    func setsTheType(text: String, expected: String) throws {
        #expect(try Self.edit(text) { try FstabEdit.replacing(.type, with: "ext4", line: 1, in: $0) } == expected)
    }

    @Test(arguments: [
        ("LABEL=d /d ext4 defaults 0 2\n", "LABEL=d /d ext4 defaults,nofail,x-systemd.device-timeout=10s 0 2\n"),
        // Already nofail: only the timeout is added.
        ("LABEL=d\t/d\text4\tnofail\t0\t2", "LABEL=d\t/d\text4\tnofail,x-systemd.device-timeout=10s\t0\t2"),
        // An existing timeout keeps its value: nothing to add.
        ("LABEL=d /d ext4 nofail,x-systemd.device-timeout=30s 0 2\n", "LABEL=d /d ext4 nofail,x-systemd.device-timeout=30s 0 2\n"),
        // No options field: libmount's implied `defaults` is written out first.
        ("LABEL=d /d ext4\n", "LABEL=d /d ext4 defaults,nofail,x-systemd.device-timeout=10s\n"),
        ("LABEL=d /d ext4   \n", "LABEL=d /d ext4 defaults,nofail,x-systemd.device-timeout=10s   \n"),
    ])
    func addsNofail(text: String, expected: String) throws {
        let result = try Self.edit(text) {
            try FstabEdit.addingOptions(["nofail", "x-systemd.device-timeout=10s"], line: 1, in: $0)
        }
        #expect(result == expected)
    }

    @Test(arguments: [
        ("a / ext4 d 0 1\nLABEL=x /x ext4 d 0 2\nb /b ext4 d 0 2\n", 2,
         "a / ext4 d 0 1\n# clarity-heal: why\n#LABEL=x /x ext4 d 0 2\nb /b ext4 d 0 2\n"),
        // The last line, without a newline, stays without one.
        ("a / ext4 d 0 1\n\tLABEL=x /x ext4 d 0 2", 2, "a / ext4 d 0 1\n# clarity-heal: why\n#\tLABEL=x /x ext4 d 0 2"),
        // A line libmount rejects (dump not a number) can be commented out too.
        ("UUID=1 /data ext4 defaults zero 2\r\n", 1, "# clarity-heal: why\n#UUID=1 /data ext4 defaults zero 2\r\n"),
    ])
    func commentsOutWithANote(text: String, line: Int, expected: String) throws {
        #expect(try Self.edit(text) { try FstabEdit.commentingOut(line: line, note: "why", in: $0) } == expected)
    }

    @Test(arguments: [
        ("# comment\n", 1, FstabEdit.Error.notAnEntry(line: 1)),
        ("\n", 1, .notAnEntry(line: 1)),
        ("LABEL=a /a\n", 1, .notAnEntry(line: 1)),
        ("LABEL=a /a ext4\n", 2, .noSuchLine(2)),
    ])
    func refusesLinesThatAreNoEntry(text: String, line: Int, error: FstabEdit.Error) {
        #expect(throws: error) { try FstabEdit.commentingOut(line: line, note: "n", in: Array(text.utf8)) }
        #expect(throws: error) { try FstabEdit.replacing(.source, with: "x", line: line, in: Array(text.utf8)) }
    }

    @Test(arguments: [("a b", "a\\040b"), ("t\tx", "t\\011x"), ("x#y", "x\\043y"), ("b\\s", "b\\134s"), ("plain", "plain")])
    func escapesAndUnescapes(raw: String, escaped: String) {
        #expect(FstabEdit.escape(raw) == escaped)
        #expect(FstabEdit.unescape(escaped) == raw)
    }

    @Test func lineStructureSurvivesARoundTrip() {
        for text in ["", "a", "a\n", "a\n\n", "\n", "a\r\nb", "x\ny\nz\n"] {
            #expect(TextLines(Array(text.utf8)).bytes == Array(text.utf8))
        }
    }
}
