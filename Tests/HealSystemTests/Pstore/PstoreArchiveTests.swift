import Foundation
import HealCore
@testable import HealSystem
import Testing
import TestSupport

/// The real records scripts/make-pstore-fixtures saved (see Resources/pstore/README).
enum PstoreFixtures {
    static let folder = TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore"
    static let scenarios = ["panic-sysrq", "oops-module", "init-exit", "vfs-no-root", "no-working-init"]

    static func bytes(_ scenario: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: folder + "/" + scenario + "/dmesg-ramoops-0"))
    }

    /// Writes a fixture to `path` with a modification time `secondsAgo` in the past.
    @discardableResult
    static func place(_ scenario: String, in directory: TemporaryDirectory, at relative: String,
                      secondsAgo: TimeInterval = 0) throws -> String {
        let path = try directory.write(relative, bytes(scenario))
        try setModified(path, secondsAgo: secondsAgo)
        return path
    }

    static func setModified(_ path: String, secondsAgo: TimeInterval) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -secondsAgo)],
                                              ofItemAtPath: path)
    }
}

@Suite struct PstoreArchiveTests {
    @Test(arguments: [
        ("dmesg-ramoops-0", "dmesg", "ramoops", "0", false),
        ("dmesg-efi-177249561401001", "dmesg", "efi", "177249561401001", false),
        ("dmesg-efi-177249561401001.enc.z", "dmesg", "efi", "177249561401001", true),
        ("dmesg-efi_pstore-1772495614010001", "dmesg", "efi_pstore", "1772495614010001", false),
        ("dmesg-erst-7180232447210274817", "dmesg", "erst", "7180232447210274817", false),
        ("console-ramoops-0", "console", "ramoops", "0", false),
        ("rtas-nvram-4", "rtas", "nvram", "4", false),
    ])
    func recordNames(_ file: String, _ type: String, _ backend: String, _ id: String, _ compressed: Bool) throws {
        let name = try #require(PstoreRecordName(file))
        #expect(name.type == type)
        #expect(name.backend == backend)
        #expect(name.id == id)
        #expect(name.isCompressed == compressed)
        #expect(name.description == file)
    }

    @Test(arguments: ["dmesg.txt", "README", "dmesg-ramoops-", "dmesg-ramoops-x", "dmesg--0", "-ramoops-0",
                      "dmesg-0", ".enc.z"])
    func notRecordNames(_ file: String) {
        #expect(PstoreRecordName(file) == nil)
    }

    @Test func liveFolderOutsideTheRootNewestFirst() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        let live = try TemporaryDirectory(prefix: "pstore-live")
        try PstoreFixtures.place("panic-sysrq", in: live, at: "dmesg-ramoops-0", secondsAgo: 3600)
        try PstoreFixtures.place("oops-module", in: live, at: "dmesg-ramoops-1", secondsAgo: 60)
        try live.write("README", "not a record")
        let scan = PstoreArchive(root: try SystemRoot(root.path), liveDirectory: live.path).scan { $1 }
        let records = scan.records.map(\.record)
        #expect(records.map(\.path) == [live.path + "/dmesg-ramoops-1", live.path + "/dmesg-ramoops-0"])
        #expect(records.allSatisfy { $0.location == .live && $0.copies.isEmpty })
        guard case .text(let text) = scan.records.first?.summary else {
            Issue.record("expected text, got \(String(describing: scan.records.first?.summary))")
            return
        }
        #expect(text.hasPrefix("Oops#1 Part1\n"))
    }

    @Test func defaultLiveFolderIsUnderTheRoot() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try PstoreFixtures.place("init-exit", in: root, at: "sys/fs/pstore/dmesg-ramoops-0")
        let records = PstoreArchive(root: try SystemRoot(root.path)).records()
        #expect(records.map(\.path) == ["/sys/fs/pstore/dmesg-ramoops-0"])
        #expect(records.map(\.hostPath) == [root.path + "/sys/fs/pstore/dmesg-ramoops-0"])
    }

    @Test func sameBytesInThreePlacesAreOneRecordFromTheLiveFolder() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try PstoreFixtures.place("oops-module", in: root, at: "var/lib/systemd/pstore/dmesg-ramoops-0")
        try PstoreFixtures.place("oops-module", in: root, at: "var/lib/clarity-heal/pstore/20261129T214532Z/dmesg-ramoops-0")
        try PstoreFixtures.place("oops-module", in: root, at: "sys/fs/pstore/dmesg-ramoops-0", secondsAgo: 600)
        // systemd-pstore's joined copy repeats the record after a "<file>:" line: never a record.
        try root.write("var/lib/systemd/pstore/dmesg.txt",
                       "dmesg-ramoops-0:\n" + String(decoding: try PstoreFixtures.bytes("oops-module"), as: UTF8.self))
        let records = PstoreArchive(root: try SystemRoot(root.path)).records()
        #expect(records.count == 1)
        #expect(records.first?.location == .live)
        #expect(records.first?.path == "/sys/fs/pstore/dmesg-ramoops-0")
        #expect(records.first?.copies == ["/var/lib/clarity-heal/pstore/20261129T214532Z/dmesg-ramoops-0",
                                          "/var/lib/systemd/pstore/dmesg-ramoops-0"])
    }

    @Test func archivesAreReadToTheirDepth() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        // systemd 252: EFI records in <id without 6 digits>/; newer: <timestamp>/<count>/.
        try PstoreFixtures.place("panic-sysrq", in: root, at: "var/lib/systemd/pstore/1772495614/dmesg-efi-177249561401001",
                                 secondsAgo: 30)
        try PstoreFixtures.place("vfs-no-root", in: root,
                                 at: "var/lib/systemd/pstore/1772495614/1/dmesg-efi_pstore-1772495614010001", secondsAgo: 20)
        try PstoreFixtures.place("init-exit", in: root, at: "var/lib/clarity-heal/pstore/20261129T214532Z/dmesg-ramoops-0",
                                 secondsAgo: 10)
        // Deeper than either tool writes: not an archive layout.
        try PstoreFixtures.place("no-working-init", in: root, at: "var/lib/systemd/pstore/a/b/c/dmesg-ramoops-9")
        try PstoreFixtures.place("no-working-init", in: root, at: "var/lib/clarity-heal/pstore/a/b/dmesg-ramoops-9")
        let records = PstoreArchive(root: try SystemRoot(root.path)).records()
        #expect(records.map(\.path) == [
            "/var/lib/clarity-heal/pstore/20261129T214532Z/dmesg-ramoops-0",
            "/var/lib/systemd/pstore/1772495614/1/dmesg-efi_pstore-1772495614010001",
            "/var/lib/systemd/pstore/1772495614/dmesg-efi-177249561401001",
        ])
        #expect(records.map(\.location) == [.clarityArchive, .systemdArchive, .systemdArchive])
    }

    @Test func compressedOversizedAndLinkedRecords() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        // zlib's "Hello" cut short: it cannot be inflated.
        let deflated = Data([0x78, 0x9c, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07])
        try root.write("sys/fs/pstore/dmesg-efi-177249561401001.enc.z", deflated)
        let big = try root.write("sys/fs/pstore/dmesg-ramoops-3", "")
        #expect(truncate(big, off_t(PstoreArchive.recordSizeLimit + 1)) == 0)
        try FileManager.default.createSymbolicLink(atPath: root.path + "/sys/fs/pstore/dmesg-ramoops-4",
                                                   withDestinationPath: "/etc/passwd")
        let records = PstoreArchive(root: try SystemRoot(root.path)).scan { $1 }.records
        #expect(Set(records.map(\.record.path)) == ["/sys/fs/pstore/dmesg-efi-177249561401001.enc.z",
                                                    "/sys/fs/pstore/dmesg-ramoops-3"])
        for examined in records {
            switch examined.record.name.id {
            case "177249561401001":
                #expect(examined.summary == .compressed(byteCount: deflated.count, problem: "the deflate stream ends early"))
            default:
                #expect(examined.summary == .unreadable("\(root.path)/sys/fs/pstore/dmesg-ramoops-3 is larger than 4194304 bytes"))
            }
        }
    }

    /// A record the kernel could not decompress is read all the same: raw deflate as pstore
    /// writes it, or with a zlib header (Resources/pstore/README says how they were made).
    @Test(arguments: ["compressed-oops", "compressed-oops-zlib"])
    func compressedRecordsAreInflated(_ fixture: String) throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: PstoreFixtures.folder + "/\(fixture)/dmesg-ramoops-0.enc.z"))
        try root.write("sys/fs/pstore/dmesg-ramoops-0.enc.z", bytes)
        let records = PstoreArchive(root: try SystemRoot(root.path)).scan { $1 }.records
        #expect(records.count == 1)
        let text = String(decoding: try PstoreFixtures.bytes("oops-module"), as: UTF8.self)
        #expect(records.first?.summary == .text(text))
        #expect(records.first?.record.sha256 == SHA256.hex(Array(bytes)))
    }

    @Test func inflatingIsBounded() throws {
        // 5 MiB of zeros deflate to a few KiB: a bomb for a reader without a bound.
        let zeros = [UInt8](repeating: 0, count: 5 << 20)
        let bomb = try #require(try zlibCompressed(zeros))
        #expect(bomb.count < 64 << 10)
        #expect(throws: CompressedRecord.Error.tooLarge(limit: CompressedRecord.inflatedLimit)) {
            try CompressedRecord.inflate(bomb)
        }
        #expect(try CompressedRecord.inflate(bomb, limit: 6 << 20).count == zeros.count)
        #expect(throws: CompressedRecord.Error.self) { try CompressedRecord.inflate(Array("Panic#1 Part1\n".utf8)) }
        #expect(CompressedRecord.windowBits([0x78, 0x9c]) == 15)
        #expect(CompressedRecord.windowBits([0x1f, 0x8b]) == 31)
        #expect(CompressedRecord.windowBits([0xed, 0x3d]) == -15)
    }

    /// zlib-compressed bytes made by python3, the tool the fixtures were made with.
    private func zlibCompressed(_ bytes: [UInt8]) throws -> [UInt8]? {
        let folder = try TemporaryDirectory(prefix: "zlib")
        let input = try folder.write("in", Data(bytes))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", "import sys, zlib; d = open(sys.argv[1], 'rb').read(); open(sys.argv[1] + '.z', 'wb').write(zlib.compress(d, 9))", input]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return Array(try Data(contentsOf: URL(fileURLWithPath: input + ".z")))
    }

    @Test func missingFoldersMeanNoRecords() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        #expect(PstoreArchive(root: try SystemRoot(root.path), liveDirectory: root.path + "/nowhere").records().isEmpty)
    }

    /// Thousands of records: only the newest `examinedRecordLimit` files are read, wherever
    /// they sit, and the others are counted, never listed.
    @Test func onlyTheNewestRecordsAreReadAndTheRestCounted() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        let panic = try PstoreFixtures.bytes("panic-sysrq")
        let limit = PstoreArchive.examinedRecordLimit
        for index in 0..<300 {
            let folder = index % 2 == 0 ? "sys/fs/pstore" : "var/lib/systemd/pstore"
            let path = try root.write("\(folder)/dmesg-ramoops-\(index)", panic + Data("record \(index)\n".utf8))
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_700_000_000 + Double(index))],
                                                  ofItemAtPath: path)
        }
        var examined = 0
        let scan = PstoreArchive(root: try SystemRoot(root.path)).scan { _, _ in examined += 1 }
        #expect(examined == limit)
        #expect(scan.notExamined == 300 - limit)
        #expect(scan.records.map(\.record.name.id) == (0..<limit).map { "\(299 - $0)" })
        #expect(scan.records.first?.record.location == .systemdArchive)
    }

    /// A record longer than `textLimit` is handed on as its header line and its tail, from a
    /// line start: the crash at its end is still there.
    @Test func aLongRecordIsItsHeaderAndItsTail() throws {
        let filler = String(repeating: "<6>[    1.000000] filler\n", count: 40_000)
        let panic = "<0>[    2.000000] Kernel panic - not syncing: at the end\n"
        let text = PstoreArchive.logText(Array(("Panic#1 Part1\n" + filler + panic).utf8))
        #expect(text.utf8.count <= PstoreArchive.textLimit + "Panic#1 Part1\n".utf8.count)
        #expect(text.hasPrefix("Panic#1 Part1\n<6>[    1.000000] filler\n"))
        #expect(text.hasSuffix(panic))
        let short = "Oops#1 Part1\n" + panic
        #expect(PstoreArchive.logText(Array(short.utf8)) == short)
    }
}

