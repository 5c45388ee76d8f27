import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The command line's contract on bad input (issue 9, findings 8 and 9), through the real
/// binary on real roots: with `--json` exactly one JSON document on stdout on every path,
/// errors included, whose `error.exitStatus` is the process's status; 3 for a refusal that
/// changed nothing; root needed for the commands that write; `--pstore` checked; the crash
/// test hook only in debug builds.
@Suite(.serialized)
struct CLIContractTests {
    /// Packages shared by the suite: one that writes clarity-heal's own state (refused by
    /// the checks), one plain fix.
    static let store: TemporaryDirectory = {
        do { return try TemporaryDirectory(prefix: "contract-packages") } catch { fatalError("\(error)") }
    }()
    static let refusedPackage: String = {
        do {
            return try CLIFixtures.package("fix-1-own-state", files: ["/var/lib/clarity-heal/ledger.jsonl": "forged\n"],
                                           into: store)
        } catch {
            fatalError("\(error)")
        }
    }()
    static let plainPackage: String = {
        do {
            return try CLIFixtures.package("fix-2-plain", files: ["/srv/plain/file": "new contents\n"],
                                           folders: ["/srv/plain"], into: store)
        } catch {
            fatalError("\(error)")
        }
    }()

    struct Failing: Sendable, CustomTestStringConvertible {
        var name: String
        /// The command line; ROOT is a fresh writable copy of the real root, TMP an empty
        /// scratch folder.
        var arguments: [String]
        var status: Int32
        var message: String
        var prepare: @Sendable (OverlayCopy) throws -> Void = { _ in }
        var testDescription: String { name }
    }

    /// Every way a `--json` run can fail, one of each kind.
    static let failing: [Failing] = [
        Failing(name: "refused apply", arguments: ["apply", refusedPackage, "--root", "ROOT", "--json"], status: 3,
                message: "clarity-heal's own state"),
        Failing(name: "unknown fix id to apply", arguments: ["apply", "fix-nope", "--root", "ROOT", "--json"], status: 3,
                message: "cannot apply fix-nope"),
        Failing(name: "unknown fix id to roll back", arguments: ["rollback", "fix-nope", "--root", "ROOT", "--json"],
                status: 3, message: "fix-nope"),
        Failing(name: "nothing to roll back", arguments: ["rollback", "--root", "ROOT", "--json"], status: 3,
                message: "nothing to roll back"),
        Failing(name: "unknown fix id to report", arguments: ["report", "fix-nope", "--root", "ROOT", "--json"],
                status: 3, message: "no fix fix-nope"),
        Failing(name: "unknown fix id to report as --format json",
                arguments: ["report", "fix-nope", "--root", "ROOT", "--format", "json"], status: 3, message: "no fix fix-nope"),
        Failing(name: "bad --root for detect", arguments: ["detect", "--root", "/nonexistent/root", "--json"], status: 2,
                message: "cannot use /nonexistent/root as a root"),
        Failing(name: "bad --root for quick detect", arguments: ["detect", "--quick", "--root", "/nonexistent/root", "--json"],
                status: 2, message: "cannot use /nonexistent/root as a root"),
        Failing(name: "bad --root for apply", arguments: ["apply", "fix-x", "--root", "/etc/hostname", "--json"], status: 2,
                message: "cannot use /etc/hostname as a root"),
        Failing(name: "bad --root for status", arguments: ["status", "--root", "/nonexistent/root", "--json"], status: 2,
                message: "cannot use /nonexistent/root as a root"),
        Failing(name: "bad knowledge file", arguments: ["diagnose", "--root", "ROOT", "--json"], status: 2,
                message: "knowledge.d/bad.json") { copy in
            try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-heal/knowledge.d"), withIntermediateDirectories: true)
            try "{ not json".write(toFile: copy.at("/etc/clarity-heal/knowledge.d/bad.json"), atomically: false, encoding: .utf8)
        },
        Failing(name: "repair --disk of something that is no disk", arguments: ["repair", "--disk", "/etc/hostname", "--scratch", "TMP", "--json"],
                status: 3, message: "cannot mount /etc/hostname"),
        Failing(name: "repair --disk that does not exist", arguments: ["repair", "--disk", "/nonexistent.img", "--json"],
                status: 2, message: "cannot use --disk /nonexistent.img"),
        Failing(name: "unknown option", arguments: ["detect", "--json", "--bogus"], status: 2, message: "--bogus"),
        Failing(name: "unknown option on the quick path", arguments: ["detect", "--quick", "--json", "--bogus"], status: 2,
                message: "--bogus"),
        Failing(name: "missing argument", arguments: ["apply", "--json"], status: 2, message: "<fix>"),
        Failing(name: "bad option value", arguments: ["history", "--limit", "0", "--json"], status: 2, message: "--limit"),
        Failing(name: "unknown class", arguments: ["detect", "--class", "not-a-class", "--json"], status: 2,
                message: "not-a-class"),
        Failing(name: "missing --pstore folder", arguments: ["detect", "--quick", "--root", "ROOT", "--pstore", "/nonexistent", "--json"],
                status: 2, message: "cannot use --pstore /nonexistent: it does not exist"),
        Failing(name: "bad --wait", arguments: ["apply", "fix-x", "--wait", "-1", "--json"], status: 2, message: "--wait"),
        Failing(name: "stray argument", arguments: ["detect", "stray", "--json"], status: 2, message: "stray"),
    ]

    @Test(arguments: failing)
    func everyFailureIsOneJSONDocument(_ failing: Failing) throws {
        let copy = try TestRoot.writableCopy()
        try failing.prepare(copy)
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let before = try ApplyFixtures.hashTree(copy.path)
        let result = try CLIFixtures.run(failing.arguments.map {
            $0.replacingOccurrences(of: "ROOT", with: copy.path).replacingOccurrences(of: "TMP", with: scratch.path)
        })
        #expect(result.status == failing.status, "\(result.stderr)")
        let document = try #require(CLIFixtures.document(result, failing.name))
        #expect(document.count == 1, "\(document.keys)")
        let error = try #require(document["error"] as? [String: Any], "\(result.stdout)")
        #expect((error["exitStatus"] as? Int).map(Int32.init) == result.status, "\(result.stdout)")
        let message = try #require(error["message"] as? String)
        #expect(message.contains(failing.message), "\(message)")
        #expect(error["kind"] is String)
        // The message is on stderr too, for a person reading the log.
        #expect(result.stderr.contains(failing.message), "\(result.stderr)")
        #expect(try ApplyFixtures.hashTree(copy.path) == before, "a failed run changed the root")
    }

    /// Finding 9: a refusal that changed nothing exits 3, not 4. An apply onto a root whose
    /// filesystem is read-only fails at its first write, the journal: nothing was changed.
    /// The same for a rollback (the fix applied through a writable path of the same root).
    @Test func failureBeforeAnyChangeExitsThree() throws {
        let copy = try TestRoot.writableCopy()
        let readOnly = try TemporaryDirectory(prefix: "read-only")
        let bind = try Tool.run("/bin/mount", ["--bind", copy.path, readOnly.path])
        try #require(bind.status == 0, "\(bind.stderr)")
        defer { _ = try? Tool.run("/bin/umount", [readOnly.path]) }
        let remount = try Tool.run("/bin/mount", ["-o", "remount,bind,ro", readOnly.path])
        try #require(remount.status == 0, "\(remount.stderr)")

        let before = try ApplyFixtures.hashTree(copy.path)
        let apply = try CLIFixtures.run(["apply", Self.plainPackage, "--root", readOnly.path, "--json"])
        #expect(apply.status == 3, "\(apply.stderr)")
        let document = try #require(CLIFixtures.document(apply, "apply on a read-only root"))
        let error = try #require(document["error"] as? [String: Any])
        #expect((error["message"] as? String)?.contains("Read-only file system") == true, "\(error)")
        #expect((error["message"] as? String)?.contains("nothing on \(readOnly.path) was changed") == true, "\(error)")
        #expect(try ApplyFixtures.hashTree(copy.path) == before)

        let applied = try CLIFixtures.run(["apply", Self.plainPackage, "--root", copy.path])
        try #require(applied.status == 0, "\(applied.stderr)")
        let rollback = try CLIFixtures.run(["rollback", "--root", readOnly.path])
        #expect(rollback.status == 3, "\(rollback.stderr)")
        #expect(rollback.stderr.contains("was changed"), "\(rollback.stderr)")
        #expect(try String(contentsOfFile: copy.at("/srv/plain/file"), encoding: .utf8) == "new contents\n")
    }

    /// Finding 9: a command that writes, run by another user than root, says root is needed
    /// (exit 3, nothing changed) instead of a bare "Permission denied".
    @Test(arguments: [
        ["apply", "PLAIN", "--root", "ROOT"], ["rollback", "--root", "ROOT"], ["boot", "--root", "ROOT"],
        ["verify", "--root", "ROOT"],
    ])
    func writingCommandsNeedRoot(_ form: [String]) throws {
        let copy = try TestRoot.writableCopy()
        // The copy's folder is made 0700; the other user must reach the root to be refused
        // for what it is, not for a path it cannot see.
        #expect(chmod((copy.path as NSString).deletingLastPathComponent, 0o755) == 0)
        let before = try ApplyFixtures.hashTree(copy.path)
        let arguments = form.map { $0.replacingOccurrences(of: "ROOT", with: copy.path).replacingOccurrences(of: "PLAIN", with: Self.plainPackage) }
        for json in [false, true] {
            let result = try Tool.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Tool.clarityHeal]
                                      + arguments + (json ? ["--json"] : []))
            #expect(result.status == 3, "\(form): \(result.stderr)")
            #expect(result.stderr.contains("must run as root"), "\(form): \(result.stderr)")
            if json {
                let document = CLIFixtures.document(.init(status: result.status, stdout: result.stdout, stderr: result.stderr), "\(form)")
                #expect((document?["error"] as? [String: Any])?["kind"] as? String == "needs-root")
            }
        }
        #expect(try ApplyFixtures.hashTree(copy.path) == before)
    }

    /// Finding 9: `--pstore` names a folder that exists, on the boot path's reader and
    /// through ArgumentParser alike; a usage error names it.
    @Test(arguments: [
        (["detect", "--quick"], "/nonexistent/pstore", "it does not exist"),
        (["detect", "--quick"], "/etc/hostname", "it is not a folder"),
        (["detect", "--quick", "--log-level", "warning"], "/nonexistent/pstore", "it does not exist"),
        (["diagnose"], "/etc/hostname", "it is not a folder"),
        (["repair", "--dry-run"], "/nonexistent/pstore", "it does not exist"),
    ])
    func pstoreMustBeAFolder(command: [String], pstore: String, reason: String) throws {
        let result = try CLIFixtures.run(command + ["--root", TestRoot.root, "--pstore", pstore])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("cannot use --pstore \(pstore): \(reason)"), "\(result.stderr)")
    }

    /// `report`, `rollback` and `apply` agree on a fix id that names nothing: 3. `status`
    /// and `history` of a root without a ledger are not errors.
    @Test func unknownFixIdsAgree() throws {
        let copy = try TestRoot.writableCopy()
        for arguments in [["report", "fix-nope"], ["rollback", "fix-nope"], ["apply", "fix-nope"]] {
            let result = try CLIFixtures.run(arguments + ["--root", copy.path])
            #expect(result.status == 3, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("fix-nope"))
        }
        for arguments in [["status"], ["history"]] {
            let result = try CLIFixtures.run(arguments + ["--root", copy.path, "--json"])
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(CLIFixtures.document(result, "\(arguments)")?["error"] == nil)
        }
    }

    /// `CLARITY_HEAL_CRASH_AFTER_STEP` is the power-loss tests' hook: the debug binary they
    /// run obeys it, the release binary (the one installed and put in every initramfs)
    /// does not. `scripts/test` builds both.
    @Test func onlyTheDebugBinaryHasTheCrashHook() throws {
        let release = TestRoot.repository + "/.build/release/clarity-heal"
        let debug = TestRoot.repository + "/.build/debug/clarity-heal"
        try #require(FileManager.default.isExecutableFile(atPath: release), "build it with swift build -c release")
        try #require(FileManager.default.isExecutableFile(atPath: debug))
        for (binary, killed) in [(debug, true), (release, false)] {
            let copy = try TestRoot.writableCopy()
            let result = try CLIFixtures.Running(["apply", Self.plainPackage, "--root", copy.path], executable: binary,
                                                 environment: ["CLARITY_HEAL_CRASH_AFTER_STEP": "1"]).finish()
            if killed {
                #expect(result.status == -SIGKILL, "\(binary): \(result.stderr)")
                #expect(CLIFixtures.hasJournal(copy.path), "the debug binary stopped at its first crash point")
            } else {
                #expect(result.status == 0, "\(binary): \(result.stderr)")
                #expect(try String(contentsOfFile: copy.at("/srv/plain/file"), encoding: .utf8) == "new contents\n")
            }
        }
    }
}
