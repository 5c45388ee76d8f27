import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Apply then rollback puts back the original bytes, modes, owners, times, xattrs, links
/// and hard-link identity; what the fix created is removed; a removed folder tree returns.
@Suite(.serialized)
struct ApplyRollbackTests {
    /// Everything about a tree a rollback must restore: per entry its type, mode, owner,
    /// size, mtime, link target, contents hash, inode group and xattrs.
    static func fullState(_ root: String, under folders: [String]) throws -> String {
        var lines: [String] = []
        for folder in folders {
            let listing = try Tool.run("/usr/bin/find", [root + folder, "-printf", "%P %y %m %U %G %s %T@ %l %n\\n"]).stdout
            lines += listing.split(separator: "\n").map { "\(folder)/\($0)" }
            let hashes = try Tool.run("/bin/sh", ["-c", "cd \"$1\" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum", "h", root + folder]).stdout
            lines += hashes.split(separator: "\n").map { "\(folder) \($0)" }
            let inodes = try Tool.run("/bin/sh", ["-c", "cd \"$1\" && find . -type f -links +1 -printf '%i %p\\n' | sort | awk '{print $2 \" \" ($1==p?\"same\":\"new\"); p=$1}'", "h", root + folder]).stdout
            lines += inodes.split(separator: "\n").map { "\(folder) inode \($0)" }
            for entry in (FileManager.default.enumerator(atPath: root + folder)?.allObjects as? [String]) ?? [] {
                lines.append("\(folder)/\(entry) xattr \(xattrs(root + folder + "/" + entry))")
            }
        }
        return lines.sorted().joined(separator: "\n")
    }

    /// The user xattrs of `path`, through Python's os.listxattr (no getfattr here).
    static func xattrs(_ path: String) -> String {
        let script = "import os,sys\np=sys.argv[1]\nprint(','.join(n+'='+os.getxattr(p,n,follow_symlinks=False).decode() for n in sorted(os.listxattr(p,follow_symlinks=False))))"
        return (try? Tool.run("python3", ["-c", script, path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"
    }

    static func setXattr(_ path: String, _ name: String, _ value: String) throws {
        let run = try Tool.run("python3", ["-c", "import os,sys\nos.setxattr(sys.argv[1],sys.argv[2],sys.argv[3].encode())", path, name, value])
        guard run.status == 0 else { throw Tool.Failure(message: run.stderr) }
    }

    @Test func applyThenRollbackRestoresEverything() throws {
        let copy = try TestRoot.writableCopy()
        let root = copy.path
        // A site of the kinds of things a fix replaces: a file with a hard link and an
        // xattr, a link, a folder tree the fix removes, a place where it creates files.
        let site = root + "/srv/site"
        try FileManager.default.createDirectory(atPath: site + "/tree/deeper", withIntermediateDirectories: true)
        try Data("original config\n".utf8).write(to: URL(fileURLWithPath: site + "/config"))
        #expect(link(site + "/config", site + "/config.hardlink") == 0)
        try Self.setXattr(site + "/config", "user.clarity", "kept")
        #expect(chmod(site + "/config", 0o640) == 0 && chown(site + "/config", 1, 2) == 0)
        try FileManager.default.createSymbolicLink(atPath: site + "/current", withDestinationPath: "tree")
        try Data("in the tree\n".utf8).write(to: URL(fileURLWithPath: site + "/tree/deeper/leaf"))
        try Self.setXattr(site + "/tree/deeper/leaf", "user.leaf", "yes")
        #expect(chmod(site + "/tree/deeper", 0o750) == 0)
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, site + "/config", &times, 0) == 0)
        let before = try Self.fullState(root, under: ["/srv/site"])

        let newConfig = Array("replaced config\n".utf8), newFile = Array("a new file\n".utf8)
        var changeset = Changeset()
        // The folder as overlayfs reports it (copied up as a parent): its times come back too.
        changeset.changes["/srv/site"] = .directory(mode: 0o755, owner: 0, group: 0)
        changeset.changes["/srv/site/config"] = .file(contents: newConfig, mode: 0o600, owner: 0, group: 0)
        // Both names of the hard-linked file: the backup keeps them one inode.
        changeset.changes["/srv/site/config.hardlink"] = .file(contents: newConfig, mode: 0o600, owner: 0, group: 0)
        changeset.changes["/srv/site/current"] = .symlink(target: "elsewhere", owner: 0, group: 0)
        changeset.changes["/srv/site/tree"] = .removed
        changeset.changes["/srv/site/created"] = .directory(mode: 0o700, owner: 0, group: 0)
        changeset.changes["/srv/site/created/file"] = .file(contents: newFile, mode: 0o644, owner: 0, group: 0)
        let (entries, files) = FixPackage.changes(of: changeset)
        let manifest = FixManifest(
            id: "fix-1-rollback-test", created: 1, failureClass: .systemFileCorrupt,
            strategy: StrategyDescriptor(id: "test", title: "test", classes: [.systemFileCorrupt], risk: 1, sideEffects: "none",
                                         priorEffectiveness: 1, estimatedSeconds: 1),
            findings: [], operations: [], changes: entries, validation: ValidationReport(checks: []), attempts: [],
            environment: "overlay", needsReboot: false)
        let out = try TemporaryDirectory(prefix: "fixes")
        let package = try FixPackage.write(manifest, files: files, into: out.path)

        let applied = try Tool.run(Tool.clarityHeal, ["apply", package.directory, "--root", root, "--json"])
        try #require(applied.status == 0, "\(applied.stderr)")
        #expect(try String(contentsOfFile: site + "/config", encoding: .utf8) == "replaced config\n")
        #expect(try String(contentsOfFile: site + "/created/file", encoding: .utf8) == "a new file\n")
        #expect(!FileManager.default.fileExists(atPath: site + "/tree"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: site + "/current") == "elsewhere")
        #expect(try Self.fullState(root, under: ["/srv/site"]) != before)

        // The backup is a pax tar GNU tar reads, holding the old bytes and xattrs.
        let backup = root + "/var/lib/clarity-heal/applied/fix-1-rollback-test/backup.tar"
        let listing = try Tool.run("/bin/tar", ["--xattrs", "-tvf", backup]).stdout
        #expect(listing.contains("srv/site/config.hardlink link to srv/site/config"), "\(listing)")
        #expect(listing.contains("srv/site/tree/deeper/leaf"))
        #expect(!listing.contains("srv/site/created"), "a path that did not exist is not in the tar")
        let pax = try Tool.run("/bin/sh", ["-c", "tar --xattrs --xattrs-include='*' -xOf \"$1\" srv/site/tree/deeper/leaf", "t", backup]).stdout
        #expect(pax == "in the tree\n")

        let rolled = try Tool.run(Tool.clarityHeal, ["rollback", "--root", root, "--json"])
        #expect(rolled.status == 0, "\(rolled.stderr)")
        let after = try Self.fullState(root, under: ["/srv/site"])
        let beforeLines = Set(before.split(separator: "\n")), afterLines = Set(after.split(separator: "\n"))
        #expect(after == before, "lost: \(beforeLines.subtracting(afterLines).sorted()) gained: \(afterLines.subtracting(beforeLines).sorted())")
        var first = stat(), second = stat()
        #expect(lstat(site + "/config", &first) == 0 && lstat(site + "/config.hardlink", &second) == 0)
        #expect(first.st_ino == second.st_ino, "hard-link identity lost")

        // A second rollback changes nothing and says so; the ledger has one of each.
        let again = try Tool.run(Tool.clarityHeal, ["rollback", "fix-1-rollback-test", "--root", root, "--json"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already-rolled-back"))
        let records = try ApplyFixtures.ledger(root, fix: "fix-1-rollback-test").map { "\($0.kind.rawValue) \($0.outcome)" }
        #expect(records == ["apply applied", "rollback rolled-back"])
        let nothing = try Tool.run(Tool.clarityHeal, ["rollback", "--root", root])
        #expect(nothing.status == 3)
    }

    @Test func nextBootStagesAVerifiedCopy() throws {
        let copy = try TestRoot.writableCopy()
        try ApplyFixtures.scenarios[0].breakRoot(copy)
        let package = try ApplyFixtures.package(ApplyFixtures.scenarios[0])
        let id = try FixPackage.open(package).manifest.id
        let before = try Tool.run("/usr/bin/sha256sum", [copy.at("/boot/grub/grubenv")]).stdout
        let run = try Tool.run(Tool.clarityHeal, ["apply", package, "--next-boot", "--root", copy.path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let staged = try FixPackage.open(copy.at("/var/lib/clarity-heal/staged/" + id))
        #expect(staged.manifest.id == id)
        #expect(try Tool.run("/usr/bin/sha256sum", [copy.at("/boot/grub/grubenv")]).stdout == before, "staging changed the system")
        // Applying the staged id later is the same apply.
        let apply = try Tool.run(Tool.clarityHeal, ["apply", id, "--root", copy.path, "--json"])
        try #require(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("\"reboot\""))
    }
}
