import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Only the commands that write (`apply`, `rollback`, `boot`, `verify`) finish an apply or
/// rollback a crash interrupted; every other command reports it (a line on stderr, a
/// `pendingRecovery` field in its document) and changes nothing. Recovery writes what a
/// root's state folder tells it to, so a command asked only to look must not run it
/// (issue 9, finding 1 through read-only commands, and finding 5's stuck root).
@Suite(.serialized)
struct PendingRecoveryTests {
    static let store: TemporaryDirectory = {
        do { return try TemporaryDirectory(prefix: "pending-packages") } catch { fatalError("\(error)") }
    }()
    static let package: String = {
        do {
            return try CLIFixtures.package("fix-3-pending", files: ["/srv/pending/file": "new contents\n"],
                                           folders: ["/srv/pending"], into: store)
        } catch {
            fatalError("\(error)")
        }
    }()

    /// Every command that only reads, as `--json` runs on `root`, with the status each
    /// exits with on the healthy copy where it depends on the copy alone (the full checks
    /// also probe the machine's block devices, which other suites' loop devices change).
    static func readOnly(_ root: String, scratch: String) -> [(arguments: [String], status: Int32?)] {
        [
            (["status", "--root", root, "--json"], 1),
            (["history", "--root", root, "--json"], 0),
            (["detect", "--quick", "--root", root, "--json"], 0),
            (["detect", "--root", root, "--device", TestRoot.image, "--json"], nil),
            (["diagnose", "--root", root, "--device", TestRoot.image, "--json"], nil),
            (["repair", "--dry-run", "--root", root, "--device", TestRoot.image, "--json"], nil),
            (["repair", "--root", root, "--device", TestRoot.image, "--out", scratch + "/out", "--scratch", scratch + "/scratch",
              "--json"], nil),
        ]
    }

    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    static func journal(_ records: [JournalRecord]) -> String {
        JournalRecord.header + "\n" + records.map(\.line).joined()
    }

    /// Finding 1 through a read-only command: `applied/` planted as a link to a host folder
    /// and a `prepare apply NAME` journal made recovery delete the host's `NAME`. Read-only
    /// commands now leave both alone and say what a writing command would do.
    @Test func readOnlyCommandsReportAndWriteNothing() throws {
        let copy = try TestRoot.writableCopy()
        let outside = try TemporaryDirectory(prefix: "outside")
        try Self.write("host data\n", to: outside.path + "/fix-1-victim/keep")
        let state = copy.at("/var/lib/clarity-heal")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: state + "/applied", withDestinationPath: outside.path)
        let journal = Self.journal([.prepare(.apply, fixID: "fix-1-victim")])
        try Self.write(journal, to: state + "/journal")
        let scratch = try TemporaryDirectory(prefix: "scratch")

        for (arguments, status) in Self.readOnly(copy.path, scratch: scratch.path) {
            let result = try CLIFixtures.run(arguments)
            if let status { #expect(result.status == status, "\(arguments): \(result.stderr)") }
            #expect(result.stderr.contains("an interrupted apply of fix-1-victim is pending"), "\(arguments): \(result.stderr)")
            let pending = CLIFixtures.document(result, "\(arguments)")?["pendingRecovery"] as? [String: Any]
            #expect(pending?["fixID"] as? String == "fix-1-victim", "\(arguments): \(result.stdout)")
            #expect(pending?["action"] as? String == "discard", "\(arguments)")
            #expect(FileManager.default.fileExists(atPath: outside.path + "/fix-1-victim/keep"), "\(arguments) deleted a host folder")
            #expect(try String(contentsOfFile: state + "/journal", encoding: .utf8) == journal, "\(arguments) touched the journal")
        }
        let report = try CLIFixtures.run(["report", "fix-1-victim", "--root", copy.path])
        #expect(report.status == 3)
        #expect(report.stderr.contains("an interrupted apply of fix-1-victim is pending"), "\(report.stderr)")
        #expect(FileManager.default.fileExists(atPath: outside.path + "/fix-1-victim/keep"))
    }

    /// Finding 5's stuck root: a journal at `begin` whose backup and package are gone made
    /// every command exit 3, `detect --quick` on the boot path included. Read-only commands
    /// now run and report it; a command that writes stops on it and asks for a person.
    @Test func journalThatCannotBeFinishedStopsOnlyTheWriters() throws {
        let copy = try TestRoot.writableCopy()
        let journal = Self.journal([
            .prepare(.apply, fixID: "fix-9-gone"),
            .begin(.apply, fixID: "fix-9-gone", steps: 2, backupSHA256: String(repeating: "0", count: 64)),
            .intent(step: 0), .done(step: 0),
        ])
        try Self.write(journal, to: copy.at("/var/lib/clarity-heal/journal"))

        let quick = try CLIFixtures.run(["detect", "--quick", "--root", copy.path])
        #expect(quick.status == 0, "\(quick.stderr)")
        #expect(quick.stderr.contains("an interrupted apply of fix-9-gone is pending (1 of 2 steps done)"), "\(quick.stderr)")
        let status = try CLIFixtures.run(["status", "--root", copy.path])
        #expect(status.status == 1, "an interrupted apply is repair work under way: \(status.stderr)")

        let apply = try CLIFixtures.run(["apply", Self.package, "--root", copy.path, "--json"])
        #expect(apply.status == 4, "\(apply.stderr)")
        let error = CLIFixtures.document(apply, "apply on a stuck root")?["error"] as? [String: Any]
        #expect(error?["kind"] as? String == "recovery")
        #expect((error?["message"] as? String)?.contains("a person must look at") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: copy.at("/srv/pending")), "nothing of the new fix was applied")
        #expect(try String(contentsOfFile: copy.at("/var/lib/clarity-heal/journal"), encoding: .utf8) == journal)
    }

    /// A real apply killed after its `begin` record: read-only commands leave the half-done
    /// state as it is; the next command that writes finishes it first and says so.
    @Test func writingCommandsFinishWhatReadOnlyCommandsLeave() throws {
        let copy = try TestRoot.writableCopy()
        let root = try SystemRoot(copy.path)
        // The first crash point after which the journal asks for a roll forward.
        var point = 1
        while true {
            try #require(point < 100, "no crash point leaves an apply begun")
            let run = try CLIFixtures.run(["apply", Self.package, "--root", copy.path],
                                          environment: ["CLARITY_HEAL_CRASH_AFTER_STEP": "\(point)"])
            try #require(run.status == -SIGKILL, "apply ended at crash point \(point): \(run.stderr)")
            if Applier(root: root).pendingRecovery()?.action == .rollForward { break }
            // Not begun yet: let a writer put it away, then crash one point later.
            let rollback = try CLIFixtures.run(["rollback", "--root", copy.path])
            try #require(rollback.status == 3 && !CLIFixtures.hasJournal(copy.path), "\(rollback.stderr)")
            point += 1
        }
        let journal = try String(contentsOfFile: copy.at("/var/lib/clarity-heal/journal"), encoding: .utf8)
        let site = ApplyFixtures.snapshot(copy.path, "/srv/pending/file")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        for (arguments, _) in Self.readOnly(copy.path, scratch: scratch.path) {
            let result = try CLIFixtures.run(arguments)
            #expect(result.stderr.contains("an interrupted apply of fix-3-pending is pending"), "\(arguments): \(result.stderr)")
            #expect((CLIFixtures.document(result, "\(arguments)")?["pendingRecovery"] as? [String: Any])?["action"] as? String
                    == "roll-forward")
            #expect(try String(contentsOfFile: copy.at("/var/lib/clarity-heal/journal"), encoding: .utf8) == journal,
                    "\(arguments) touched the journal")
            #expect(ApplyFixtures.snapshot(copy.path, "/srv/pending/file") == site, "\(arguments) changed the root")
        }

        let rollback = try CLIFixtures.run(["rollback", "--root", copy.path, "--json"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(rollback.stderr.contains("recovered an interrupted apply of fix-3-pending: rolled-forward"), "\(rollback.stderr)")
        let recovered = CLIFixtures.document(rollback, "rollback")?["recovered"] as? [String: Any]
        #expect(recovered?["action"] as? String == "rolled-forward")
        #expect(!CLIFixtures.hasJournal(copy.path))
        #expect(Applier(root: root).appliedFix("fix-3-pending")?.state == .rolledBack)
        #expect(!FileManager.default.fileExists(atPath: copy.at("/srv/pending/file")))
    }
}
