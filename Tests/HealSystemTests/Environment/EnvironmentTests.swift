import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Both environments on the real Debian root — overlay (copy-on-write layers) and copy
/// (the slow fallback) — through the one protocol: snapshots, restore, the changeset, tools
/// run isolated, and the real root untouched.
@Suite(.serialized)
struct EnvironmentTests {
    enum Kind: String, CaseIterable, Sendable { case overlay, copy }

    let kernel = TestRoot.kernelVersion

    func makeEnvironment(_ scratch: TemporaryDirectory, _ kind: Kind = .overlay) throws -> any Environment {
        switch kind {
        case .overlay: try OverlayEnvironment(lower: SystemRoot(TestRoot.root), scratch: scratch.path + "/env")
        case .copy: try CopyEnvironment(source: SystemRoot(TestRoot.root), scratch: scratch.path + "/env")
        }
    }

    /// Names, sizes, modes and times of every entry: changes if anything is written.
    static func treeDigest(_ path: String) throws -> String {
        let result = try Tool.run("/bin/sh", ["-c", "cd \"$1\" && find . -xdev -printf '%p %s %m %T@ %l\\n' | sort | md5sum", "digest", path])
        return result.stdout
    }

    @Test(arguments: Kind.allCases) func writesAndRemovalsStayInTheCloneAndFormTheChangeset(_ kind: Kind) throws {
        let before = try Self.treeDigest(TestRoot.root)
        let scratch = try TemporaryDirectory(prefix: "env")
        let environment = try makeEnvironment(scratch, kind)
        defer { environment.tearDown() }
        let clone = environment.root.path

        try "LABEL=data /data ext4 defaults 0 2\n".write(toFile: clone + "/etc/fstab.new", atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: clone + "/etc/hostname")
        try FileManager.default.createSymbolicLink(atPath: clone + "/etc/clarity-link", withDestinationPath: "/etc/fstab")

        #expect(FileManager.default.fileExists(atPath: clone + "/etc/fstab.new"))
        #expect(!FileManager.default.fileExists(atPath: TestRoot.root + "/etc/fstab.new"))
        #expect(FileManager.default.fileExists(atPath: TestRoot.root + "/etc/hostname"))

        let changes = try environment.changes(since: .pristine)
        #expect(changes.changes["/etc/hostname"] == .removed)
        #expect(changes.changes["/etc/clarity-link"] == .symlink(target: "/etc/fstab", owner: 0, group: 0))
        guard case .file(let contents, _, _, _) = changes.changes["/etc/fstab.new"] else {
            Issue.record("fstab.new missing from \(changes.paths)")
            return
        }
        #expect(String(decoding: contents, as: UTF8.self) == "LABEL=data /data ext4 defaults 0 2\n")
        #expect(Set(changes.undeclared(by: [.removeFile(path: "/etc/hostname")])) == ["/etc/fstab.new", "/etc/clarity-link"])
        #expect(environment.root.canonical("/lib/modules") == "/usr/lib/modules")
        #expect(environment.root.canonical("/etc/clarity-link") == "/etc/fstab")
        // A path that does not exist yet keeps every component (it is about to be written).
        #expect(environment.root.canonical("/lib/clarity-heal/pstore/handled") == "/usr/lib/clarity-heal/pstore/handled")

        environment.tearDown()
        #expect(try Self.treeDigest(TestRoot.root) == before)
    }

    @Test(arguments: Kind.allCases) func restoreDropsOnlyTheLayersAboveTheSnapshot(_ kind: Kind) throws {
        let scratch = try TemporaryDirectory(prefix: "env")
        let environment = try makeEnvironment(scratch, kind)
        defer { environment.tearDown() }
        let clone = environment.root.path

        try "first\n".write(toFile: clone + "/etc/first", atomically: false, encoding: .utf8)
        let afterFirst = try environment.snapshot()
        try "second\n".write(toFile: clone + "/etc/second", atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: clone + "/etc/first")
        #expect(Set(try environment.changes(since: afterFirst).modifiedPaths) == ["/etc/first", "/etc/second"])

        try environment.restore(afterFirst)
        #expect(FileManager.default.fileExists(atPath: clone + "/etc/first"))
        #expect(!FileManager.default.fileExists(atPath: clone + "/etc/second"))
        #expect(try environment.changes(since: afterFirst).isEmpty)
        #expect(try environment.changes(since: .pristine).paths.contains("/etc/first"))

        try environment.restore(.pristine)
        #expect(!FileManager.default.fileExists(atPath: clone + "/etc/first"))
        #expect(try environment.changes(since: .pristine).isEmpty)
        #expect(throws: EnvironmentError.unknownSnapshot(7)) { try environment.restore(Snapshot(layer: 7)) }
    }

    /// The running system's clone: its scratch folder (/var/tmp/clarity-heal) lies inside the
    /// root it clones, and overlayfs refuses a frozen layer inside another lower layer
    /// (ELOOP on the first snapshot). The scratch gets a tmpfs of its own, gone at teardown.
    @Test func aScratchInsideTheRootItClonesTakesSnapshots() throws {
        let root = try TemporaryDirectory(prefix: "env-root")
        try root.write("etc/fstab", "UUID=1 / ext4 defaults 0 1\n")
        let scratch = root.path + "/var/tmp/clarity-heal/env"
        try FileManager.default.createDirectory(atPath: root.path + "/var/tmp/clarity-heal", withIntermediateDirectories: true)
        let environment = try OverlayEnvironment(lower: SystemRoot(root.path), scratch: scratch)
        defer { environment.tearDown() }
        #expect(KernelState.mounts(below: scratch).contains { $0.target == scratch && $0.type == "tmpfs" })

        try "first\n".write(toFile: environment.root.path + "/etc/first", atomically: false, encoding: .utf8)
        let afterFirst = try environment.snapshot()
        try "second\n".write(toFile: environment.root.path + "/etc/second", atomically: false, encoding: .utf8)
        #expect(try environment.changes(since: afterFirst).modifiedPaths == ["/etc/second"])
        #expect(Set(try environment.changes(since: .pristine).modifiedPaths) == ["/etc/first", "/etc/second"])
        #expect(!FileManager.default.fileExists(atPath: root.path + "/etc/first"))

        environment.tearDown()
        #expect(KernelState.mounts(below: root.path).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: scratch))
    }

    @Test(arguments: Kind.allCases) func toolsRunIsolatedInTheClone(_ kind: Kind) throws {
        let scratch = try TemporaryDirectory(prefix: "env")
        let environment = try makeEnvironment(scratch, kind)
        defer { environment.tearDown() }

        let hostname = try environment.run(["/bin/hostname"])
        #expect(hostname.output == "clarity-heal-sandbox\n")
        // Only the loopback interface, and no disks in /dev.
        let net = try environment.run(["/bin/cat", "/proc/net/dev"])
        #expect(net.output.contains("lo:"))
        #expect(net.output.split(separator: "\n").count == 3, "\(net.output)")
        let dev = try environment.run(["/bin/ls", "/dev"])
        #expect(Set(dev.output.split(separator: "\n")) == ["full", "null", "pts", "random", "shm", "tty", "urandom", "zero"])
        // A fresh PID namespace: the command is PID 1's child or PID 1 itself.
        let pid = try environment.run(["/bin/sh", "-c", "echo $$"])
        #expect(Int(pid.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 99 <= 2)
        // A failing command is a value, not an error.
        #expect(try environment.run(["/bin/false"]).status == 1)
    }

    @Test(arguments: Kind.allCases) func depmodInTheCloneRebuildsTheIndexAndChangesOnlyIt(_ kind: Kind) throws {
        let scratch = try TemporaryDirectory(prefix: "env")
        let environment = try makeEnvironment(scratch, kind)
        defer { environment.tearDown() }
        let modules = "/lib/modules/\(kernel)"
        try FileManager.default.removeItem(atPath: environment.root.path + modules + "/modules.dep")
        let broken = try environment.snapshot()

        let result = try environment.run(["/sbin/depmod", kernel])
        #expect(result.status == 0, "\(result.errorOutput)")
        let changes = try environment.changes(since: broken)
        let root = environment.root
        // Debian 12 merged /usr: /lib/modules is written as /usr/lib/modules.
        #expect(changes.modifiedPaths.contains(root.canonical(modules + "/modules.dep")))
        let declared: [RepairOperation] = [.runTool(arguments: ["depmod", kernel], mayChange: [modules + "/"])]
        #expect(changes.undeclared(by: declared, canonical: root.canonical).isEmpty, "\(changes.paths)")
        #expect(changes.undeclared(by: [.removeFile(path: "/etc/motd")], canonical: root.canonical).count > 5)
    }

    @Test(arguments: Kind.allCases) func operationsRunIdempotentlyAndChangeOnlyWhatTheyDeclare(_ kind: Kind) throws {
        let scratch = try TemporaryDirectory(prefix: "env")
        let environment = try makeEnvironment(scratch, kind)
        defer { environment.tearDown() }
        let modules = "/lib/modules/\(kernel)"
        let plan: [RepairOperation] = [
            .writeFile(path: "/etc/fstab", contents: Array("# rewritten\n".utf8), mode: 0o644),
            .makeSymlink(path: "/etc/clarity-heal/current", target: "/etc/fstab"),
            .removeFile(path: "/etc/motd"),
            .setMode(path: "/etc/hostname", mode: 0o600),
            .runTool(arguments: ["/sbin/depmod", kernel], mayChange: [modules + "/"]),
        ]
        let first = environment.execute(plan)
        #expect(first.allSatisfy { $0.succeeded }, "\(first)")
        let afterFirst = try environment.changes(since: .pristine)
        let second = environment.execute(plan)
        #expect(second.allSatisfy { $0.succeeded }, "\(second)")
        let afterSecond = try environment.changes(since: .pristine)

        #expect(afterFirst.modifiedPaths == afterSecond.modifiedPaths)
        #expect(afterFirst.undeclared(by: plan, canonical: environment.root.canonical).isEmpty, "\(afterFirst.modifiedPaths)")
        #expect(afterFirst.changes["/etc/motd"] == .removed)
        #expect(afterFirst.changes["/etc/clarity-heal/current"] == .symlink(target: "/etc/fstab", owner: 0, group: 0))
        guard case .file(let fstab, _, _, _) = afterFirst.changes["/etc/fstab"],
              case .file(_, let hostnameMode, _, _) = afterFirst.changes["/etc/hostname"] else {
            Issue.record("missing changes: \(afterFirst.modifiedPaths)")
            return
        }
        #expect(fstab == Array("# rewritten\n".utf8))
        #expect(hostnameMode == 0o600)
        #expect(!FileManager.default.fileExists(atPath: TestRoot.root + "/etc/clarity-heal"))
    }

    @Test func aFailingToolStopsThePlanAndSaysWhy() throws {
        let scratch = try TemporaryDirectory(prefix: "env")
        let environment = try makeEnvironment(scratch)
        defer { environment.tearDown() }
        let outcomes = environment.execute([
            .runTool(arguments: ["/bin/sh", "-c", "echo no space left >&2; exit 3"], mayChange: []),
            .removeFile(path: "/etc/motd"),
        ])
        #expect(outcomes.count == 1)
        #expect(outcomes.first?.succeeded == false)
        #expect(outcomes.first?.detail == "exit 3: no space left")
        #expect(FileManager.default.fileExists(atPath: environment.root.path + "/etc/motd"))
    }
}
