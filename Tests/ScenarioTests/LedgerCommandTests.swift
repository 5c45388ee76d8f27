import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `status`, `history` and `report` through the built binary: on a ledger the real apply and
/// rollback wrote for a real fix package (repair on a broken copy of the Debian root), and
/// on ledgers with a torn tail, garbage, or none at all.
@Suite("Ledger commands", .serialized, .timeLimit(.minutes(10)))
struct LedgerCommandTests {
    struct StatusOutput: Decodable {
        struct Fix: Decodable {
            var id: String
            var `class`: String?
            var strategy: String?
            var phase: String
            var verification: String?
            var backup: String?
            var backupSHA256: String?
        }
        var fixes: [Fix]
        var staged: [String]
        var attention: String
        var records: Int
        var skippedLines: Int
        var tornTail: Bool
    }

    struct HistoryOutput: Decodable {
        struct Record: Decodable { var seq: Int; var kind: String; var fix: String?; var outcome: String }
        struct Skipped: Decodable { var line: Int; var reason: String }
        var records: [Record]
        var skipped: [Skipped]
        var tornTail: Bool
    }

    struct ReportOutput: Decodable {
        struct Evidence: Decodable { var source: String; var detail: String }
        struct Strategy: Decodable { var strategy: String; var outcome: String }
        struct Check: Decodable { var name: String; var verdict: String }
        struct Backup: Decodable { var location: String?; var sha256: String? }
        struct Record: Decodable { var seq: Int; var kind: String; var outcome: String }
        var fix: String
        var `class`: String?
        var verdict: String
        var package: String?
        var timeline: [Record]
        var evidence: [Evidence]
        var strategies: [Strategy]
        var validation: [Check]
        var backup: Backup?
    }

    static func run(_ arguments: [String]) throws -> Tool.Result {
        try Tool.run(Tool.clarityHeal, arguments)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ result: Tool.Result) throws -> T {
        try JSONDecoder().decode(type, from: Data(result.stdout.utf8))
    }

    @Test func applyThenRollbackTellTheirStory() throws {
        let copy = try TestRoot.writableCopy()
        let fstab = copy.at("/etc/fstab")
        let original = try String(contentsOfFile: fstab, encoding: .utf8)
        try FileManager.default.removeItem(atPath: fstab)
        try (original + "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2\n").write(toFile: fstab, atomically: false, encoding: .utf8)
        let broken = try String(contentsOfFile: fstab, encoding: .utf8)

        // Before anything: no ledger, nothing in progress.
        let empty = try Self.run(["status", "--root", copy.path, "--json"])
        #expect(empty.status == 0, "\(empty.stderr)")
        #expect(try Self.decode(StatusOutput.self, empty).records == 0)

        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let repair = try Self.run(["repair", "--root", copy.path, "--device", TestRoot.image, "--out", out.path,
                                   "--scratch", scratch.path, "--json"])
        try #require(repair.status == 1, "repair: \(repair.stdout) \(repair.stderr)")
        let package = try #require(try FileManager.default.contentsOfDirectory(atPath: out.path).first { $0.hasPrefix("fix-") })
        let apply = try Self.run(["apply", out.path + "/" + package, "--root", copy.path])
        try #require(apply.status == 0, "apply: \(apply.stdout) \(apply.stderr)")
        #expect(try String(contentsOfFile: fstab, encoding: .utf8) != broken)

        // status: the fix is applied and waits for its verification.
        let status = try Self.run(["status", "--root", copy.path, "--json"])
        #expect(status.status == 1, "an unverified fix is work in progress: \(status.stdout)")
        let state = try Self.decode(StatusOutput.self, status)
        let fix = try #require(state.fixes.first { $0.id == package })
        #expect(fix.phase == "applied")
        #expect(fix.verification == "pending")
        #expect(fix.class == "fstab-invalid-entry")
        let backup = try #require(fix.backup)
        let backupSHA = try #require(fix.backupSHA256)
        // The checksum in the ledger is the backup's real checksum.
        let sha = try Tool.run("sha256sum", [backup.hasPrefix(copy.path) ? backup : copy.at(backup)])
        #expect(sha.stdout.hasPrefix(backupSHA + " "), "\(sha.stdout) vs \(backupSHA)")
        let statusText = try Self.run(["status", "--root", copy.path])
        #expect(statusText.stdout.contains("\(package)  applied, verification pending  fstab-invalid-entry"))

        // report: the manifest from the package copy under applied/, the ledger's backup.
        let reportJSON = try Self.run(["report", package, "--root", copy.path, "--format", "json"])
        #expect(reportJSON.status == 0, "\(reportJSON.stderr)")
        let report = try Self.decode(ReportOutput.self, reportJSON)
        #expect(report.verdict == "pending")
        #expect(report.package?.hasPrefix(copy.path + "/var/lib/clarity-heal/applied/" + package) == true)
        #expect(report.evidence.contains { $0.source.contains("/etc/fstab") })
        #expect(report.strategies.contains { $0.outcome == "validated" })
        #expect(report.validation.contains { $0.name == "resolved" && $0.verdict == "passed" })
        #expect(report.backup?.sha256 == backupSHA)
        #expect(report.timeline.map(\.kind) == ["apply"])
        let markdown = try Self.run(["report", package, "--root", copy.path])
        #expect(markdown.status == 0)
        #expect(markdown.stdout.hasPrefix("# Repair report: \(package)\n"))
        #expect(markdown.stdout.contains("- SHA-256: `\(backupSHA)`"))
        #expect(markdown.stdout.contains("Applied; not verified yet"))

        // rollback, then the story has two records and the fix is rolled back.
        let rollback = try Self.run(["rollback", package, "--root", copy.path])
        try #require(rollback.status == 0, "rollback: \(rollback.stdout) \(rollback.stderr)")
        #expect(try String(contentsOfFile: fstab, encoding: .utf8) == broken)
        let after = try Self.run(["status", "--root", copy.path, "--json"])
        #expect(after.status == 0, "\(after.stdout)")
        #expect(try Self.decode(StatusOutput.self, after).fixes.first { $0.id == package }?.phase == "rolled-back")
        let history = try Self.decode(HistoryOutput.self, try Self.run(["history", "--root", copy.path, "--json"]))
        #expect(history.records.map(\.kind) == ["rollback", "apply"])
        #expect(history.records.map(\.seq) == [2, 1])
        let text = try Self.run(["history", "--root", copy.path])
        #expect(text.stdout.split(separator: "\n").first?.hasPrefix("#2 ") == true)
        let final = try Self.decode(ReportOutput.self, try Self.run(["report", package, "--root", copy.path, "--json"]))
        #expect(final.verdict == "rolled-back")
    }

    /// A well-formed id that names nothing is not a usage error: 3, as `rollback` of an
    /// unknown fix.
    @Test func unknownFixFailsSafely() throws {
        let dir = try TemporaryDirectory(prefix: "ledger-cli")
        try Ledger(root: try SystemRoot(dir.path)).append(LedgerRecord(kind: .detection, outcome: .healthy))
        let result = try Self.run(["report", "fix-nope", "--root", dir.path])
        #expect(result.status == 3)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("no fix fix-nope on \(dir.path)"))
    }

    @Test func historyAndStatusSurviveATornTailAndGarbage() throws {
        let dir = try TemporaryDirectory(prefix: "ledger-cli")
        let root = try SystemRoot(dir.path)
        let ledger = Ledger(root: root)
        try ledger.append(LedgerRecord(kind: .detection, failure: .fstabInvalidEntry, outcome: .findings))
        try ledger.append(LedgerRecord(kind: .stage, fix: "fix-s", failure: .fstabInvalidEntry, strategy: "fstab-set-type", outcome: .staged))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: ledger.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("garbage\n{\"seq\":3,\"time\":".utf8))
        try handle.close()

        let history = try Self.run(["history", "--root", dir.path, "--json"])
        #expect(history.status == 0, "\(history.stderr)")
        let output = try Self.decode(HistoryOutput.self, history)
        #expect(output.records.map(\.seq) == [2, 1])
        #expect(output.skipped.map(\.line) == [3])
        #expect(output.tornTail)
        let text = try Self.run(["history", "--root", dir.path])
        #expect(text.stdout.contains("1 unreadable ledger line skipped"))
        #expect(text.stdout.contains("incomplete (a write cut short)"))

        let status = try Self.run(["status", "--root", dir.path, "--json"])
        #expect(status.status == 1, "a staged fix is work in progress")
        let state = try Self.decode(StatusOutput.self, status)
        #expect(state.staged == ["fix-s"])
        #expect(state.skippedLines == 1 && state.tornTail)
    }

    @Test func gaveUpNeedsAPerson() throws {
        let dir = try TemporaryDirectory(prefix: "ledger-cli")
        let ledger = Ledger(root: try SystemRoot(dir.path))
        try ledger.append(LedgerRecord(kind: .giveUp, failure: .initMissing, outcome: .needsPerson,
                                       detail: ["advice": "boot the rescue entry and reinstall systemd", "support": "CH-42"]))
        let status = try Self.run(["status", "--root", dir.path])
        #expect(status.status == 4)
        #expect(status.stdout.contains("needs a person"))
        #expect(status.stdout.contains("what to do: boot the rescue entry and reinstall systemd"))
        #expect(status.stdout.contains("support reference: CH-42"))
    }

    @Test func anUnreadableLedgerFailsSafely() throws {
        let dir = try TemporaryDirectory(prefix: "ledger-cli")
        try FileManager.default.createDirectory(atPath: dir.path + "/var/lib/clarity-heal/ledger.jsonl", withIntermediateDirectories: true)
        for command in ["status", "history"] {
            let result = try Self.run([command, "--root", dir.path])
            #expect(result.status == 3, "\(command)")
            #expect(result.stderr.contains("cannot read the ledger"), "\(command): \(result.stderr)")
        }
    }
}
