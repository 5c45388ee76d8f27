import Foundation
import HealSystem
import Testing
import TestSupport

/// `Fstab` reads what libmount reads, with line numbers; bad lines agree with
/// `findmnt --verify --tab-file` (util-linux 2.38).
@Suite("Fstab parsing")
struct FstabTests {
    /// Parses `text` written to a temporary file.
    /// Also returns the folder, which must outlive the file's use.
    static func parse(_ text: String) throws -> (Fstab, String, TemporaryDirectory) {
        try parse(Data(text.utf8))
    }

    static func parse(_ data: Data) throws -> (Fstab, String, TemporaryDirectory) {
        let directory = try TemporaryDirectory(prefix: "fstab")
        let file = try directory.write("fstab", data)
        return (try Fstab.parse(file: file, displayPath: "/etc/fstab"), file, directory)
    }

    /// The line numbers findmnt reports as "parse error at line N".
    static func findmntParseErrors(_ file: String) throws -> [Int] {
        let result = try Tool.run("findmnt", ["--verify", "--tab-file", file])
        return result.stderr.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "parse error at line ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
    }

    @Test("the test root's fstab: entries as written, with their lines")
    func testRoot() throws {
        let fstab = try Fstab.load(root: SystemRoot(TestRoot.root))
        #expect(fstab.invalidLines.isEmpty)
        #expect(fstab.entries.count == 2)
        let root = try #require(fstab.entries.first)
        #expect(root.source == "UUID=\(TestRoot.rootUUID)")
        #expect(root.target == "/")
        #expect(root.fstype == "ext4")
        #expect(root.options == "errors=remount-ro")
        #expect(root.optionList == ["errors=remount-ro"])
        #expect(root.optionValue("errors") == "remount-ro")
        #expect(root.passno == 1)
        #expect(root.line == 3)
        #expect(root.text.hasPrefix("UUID=\(TestRoot.rootUUID)  /"))
        let tmp = try #require(fstab.entries.last)
        #expect(tmp.line == 4)
        #expect(tmp.isPseudo)
        #expect(tmp.hasOption("nosuid"))
        #expect(!tmp.hasOption("nofail"))
    }

    /// Each case: the file, the lines that become entries, the lines libmount rejects.
    static let tables: [(String, String, [Int], [Int])] = [
        ("good", "# c\n\nUUID=a / ext4 defaults 0 1\n  # indented comment\nLABEL=b /srv xfs ro 0 2\n", [3, 5], []),
        ("one word", "UUID=a / ext4 defaults 0 1\ngarbage\n/dev/vdb /srv ext4 defaults 0 2\n", [1, 3], [2]),
        ("bad pass", "UUID=a / ext4 defaults 0 x\n/dev/vdb /srv ext4 defaults 0 2\n", [2], [1]),
        ("bad dump", "/dev/vdb /srv ext4 defaults y 2\nUUID=a / ext4 defaults 0 1\n", [2], [1]),
        ("two words", "/dev/vdb /srv\nUUID=a / ext4\n", [2], [1]),
        ("extra field", "/dev/vdb /srv ext4 defaults 0 2 extra\n", [1], []),
        ("crlf", "UUID=a / ext4 defaults 0 1\r\n\r\n/dev/vdb /srv ext4 defaults 0 2\r\n", [1, 3], []),
        ("no final newline", "# x\nUUID=a / ext4 defaults 0 1", [2], []),
        ("tabs and blanks", "\t\n \t \nUUID=a\t/\text4\tdefaults\t0\t1\n", [3], []),
        ("only comments", "# a\n#b\n\n", [], []),
        ("empty", "", [], []),
        // fstab(5) spells a space \\040: quotes do not protect it.
        ("quoted space", "LABEL=\"my data\" /srv ext4 defaults 0 2\n", [], [1]),
        ("many errors", "a\nb\nUUID=a / ext4 defaults 0 1\nc d\n/dev/vdb /srv ext4 d 0 z\n", [3], [1, 2, 4, 5]),
    ]

    @Test("entry and error lines; errors at the lines findmnt --verify reports", arguments: tables)
    func lines(name: String, text: String, entries: [Int], errors: [Int]) throws {
        let (fstab, file, directory) = try Self.parse(text)
        #expect(fstab.entries.map(\.line) == entries, "\(name)")
        #expect(fstab.invalidLines.map(\.line) == errors, "\(name)")
        #expect(try Self.findmntParseErrors(file) == errors, "\(name)")
        // Each entry's text is its own line.
        // (Split bytes: Swift's Character joins "\r\n" into one.)
        let raw = text.utf8.split(separator: 0x0a, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        for entry in fstab.entries {
            #expect(raw[entry.line - 1].trimmingCharacters(in: .whitespacesAndNewlines)
                == entry.text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        withExtendedLifetime(directory) {}
    }

    @Test("errors read like 'cannot parse /etc/fstab line N: why'")
    func errorText() throws {
        let (fstab, _, _) = try Self.parse("UUID=a / ext4 defaults 0 1\ngarbage\n/dev/vdb /srv ext4 defaults 0 x\n")
        #expect(fstab.lineErrors.map(\.description) == [
            "cannot parse /etc/fstab line 2: expected at least 3 fields (source, mount point, type), found 1",
            "cannot parse /etc/fstab line 3: pass field 'x' is not a number",
        ])
        #expect(fstab.invalidLines.map(\.text) == ["garbage", "/dev/vdb /srv ext4 defaults 0 x"])
    }

    @Test("sources stay as written: quotes, escapes, tags")
    func sources() throws {
        let (fstab, _, _) = try Self.parse("""
            LABEL="data" /srv ext4 defaults 0 2
            LABEL=my\\040disk /mnt/my\\040disk ext4 nofail,x-systemd.device-timeout=10s 0 2
            PARTUUID=0a1b-02 /boot vfat umask=0077,"x-note=a,b" 0 2
            /swapfile none swap sw,pri=-2 0 0
            """)
        #expect(fstab.entries.map(\.source) == ["LABEL=\"data\"", "LABEL=my disk", "PARTUUID=0a1b-02", "/swapfile"])
        #expect(fstab.entries[1].target == "/mnt/my disk")
        #expect(fstab.entries[1].hasOption("nofail"))
        #expect(fstab.entries[1].optionValue("x-systemd.device-timeout") == "10s")
        #expect(fstab.entries[2].optionList == ["umask=0077", "\"x-note=a,b\""])
        #expect(fstab.entries[3].isSwap)
        #expect(fstab.entries[3].optionValue("pri") == "-2")
        #expect(fstab.entries.map(\.line) == [1, 2, 3, 4])
    }

    @Test("binary junk: NUL bytes make error lines where findmnt reports them, never a crash")
    func binary() throws {
        var data = Data("UUID=a / ext4 defaults 0 1\n".utf8)
        data.append(contentsOf: [0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0x00, 0x0a])
        data.append(contentsOf: (0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        data.append(contentsOf: Array("\n/dev/vdb /srv ext4 defaults 0 2\n".utf8))
        let (fstab, file, directory) = try Self.parse(data)
        let findmnt = try Self.findmntParseErrors(file)
        #expect(fstab.invalidLines.map(\.line) == findmnt)
        #expect(!findmnt.isEmpty)
        #expect(fstab.entries.first?.line == 1)
        #expect(fstab.entries.last?.source == "/dev/vdb")
        let lineCount = data.split(separator: 0x0a, omittingEmptySubsequences: false).count
        #expect(fstab.entries.last?.line == lineCount - 1)
        withExtendedLifetime(directory) {}
    }

    @Test("a directory, a dangling link and a missing file are clear errors")
    func notFiles() throws {
        let directory = try TemporaryDirectory(prefix: "fstab")
        try FileManager.default.createDirectory(atPath: directory.path + "/etc/fstab", withIntermediateDirectories: true)
        // libmount would read *.fstab files inside a directory: the boot would not.
        try directory.write("etc/fstab/extra.fstab", "/dev/vdb /srv ext4 defaults 0 2\n")
        let root = try SystemRoot(directory.path)
        #expect(throws: Fstab.Error.notAFile(path: "/etc/fstab", kind: "a directory")) { try Fstab.load(root: root) }
        #expect(Fstab.Error.notAFile(path: "/etc/fstab", kind: "a directory").description
            == "cannot read /etc/fstab: it is a directory, not a file")

        try FileManager.default.createDirectory(atPath: directory.path + "/etc2", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/etc2/fstab", withDestinationPath: "/nonexistent/fstab")
        #expect(throws: Fstab.Error.danglingLink(path: "/etc2/fstab", target: "/nonexistent/fstab")) {
            try Fstab.load(root: root, path: "/etc2/fstab")
        }
        #expect(throws: Fstab.Error.missing(path: "/etc3/fstab")) { try Fstab.load(root: root, path: "/etc3/fstab") }
    }
}
