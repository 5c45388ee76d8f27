import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Issue 9's findings 1-4 and 6, each the way a hostile root or package would try it, through
/// the real binary on copies of the real Debian root: nothing outside the root is read as
/// the root's, written or deleted; nothing blocks; nothing unbounded is read or copied.
@Suite(.serialized, .timeLimit(.minutes(20)))
struct UntrustedInputTests {
    // MARK: Helpers

    /// `clarity-heal ARGS` killed after 60 s: a hang shows as status 137, never as a stuck
    /// suite. SIGKILL, because the test process blocks SIGTERM and its children inherit that.
    static func run(_ arguments: [String]) throws -> Tool.Result {
        try Tool.run("/usr/bin/timeout", ["--signal=KILL", "60", Tool.clarityHeal] + arguments)
    }

    /// What `timeout --signal=KILL` leaves of a run it killed: timeout passes the signal on
    /// to itself (Foundation reports 9); 137 and 124 in case it does not.
    static func hung(_ status: Int32) -> Bool { [9, 124, 137].contains(status) }

    /// A package with `changes` (contents in `files`, keyed by SHA-256), built on the real
    /// grubenv package's manifest so only apply's own checks can refuse it.
    static func package(_ changes: [FixManifest.Change], files: [String: [UInt8]] = [:]) throws -> (TemporaryDirectory, String) {
        let source = try FixPackage.open(ApplyFixtures.package(ApplyFixtures.scenarios[0]))
        var manifest = source.manifest
        manifest.changes = changes
        let out = try TemporaryDirectory(prefix: "untrusted-package")
        return (out, try FixPackage.write(manifest, files: files, into: out.path).directory)
    }

    static func fileChange(_ path: String, _ text: String) -> (FixManifest.Change, [String: [UInt8]]) {
        let bytes = Array(text.utf8)
        let digest = SHA256.hex(bytes)
        return (FixManifest.Change(path: path, kind: .file, mode: 0o644, owner: 0, group: 0, sha256: digest, size: bytes.count),
                [digest: bytes])
    }

    static let readOnlyCommands: [[String]] = [
        ["status"], ["history"], ["detect", "--quick"], ["diagnose"], ["report", "fix-planted"], ["repair", "--dry-run"],
    ]
    static let writingCommands: [[String]] = [["rollback"], ["boot"], ["verify"]]

    // MARK: 1. State in the examined root is not trusted

    /// A journal and a plan planted in the root's state folder, whose one step writes
    /// `/../../../../tmp/<name>`: no command writes the host file, and the root is unchanged.
    @Test(arguments: readOnlyCommands + writingCommands)
    func aPlantedPlanNeverWritesTheHost(_ command: [String]) throws {
        let copy = try TestRoot.writableCopy()
        let victim = "clarity-planted-\(getpid())-\(command[0])"
        let hostFile = "/tmp/" + victim
        try? FileManager.default.removeItem(atPath: hostFile)
        let contents = Array("planted\n".utf8)
        let digest = SHA256.hex(contents)
        let fix = "fix-planted"
        // plan.json as apply writes it (ApplyPlan's JSON), its one step leaving the root.
        let plan = """
            {"fixID": "\(fix)", "steps": [{"index": 0, "action": "write", "path": "/../../../../tmp/\(victim)",
             "manifestPath": "/../../../../tmp/\(victim)", "mode": 420, "owner": 0, "group": 0,
             "sha256": "\(digest)", "size": \(contents.count)}]}
            """
        #expect(try JSONDecoder().decode(ApplyPlan.self, from: Data(plan.utf8)).steps.count == 1)
        let state = copy.at("/var/lib/clarity-heal")
        try FileManager.default.createDirectory(atPath: state + "/applied/\(fix)/package/files", withIntermediateDirectories: true)
        try Data(contents).write(to: URL(fileURLWithPath: state + "/applied/\(fix)/package/files/" + digest))
        try plan.write(toFile: state + "/applied/\(fix)/plan.json", atomically: false, encoding: .utf8)
        let journal = JournalRecord.header + "\n" + JournalRecord.prepare(.apply, fixID: fix).line
            + JournalRecord.begin(.apply, fixID: fix, steps: 1, backupSHA256: String(repeating: "0", count: 64)).line
        try journal.write(toFile: state + "/journal", atomically: false, encoding: .utf8)
        let before = try ApplyFixtures.hashTree(copy.path)

        let result = try Self.run(command + ["--root", copy.path])
        #expect(!Self.hung(result.status), "hung")
        #expect(!FileManager.default.fileExists(atPath: hostFile), "\(command) wrote \(hostFile)")
        #expect(try ApplyFixtures.hashTree(copy.path) == before, "\(command) changed the root: \(result.stderr)")
        if Self.writingCommands.contains(command) {
            // A recovery that cannot be trusted needs a person, and says why.
            #expect(result.status == 4, "\(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("has a .. component"), "\(result.stderr)")
        }
        try? FileManager.default.removeItem(atPath: hostFile)
    }

    /// `applied` planted as a link to a host folder, and a journal whose `prepare` names a
    /// file in it: no command deletes (or reads) the host's file.
    @Test(arguments: ["absolute", "relative"])
    func aPlantedLinkedStateFolderNeverDeletesTheHost(_ kind: String) throws {
        let copy = try TestRoot.writableCopy()
        let outside = try TemporaryDirectory(prefix: "victim")
        try outside.write("precious", "keep me\n")
        try outside.write(".precious.partial/inner", "keep me too\n")
        let state = copy.at("/var/lib/clarity-heal")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let target = kind == "absolute" ? outside.path
            : String(repeating: "../", count: state.split(separator: "/").count) + outside.path.dropFirst()
        try FileManager.default.createSymbolicLink(atPath: state + "/applied", withDestinationPath: target)
        try (JournalRecord.header + "\n" + JournalRecord.prepare(.apply, fixID: "precious").line)
            .write(toFile: state + "/journal", atomically: false, encoding: .utf8)

        for command in Self.readOnlyCommands + Self.writingCommands {
            let result = try Self.run(command + ["--root", copy.path])
            #expect(!Self.hung(result.status), "\(command) hung")
            #expect(FileManager.default.fileExists(atPath: outside.path + "/precious"), "\(command) deleted the host file")
            #expect(FileManager.default.fileExists(atPath: outside.path + "/.precious.partial/inner"), "\(command) deleted the host folder")
        }
    }

    /// A state folder owned by someone else is nobody's to act on: apply refuses before it
    /// reads or writes anything there.
    @Test func aStateFolderOwnedByAnotherUserIsNotUsed() throws {
        let copy = try TestRoot.writableCopy()
        try ApplyFixtures.scenarios[0].breakRoot(copy)
        let state = copy.at("/var/lib/clarity-heal")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        #expect(chown(state, 1000, 1000) == 0)
        let before = try ApplyFixtures.hashTree(copy.path)
        let result = try Self.run(["apply", ApplyFixtures.package(ApplyFixtures.scenarios[0]), "--root", copy.path])
        #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("is not trusted"), "\(result.stderr)")
        #expect(try ApplyFixtures.hashTree(copy.path) == before)
    }

    // MARK: 2. A package never writes through a link, not even one it makes itself

    @Test(arguments: ["absolute", "relative"])
    func aLinkMadeByThePackageIsNotWrittenThrough(_ kind: String) throws {
        let copy = try TestRoot.writableCopy()
        let outside = try TemporaryDirectory(prefix: "outside")
        try outside.write("folder/victim", "keep me\n")
        let target = kind == "absolute" ? outside.path
            : String(repeating: "../", count: 2 + copy.path.split(separator: "/").count) + outside.path.dropFirst()
        let link = FixManifest.Change(path: "/boot/a", kind: .symlink, owner: 0, group: 0, target: target)
        let (write, files) = Self.fileChange("/boot/a/pwn", "pwned\n")
        let removal = FixManifest.Change(path: "/boot/a/folder", kind: .removed)
        let before = try ApplyFixtures.hashTree(copy.path)

        for (changes, contents) in [([link, write], files), ([link, removal], [:])] {
            let (keep, package) = try Self.package(changes, files: contents)
            _ = keep
            let result = try Self.run(["apply", package, "--root", copy.path])
            #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("a fix never writes through a link"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: outside.path + "/pwn"))
        #expect(FileManager.default.fileExists(atPath: outside.path + "/folder/victim"))
        #expect(try ApplyFixtures.hashTree(copy.path) == before)
        // A refusal changes nothing on the root: not even a state folder or a ledger.
        #expect(!FileManager.default.fileExists(atPath: copy.at("/var/lib/clarity-heal")))
    }

    @Test func aLinkIntoTheStateFolderDoesNotReachTheLedger() throws {
        let copy = try TestRoot.writableCopy()
        try ApplyFixtures.scenarios[0].breakRoot(copy)
        // A real apply first, so the root has a ledger to protect.
        #expect(try Self.run(["apply", ApplyFixtures.package(ApplyFixtures.scenarios[0]), "--root", copy.path]).status == 0)
        let ledger = try Data(contentsOf: URL(fileURLWithPath: copy.at("/var/lib/clarity-heal/ledger.jsonl")))
        let link = FixManifest.Change(path: "/boot/a", kind: .symlink, owner: 0, group: 0, target: "../var/lib/clarity-heal")
        let (write, files) = Self.fileChange("/boot/a/ledger.jsonl", "forged\n")
        let (keep, package) = try Self.package([link, write], files: files)
        _ = keep
        let result = try Self.run(["apply", package, "--root", copy.path])
        #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
        let after = try Data(contentsOf: URL(fileURLWithPath: copy.at("/var/lib/clarity-heal/ledger.jsonl")))
        #expect(after.starts(with: ledger) && !String(decoding: after, as: UTF8.self).contains("forged"))
        #expect(!FileManager.default.fileExists(atPath: copy.at("/boot/a")))
    }

    // MARK: 3. Absolute links in an offline root stay inside it

    @Test func aGrubenvLinkedToAHostFileIsNotTheRootsGrubenv() throws {
        let copy = try TestRoot.writableCopy()
        let outside = try TemporaryDirectory(prefix: "host-grubenv")
        let hostEnv = outside.path + "/grubenv"
        #expect(try Tool.run("/usr/bin/grub-editenv", [hostEnv, "create"]).status == 0)
        #expect(try Tool.run("/usr/bin/grub-editenv", [hostEnv, "set", "clarity_heal_attempts=9"]).status == 0)
        try FileManager.default.removeItem(atPath: copy.at("/boot/grub/grubenv"))
        try FileManager.default.createSymbolicLink(atPath: copy.at("/boot/grub/grubenv"), withDestinationPath: hostEnv)
        let result = try Self.run(["detect", "--quick", "--json", "--root", copy.path])
        // The link names nothing inside the root: no grubenv, no count of 9 failed boots.
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(!result.stdout.contains("clarity_heal_attempts=9"))
    }

    @Test func anEtcLinkedToSlashEtcIsNotTheHostsEtc() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.moveItem(atPath: copy.at("/etc"), toPath: copy.at("/etc.real"))
        try FileManager.default.createSymbolicLink(atPath: copy.at("/etc"), withDestinationPath: "/etc")
        let result = try Self.run(["detect", "--json", "--root", copy.path])
        // Inside the root /etc -> /etc is a loop: fstab, passwd and the rest are unreadable,
        // which is a broken root, never the host's healthy /etc.
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("account-database-broken"), "\(result.stdout)")
    }

    // MARK: 4. FIFOs never block

    @Test(arguments: ["/boot/grub/grubenv", "/etc/clarity-heal/clarity-heal.conf", "/etc/fstab", "/boot/loader/entries/x.conf"])
    func aFifoIsNeverOpenedForReading(_ path: String) throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: (copy.at(path) as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: copy.at(path))
        #expect(mkfifo(copy.at(path), 0o644) == 0)
        for command in [["detect", "--quick"], ["detect"]] {
            let started = Date()
            let result = try Self.run(command + ["--root", copy.path])
            #expect(!Self.hung(result.status), "\(command) hung on a FIFO at \(path)")
            #expect(Date().timeIntervalSince(started) < 50)
        }
    }

    /// A broken copy of the root, and a copy of its real package whose contents file was
    /// replaced by what `replace` makes at the given path.
    static func packageWithContents(_ replace: (String) throws -> Void) throws -> (OverlayCopy, TemporaryDirectory, String) {
        let copy = try TestRoot.writableCopy()
        try ApplyFixtures.scenarios[0].breakRoot(copy)
        let (keep, package) = try ApplyHostileTests.rewritten { _ in }
        let file = try #require(FileManager.default.contentsOfDirectory(atPath: package + "/files").first)
        try FileManager.default.removeItem(atPath: package + "/files/" + file)
        try replace(package + "/files/" + file)
        return (copy, keep, package)
    }

    @Test func aFifoInAPackageIsRefusedAtOnce() throws {
        let (copy, keep, package) = try Self.packageWithContents { #expect(mkfifo($0, 0o644) == 0) }
        _ = keep
        let result = try Self.run(["apply", package, "--root", copy.path])
        #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("FIFO"), "\(result.stderr)")
    }

    // MARK: 6. Packages are bounded

    /// Peak RSS in KiB of `clarity-heal ARGS` (GNU time's %M).
    static func peakKiB(_ arguments: [String]) throws -> (Tool.Result, Int) {
        let result = try Tool.run("/usr/bin/time", ["-f", "%M", "/usr/bin/timeout", "--signal=KILL", "60", Tool.clarityHeal] + arguments)
        let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        return (result, Int(last.trimmingCharacters(in: .whitespaces)) ?? Int.max)
    }

    @Test func aContentsFileLinkedToDevZeroIsRefusedWithoutReadingIt() throws {
        let (copy, keep, package) = try Self.packageWithContents {
            try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: "/dev/zero")
        }
        _ = keep
        let (result, peak) = try Self.peakKiB(["apply", package, "--root", copy.path])
        #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("symbolic link"), "\(result.stderr)")
        #expect(peak < 64 << 10, "peak RSS \(peak) KiB")
    }

    @Test func filesTheManifestDoesNotNameAreNeverCopied() throws {
        let copy = try TestRoot.writableCopy()
        try ApplyFixtures.scenarios[0].breakRoot(copy)
        let (keep, package) = try ApplyHostileTests.rewritten { _ in }
        _ = keep
        // 600 MB the manifest never names, sparse so the test costs no disk.
        #expect(try Tool.run("/usr/bin/truncate", ["-s", "600M", package + "/files/extra"]).status == 0)
        let manifest = try FixPackage.open(package).manifest
        let (result, peak) = try Self.peakKiB(["apply", package, "--root", copy.path])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        let copied = try FileManager.default.contentsOfDirectory(atPath: copy.at("/var/lib/clarity-heal/applied/\(manifest.id)/package/files"))
        #expect(Set(copied) == Set(manifest.changes.compactMap(\.sha256)))
        #expect(peak < 64 << 10, "peak RSS \(peak) KiB")
    }
}
