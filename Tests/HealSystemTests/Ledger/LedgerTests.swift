import Foundation
import Glibc
import HealCore
import HealSystem
import Testing
import TestSupport

/// A clock the test drives: each reading is one second after the last.
final class LedgerTestClock: Clock, @unchecked Sendable {
    private let lock = NSLock()
    private var time: Int
    init(start: Int) { time = start }
    func now() -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        time += 1
        return Int64(time)
    }
    func utcOffset(at time: Int64) -> Int { 0 }
}

enum LedgerFixture {
    static func ledger(_ root: SystemRoot, clock: LedgerTestClock? = nil) -> Ledger {
        guard let clock else { return Ledger(root: root) }
        return Ledger(root: root, clock: clock)
    }

    static func record(_ n: Int, fix: String = "fix-test") -> LedgerRecord {
        LedgerRecord(kind: .apply, fix: fix, class: "fstab-invalid-entry", strategy: "fstab-set-type",
                     outcome: .applied, detail: ["n": String(n), "backup": "/var/lib/clarity-heal/applied/\(fix)/backup.tar"])
    }

    static func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Appends raw bytes the way a crashed writer would have left them.
    static func appendRaw(_ path: String, _ bytes: [UInt8]) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }
}

@Suite("Ledger")
struct LedgerTests {
    @Test func appendsAreNumberedStampedAndReadBack() throws {
        let dir = try TemporaryDirectory(prefix: "ledger")
        let root = try SystemRoot(dir.path)
        let ledger = LedgerFixture.ledger(root, clock: LedgerTestClock(start: 1_718_000_000))
        #expect(try ledger.records() == Ledger.Reading())
        var written: [LedgerRecord] = []
        for n in 1...5 { written.append(try ledger.append(LedgerFixture.record(n))) }
        #expect(written.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(written.map(\.time) == [1_718_000_001, 1_718_000_002, 1_718_000_003, 1_718_000_004, 1_718_000_005])
        let reading = try ledger.records()
        #expect(reading.records == written)
        #expect(reading.skipped.isEmpty && !reading.tornTail)
        #expect(ledger.path == dir.path + "/var/lib/clarity-heal/ledger.jsonl")
        // One line per record, each plain JSON that jq-like tools read.
        let lines = try String(contentsOfFile: ledger.path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5)
        for line in lines { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
        // A second Ledger (another process, later) continues the numbering.
        #expect(try Ledger(root: root).append(LedgerFixture.record(6)).seq == 6)
    }

    @Test func jqReadsTheLedger() throws {
        let jq = try Tool.run("jq", ["--version"])
        try #require(jq.status == 0, "jq is not installed")
        let dir = try TemporaryDirectory(prefix: "ledger")
        let ledger = Ledger(root: try SystemRoot(dir.path))
        for n in 1...3 { try ledger.append(LedgerFixture.record(n, fix: "fix-\(n)")) }
        let result = try Tool.run("jq", ["-r", "[.seq, .kind, .fix, .detail.n] | @tsv", ledger.path])
        #expect(result.status == 0)
        #expect(result.stdout == "1\tapply\tfix-1\t1\n2\tapply\tfix-2\t2\n3\tapply\tfix-3\t3\n")
    }

    /// The checksum is zlib's CRC-32 over the line up to `,"crc"`: another tool can check it.
    @Test func pythonZlibVerifiesEveryChecksum() throws {
        let dir = try TemporaryDirectory(prefix: "ledger")
        let ledger = Ledger(root: try SystemRoot(dir.path))
        for n in 1...4 {
            try ledger.append(LedgerRecord(kind: .verification, fix: "fix-\(n)", outcome: .good,
                                           detail: ["note": "é ✓ \"quoted\" \\ tab\t", "n": String(n)]))
        }
        let script = """
            import json, sys, zlib
            ok = 0
            for raw in open(sys.argv[1], 'rb'):
                line = raw.rstrip(b'\\n')
                cut = line.rindex(b',"crc":"')
                assert '%08x' % zlib.crc32(line[:cut]) == json.loads(line)['crc'], line
                ok += 1
            print(ok)
            """
        let result = try Tool.run("python3", ["-c", script, ledger.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "4\n")
    }

    /// A crash mid-write leaves a prefix of a line. Every prefix of a real line is tried.
    @Test func tornLastRecordIsIgnoredAtEveryCutPoint() throws {
        let dir = try TemporaryDirectory(prefix: "ledger")
        let root = try SystemRoot(dir.path)
        let clock = LedgerTestClock(start: 1_000)
        let ledger = LedgerFixture.ledger(root, clock: clock)
        for n in 1...3 { try ledger.append(LedgerFixture.record(n)) }
        let intact = try LedgerFixture.bytes(ledger.path)
        var next = LedgerFixture.record(4)
        next.seq = 4
        next.time = 2_000
        let full = LedgerLine.encode(next)
        var cutPoints = 0
        for cut in 1..<full.count {  // every cut but "nothing" and "everything" (the "\n" missing is cut = count-1)
            try Data(intact + full[..<cut]).write(to: URL(fileURLWithPath: ledger.path))
            let reading = try ledger.records()
            #expect(reading.records.map(\.seq) == [1, 2, 3], "cut at \(cut)")
            #expect(reading.tornTail, "cut at \(cut)")
            #expect(reading.skipped.isEmpty)
            // The next append cuts the unacknowledged fragment off and starts on a fresh
            // line; the numbering goes on from the last intact record (also when the
            // fragment was whole but for its "\n").
            let appended = try ledger.append(LedgerFixture.record(5))
            #expect(appended.seq == 4)
            let after = try ledger.records()
            #expect(after.records.map(\.seq) == [1, 2, 3, 4], "cut at \(cut)")
            #expect(after.records.last == appended)
            #expect(after.skipped.isEmpty, "cut at \(cut)")
            #expect(!after.tornTail)
            #expect(try LedgerFixture.bytes(ledger.path) == intact + LedgerLine.encode(appended))
            cutPoints += 1
        }
        #expect(cutPoints == full.count - 1)
    }

    @Test func garbageInTheMiddleIsSkippedAndCounted() throws {
        let dir = try TemporaryDirectory(prefix: "ledger")
        let root = try SystemRoot(dir.path)
        let ledger = LedgerFixture.ledger(root, clock: LedgerTestClock(start: 5_000))
        try ledger.append(LedgerFixture.record(1))
        var forged = LedgerFixture.record(99)
        forged.seq = 42
        var tampered = Array(LedgerLine.encode(forged))
        tampered[tampered.count - 25] ^= 0x01  // a bit flip inside the detail
        try LedgerFixture.appendRaw(ledger.path, Array("not json at all\n".utf8))
        try LedgerFixture.appendRaw(ledger.path, [0x00, 0xff, 0xfe, 0x0a])
        try LedgerFixture.appendRaw(ledger.path, Array(#"{"seq":50,"time":1,"kind":"apply","outcome":"x","detail":{}}"#.utf8) + [0x0a])
        try LedgerFixture.appendRaw(ledger.path, tampered)
        try LedgerFixture.appendRaw(ledger.path, Array("\n".utf8))
        try ledger.append(LedgerFixture.record(2))
        let reading = try ledger.records()
        #expect(reading.records.map(\.seq) == [1, 2])
        #expect(reading.records.map { $0.detail["n"] } == ["1", "2"])
        #expect(reading.skipped.map(\.line) == [2, 3, 4, 5])
        #expect(reading.skipped[3].reason.contains("crc"))
        #expect(!reading.tornTail)
    }

    @Test func aRecordWithAnUnknownKindIsSkippedNotFatal() throws {
        let dir = try TemporaryDirectory(prefix: "ledger")
        let ledger = Ledger(root: try SystemRoot(dir.path))
        try ledger.append(LedgerFixture.record(1))
        // A well-formed line from a newer version with a kind this one does not know.
        let body = Array(#"{"seq":2,"time":3,"kind":"teleport","outcome":"ok","detail":{}"#.utf8)
        let crc = String(LedgerLine.crc32(body), radix: 16)
        let line = body + Array((#","crc":""# + String(repeating: "0", count: 8 - crc.count) + crc + "\"}\n").utf8)
        try LedgerFixture.appendRaw(ledger.path, line)
        let reading = try ledger.records()
        #expect(reading.records.count == 1)
        #expect(reading.skipped.count == 1)
        #expect(reading.skipped.first?.reason.contains("cannot be read") == true)
        // Its seq still counts for numbering? No: only intact records do; the next is 2.
        #expect(try ledger.append(LedgerFixture.record(3)).seq == 2)
    }

    @Test func errorsNameTheLedgerAndTheStep() throws {
        let dir = try TemporaryDirectory(prefix: "ledger")
        let root = try SystemRoot(dir.path)
        // A folder where the file belongs: appending and reading both fail with a reason.
        try FileManager.default.createDirectory(atPath: dir.path + "/var/lib/clarity-heal/ledger.jsonl",
                                                withIntermediateDirectories: true)
        let ledger = Ledger(root: root)
        #expect(throws: Ledger.Error.append(path: ledger.path, step: "open", errno: EISDIR)) {
            try ledger.append(LedgerFixture.record(1))
        }
        #expect(throws: Ledger.Error.read(path: ledger.path, step: "read", errno: EISDIR)) { try ledger.records() }
        #expect(Ledger.Error.append(path: ledger.path, step: "open", errno: EISDIR).description
                == "cannot append to the ledger \(ledger.path): open: Is a directory")
    }

    @Test func stateFoldsTheLedgerWithTheStateFolders() throws {
        let dir = try TemporaryDirectory(prefix: "ledger")
        let root = try SystemRoot(dir.path)
        let ledger = LedgerFixture.ledger(root, clock: LedgerTestClock(start: 10))
        try ledger.append(LedgerRecord(kind: .detection, failure: .fstabInvalidEntry, outcome: .findings))
        try ledger.append(LedgerRecord(kind: .repair, fix: "fix-a", class: "fstab-invalid-entry", strategy: "s", outcome: .validated))
        try dir.write("var/lib/clarity-heal/staged/fix-a/manifest.json", "{}")
        try dir.write("var/lib/clarity-heal/staged/.fix-z.partial/x", "")
        try dir.write("var/lib/clarity-heal/applied/fix-b/backup.tar", "")
        try dir.write("var/lib/clarity-heal/journal", "clarity-heal-journal 1\n3a1f09c2 prepare apply fix-c\n77c0e5d1 begin apply fix-c 3 ab")
        let state = try ledger.state()
        #expect(state.staged == ["fix-a"])
        #expect(state.fixes.map(\.id) == ["fix-a", "fix-b"])
        #expect(state.fixes.map(\.phase) == [.staged, .applied])
        #expect(state.interrupted == RepairState.Interrupted(operation: "apply", fix: "fix-c",
                                                              journal: dir.path + "/var/lib/clarity-heal/journal"))
        #expect(state.lastDetection?.failure == .fstabInvalidEntry)
    }
}
