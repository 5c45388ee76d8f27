import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The site's drop-in executables (health.d, notify.d) run only when root alone could
/// have put them there, and each is bounded in time; their verdict is their exit status.
@Suite("SiteExecutables")
struct SiteExecutablesTests {
    static func root(_ files: [(String, String, mode_t)]) throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(prefix: "site")
        try FileManager.default.createDirectory(atPath: dir.path + SiteChecks.folder, withIntermediateDirectories: true)
        for (name, text, mode) in files {
            let path = try dir.write(String(SiteChecks.folder.dropFirst()) + "/" + name, text)
            #expect(chmod(path, mode) == 0)
        }
        return dir
    }

    @Test func onlyRootsOwnExecutablesRunInNameOrder() throws {
        let dir = try Self.root([
            ("20-second", "#!/bin/sh\nexit 0\n", 0o755),
            ("10-first", "#!/bin/sh\nexit 0\n", 0o700),
            ("README", "notes, not a check\n", 0o644),
            (".hidden", "#!/bin/sh\n", 0o755),
            ("30-old.dpkg-old", "#!/bin/sh\n", 0o755),
            ("40-edited~", "#!/bin/sh\n", 0o755),
            ("50-anyone-may-write", "#!/bin/sh\nexit 0\n", 0o777),
        ])
        #expect(symlink("/bin/true", dir.path + SiteChecks.folder + "/60-link") == 0)
        let nobody = try dir.write(String(SiteChecks.folder.dropFirst()) + "/70-nobody", "#!/bin/sh\n")
        #expect(chmod(nobody, 0o755) == 0 && chown(nobody, 65534, 65534) == 0)

        let (run, skipped) = SiteExecutables.list(SiteChecks.folder, root: try SystemRoot(dir.path))
        #expect(run == [SiteChecks.folder + "/10-first", SiteChecks.folder + "/20-second"])
        #expect(skipped.map(\.name) == ["50-anyone-may-write", "60-link", "70-nobody"])
        #expect(skipped[1].reason == "not a regular file")
        #expect(skipped[2].reason.contains("uid 65534"))
    }

    @Test func aFolderOthersMayWriteRunsNothing() throws {
        let dir = try Self.root([("check", "#!/bin/sh\nexit 0\n", 0o755)])
        #expect(chmod(dir.path + SiteChecks.folder, 0o777) == 0)
        let (run, skipped) = SiteExecutables.list(SiteChecks.folder, root: try SystemRoot(dir.path))
        #expect(run.isEmpty)
        #expect(skipped.count == 1 && skipped[0].reason.contains("nothing in it runs"))
    }

    /// Real checks through the real runner: passing, failing, out of time, and one that
    /// prints without end (its output is dropped, not kept in memory).
    @Test func siteChecksAreJudgedByTheirExitStatusWithinTheirTime() throws {
        let dir = try Self.root([
            ("a-passes", "#!/bin/sh\necho fine\nexit 0\n", 0o755),
            ("b-fails", "#!/bin/sh\necho 'the database does not answer' >&2\nexit 3\n", 0o755),
            ("c-hangs", "#!/bin/sh\nsleep 30\n", 0o755),
            ("d-chatters", "#!/bin/sh\nyes\n", 0o755),
            ("e-world-writable", "#!/bin/sh\nexit 0\n", 0o757),
        ])
        let started = Date()
        let checks = SiteChecks.run(root: try SystemRoot(dir.path), runner: SpawnCommandRunner(), seconds: 2)
        #expect(Date().timeIntervalSince(started) < 20)
        let byName = Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0) })
        #expect(byName["site:a-passes"]?.verdict == .passed)
        #expect(byName["site:b-fails"]?.verdict == .failed)
        #expect(byName["site:b-fails"]?.detail.hasPrefix("exit 3") == true)
        #expect(byName["site:c-hangs"]?.verdict == .failed)
        #expect(byName["site:c-hangs"]?.detail == "still running after 2 s")
        #expect(byName["site:d-chatters"]?.verdict == .failed)
        #expect(byName["site:e-world-writable"]?.verdict == .notRun)
    }
}
