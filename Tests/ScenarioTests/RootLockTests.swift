import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Commands that write to a root (`apply`, `rollback`, `boot`, `verify`) hold an exclusive
/// `flock` on the root folder itself for their whole run: two of them on one root take
/// turns, and one that cannot get the lock within `--wait` exits 3, changing nothing.
@Suite(.serialized)
struct RootLockTests {
    /// Two fix packages touching different files, many files each (an apply that takes a
    /// while), kept for the whole suite.
    static let store: TemporaryDirectory = {
        do { return try TemporaryDirectory(prefix: "lock-packages") } catch { fatalError("\(error)") }
    }()
    static let packages: (first: String, second: String) = {
        do {
            return (try CLIFixtures.package("fix-1-lock-first", files: CLIFixtures.files(under: "/srv/first", count: 40, tag: "first"),
                                            folders: ["/srv/first"],
                                            into: store),
                    try CLIFixtures.package("fix-2-lock-second", files: CLIFixtures.files(under: "/srv/second", count: 40, tag: "second"),
                                            folders: ["/srv/second"],
                                            into: store))
        } catch {
            fatalError("\(error)")
        }
    }()

    static let rounds = 30

    /// What every run of two writers must leave: no journal, the quick check clean, each
    /// fix in the state asked for with a backup that verifies.
    static func expectSettled(_ root: String, applied: [String], rolledBack: [String], _ context: String) throws {
        #expect(!CLIFixtures.hasJournal(root), "\(context): a journal was left behind")
        let quick = try Tool.run(Tool.clarityHeal, ["detect", "--quick", "--root", root])
        #expect(quick.status == 0, "\(context): detect --quick exits \(quick.status): \(quick.stderr)")
        let applier = Applier(root: try SystemRoot(root))
        for fix in applied {
            #expect(applier.appliedFix(fix)?.state == .applied, "\(context): \(fix) is not applied")
        }
        for fix in rolledBack {
            #expect(applier.appliedFix(fix)?.state == .rolledBack, "\(context): \(fix) is not rolled back")
        }
        for fix in applied + rolledBack {
            #expect(throws: Never.self, "\(context): the backup of \(fix) does not verify") { try applier.verifyBackup(fix) }
        }
    }

    /// Finding 5 of issue 9: two `apply` of two packages started together on one root.
    /// Without a lock the second one's recovery took the first one's journal for a crash
    /// and discarded its half-built state under it.
    @Test func twoAppliesAtOnceBothLand() throws {
        let (first, second) = Self.packages
        var failures = 0
        for round in 1...Self.rounds {
            let copy = try TestRoot.writableCopy()
            let one = try CLIFixtures.Running(["apply", first, "--root", copy.path, "--json"])
            let two = try CLIFixtures.Running(["apply", second, "--root", copy.path, "--json"])
            let results = [one.finish(), two.finish()]
            let context = "round \(round)"
            for result in results where result.status != 0 {
                failures += 1
                Issue.record("\(context): apply exits \(result.status): \(result.stderr)")
            }
            try Self.expectSettled(copy.path, applied: ["fix-1-lock-first", "fix-2-lock-second"], rolledBack: [], context)
        }
        #expect(failures == 0)
    }

    /// Finding 5 of issue 9: `apply` of one fix while `rollback` of another runs.
    @Test func applyDuringRollbackBothLand() throws {
        let (first, second) = Self.packages
        for round in 1...Self.rounds {
            let copy = try TestRoot.writableCopy()
            let setup = try Tool.run(Tool.clarityHeal, ["apply", first, "--root", copy.path])
            try #require(setup.status == 0, "\(setup.stderr)")
            let rollback = try CLIFixtures.Running(["rollback", "fix-1-lock-first", "--root", copy.path, "--json"])
            let apply = try CLIFixtures.Running(["apply", second, "--root", copy.path, "--json"])
            let context = "round \(round)"
            for result in [rollback.finish(), apply.finish()] {
                #expect(result.status == 0, "\(context): exits \(result.status): \(result.stderr)")
            }
            try Self.expectSettled(copy.path, applied: ["fix-2-lock-second"], rolledBack: ["fix-1-lock-first"], context)
            #expect(!FileManager.default.fileExists(atPath: copy.at("/srv/first/file-0")), "\(context): the rollback did not undo")
        }
    }

    /// `flock ROOT sleep 60` (util-linux), started and waited for until it holds the lock.
    /// `stop()` ends its `sleep` (which holds the lock with it), so flock ends too.
    final class Holder {
        let process = Process()

        init(_ path: String, seconds: Int = 60) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            process.arguments = [path, "sleep", "\(seconds)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<200 {
                if try Tool.run("/usr/bin/flock", ["-n", path, "true"]).status != 0 { return }
                usleep(20_000)
            }
            throw Tool.Failure(message: "flock never took the lock on \(path)")
        }

        var pid: Int32 { process.processIdentifier }

        func stop() {
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGTERM) }
            process.waitUntilExit()
        }

        deinit {
            if process.isRunning { stop() }
        }
    }

    /// Another holder for the whole wait: exit 3 once the wait is over, naming the holder,
    /// nothing changed; `--json` gets the error document.
    @Test func heldLockMakesApplyExitThreeWithinTheWait() throws {
        let copy = try TestRoot.writableCopy()
        let before = try ApplyFixtures.hashTree(copy.path)
        let holder = try Holder(copy.path)
        defer { holder.stop() }
        let (result, seconds) = try CLIFixtures.timed(["apply", Self.packages.first, "--root", copy.path, "--wait", "2", "--json"])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(seconds >= 1.9 && seconds < 10, "gave up after \(seconds) s")
        let error = CLIFixtures.document(result, "apply while locked")?["error"] as? [String: Any]
        #expect(error?["kind"] as? String == "busy")
        let message = error?["message"] as? String ?? ""
        #expect(message.hasPrefix("another clarity-heal is changing \(copy.path) (pid \(holder.pid) holds its lock)"), "\(message)")
        #expect(message.contains("waited 2 s"), "\(message)")
        #expect(try ApplyFixtures.hashTree(copy.path) == before)
        #expect(!FileManager.default.fileExists(atPath: copy.at("/var/lib/clarity-heal")), "a busy apply wrote its state")
    }

    /// A holder that lets go within the wait: the second command waits, then runs. (The
    /// apply alone takes well under the 4 s hold.)
    @Test func shortHoldIsWaitedFor() throws {
        let copy = try TestRoot.writableCopy()
        let holder = try Holder(copy.path, seconds: 4)
        let (result, seconds) = try CLIFixtures.timed(["apply", Self.packages.first, "--root", copy.path])
        holder.stop()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(seconds >= 3.5, "it did not wait: \(seconds) s")
        #expect(Applier(root: try SystemRoot(copy.path)).appliedFix("fix-1-lock-first")?.state == .applied)
    }

    /// The lock is the root folder's inode: a bind mount of the root is the same root.
    @Test func bindMountOfTheRootSharesItsLock() throws {
        let copy = try TestRoot.writableCopy()
        let other = try TemporaryDirectory(prefix: "bind")
        let bind = try Tool.run("/bin/mount", ["--bind", copy.path, other.path])
        try #require(bind.status == 0, "\(bind.stderr)")
        defer { _ = try? Tool.run("/bin/umount", [other.path]) }
        let holder = try Holder(other.path)
        defer { holder.stop() }
        let result = try CLIFixtures.run(["apply", Self.packages.first, "--root", copy.path, "--wait", "0.5"])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("another clarity-heal is changing"), "\(result.stderr)")
    }

    /// Every command that writes waits for the lock; the commands that only read do not.
    @Test func writersWaitReadersDoNot() throws {
        let copy = try TestRoot.writableCopy()
        let holder = try Holder(copy.path)
        defer { holder.stop() }
        for writer in [["apply", Self.packages.first], ["rollback"], ["boot"], ["verify"]] {
            let result = try CLIFixtures.run(writer + ["--root", copy.path, "--wait", "0.3"])
            #expect(result.status == 3, "\(writer): \(result.stderr)")
            #expect(result.stderr.contains("another clarity-heal is changing"), "\(writer): \(result.stderr)")
        }
        for reader in [["detect", "--quick"], ["status"], ["history"], ["detect", "--device", TestRoot.image]] {
            let (result, seconds) = try CLIFixtures.timed(reader + ["--root", copy.path])
            // The full checks also probe the machine's block devices: findings there are
            // not this test's business, a wait for the lock (status 3) is.
            #expect(result.status == 0 || result.status == 1, "\(reader): \(result.stderr)")
            #expect(!result.stderr.contains("another clarity-heal"), "\(reader): \(result.stderr)")
            #expect(seconds < 20, "\(reader) took \(seconds) s")
        }
    }
}
