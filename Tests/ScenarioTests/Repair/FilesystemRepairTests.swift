import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `filesystem-errors` repaired end to end through the binary, on really corrupted ext4
/// images: `repair` proves `e2fsck -fy` on a block-level snapshot and never writes the
/// image; `apply` runs it on a copy with an undo file as the backup; `rollback` puts the
/// copy's bytes back exactly; apply refuses a mounted device or another filesystem.
@Suite(.serialized)
struct FilesystemRepairTests {
    struct Output: Decodable {
        struct Attempt: Decodable { var strategy: String; var validated: Bool; var notes: [String] }
        var status: String
        var attempts: [Attempt]
        var fixPackage: String?
    }

    /// A small ext4 from a tree, broken three ways with `debugfs -w`: an inode cleared under
    /// its directory entry (so the bitmaps and counts are wrong too), a block of a live file
    /// marked free, and the superblock's state set to "with errors".
    static func corrupted(in directory: TemporaryDirectory, uuid: String) throws -> String {
        let image = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: uuid)
        let blocks = try ScenarioDisk.run("debugfs", ["-R", "blocks /data/c", image]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try ScenarioDisk.run("debugfs", ["-w", "-R", "freeb \(blocks)", image])
        try ScenarioDisk.run("debugfs", ["-w", "-R", "ssv state 3", image])
        return image
    }

    static func sha256(_ path: String) throws -> String {
        try ScenarioDisk.run("sha256sum", [path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }

    static func repair(_ image: String, out: String, scratch: String) throws -> (Tool.Result, Output) {
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--root", TestRoot.root, "--device", TestRoot.image,
                                                     "--device", image, "--out", out, "--scratch", scratch, "--json"])
        return (result, try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8)))
    }

    /// A corrupted image, a validated package for it, and a copy of the image to apply to.
    struct Repaired {
        var directory: TemporaryDirectory
        var image: String
        var uuid: String
        var package: FixPackage
        var copy: String
        var state: TemporaryDirectory
        /// Kept alive with the fixture: the package lives there.
        var out: TemporaryDirectory
    }

    static func repaired() throws -> Repaired {
        let directory = try TemporaryDirectory(prefix: "fsrepair")
        let uuid = ScenarioDisk.uuid()
        let image = try corrupted(in: directory, uuid: uuid)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let (result, output) = try repair(image, out: out.path, scratch: scratch.path)
        guard result.status == 1, let path = output.fixPackage else {
            throw Tool.Failure(message: "repair did not validate: \(result.stdout) \(result.stderr)")
        }
        let copy = directory.path + "/copy.img"
        try ScenarioDisk.run("cp", ["--sparse=always", image, copy])
        return Repaired(directory: directory, image: image, uuid: uuid, package: try FixPackage.open(path), copy: copy,
                        state: try TemporaryDirectory(prefix: "state"), out: out)
    }

    @Test func repairValidatesOnASnapshotAndNeverWritesTheImage() throws {
        let directory = try TemporaryDirectory(prefix: "fsrepair")
        let uuid = ScenarioDisk.uuid()
        let image = try Self.corrupted(in: directory, uuid: uuid)
        #expect(try Tool.run("e2fsck", ["-fn", image]).status == 4)
        let before = try Self.sha256(image)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")

        let (result, output) = try Self.repair(image, out: out.path, scratch: scratch.path)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(output.status == "validated", "\(output.attempts.map(\.notes))")
        #expect(output.attempts.last?.strategy == "e2fsck-repair")
        #expect(try Self.sha256(image) == before, "repair wrote to the image")
        // The snapshot's daemon, FUSE mount and loop mounts are gone, the scratch is empty.
        #expect(try Tool.run("/bin/grep", ["-c", scratch.path, "/proc/self/mountinfo"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).allSatisfy { !$0.hasPrefix("block-") })

        let package = try FixPackage.open(try #require(output.fixPackage))
        let manifest = package.manifest
        #expect(manifest.failureClass == .filesystemErrors)
        #expect(manifest.changes.isEmpty)
        #expect(manifest.operations == ["e2fsck -fy \(image) (ext4 UUID \(uuid))"])
        let filesystem = try #require(manifest.filesystem)
        #expect(filesystem.device == image)
        #expect(filesystem.uuid == uuid)
        #expect(filesystem.size == 16 << 20)
        #expect(filesystem.checkStatus == 4)
        #expect(filesystem.checkOutput.contains("Entry 'b' in /data"))
        #expect(filesystem.repairStatus == 1)
        #expect(filesystem.repairOutput.contains("FILE SYSTEM WAS MODIFIED"))
        let checks = Dictionary(manifest.validation.checks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(manifest.validation.passed)
        #expect(checks["resolved"]?.verdict == .passed)
        #expect(checks["filesystem-check"]?.verdict == .passed)
        #expect(checks["filesystem-check"]?.detail.contains("e2fsck -fn on the repaired snapshot exits 0") == true)
        // /etc/hostname and /data/a were readable; /data/b (its inode cleared) was not; /data/c
        // (a block marked free) reads the same after the bitmap is fixed.
        #expect(checks["critical-files"]?.verdict == .passed)
        #expect(checks["critical-files"]?.detail.hasPrefix("3 files readable before") == true)
        #expect(checks["boot"]?.verdict == .notRun)
        #expect(checks["stability"]?.verdict == .notRun)

        let dryRun = try Tool.run(Tool.clarityHeal, ["repair", "--root", TestRoot.root, "--device", TestRoot.image,
                                                     "--device", image, "--dry-run"])
        #expect(dryRun.status == 1)
        #expect(dryRun.stdout.contains("e2fsck-repair"))
        #expect(dryRun.stdout.contains("e2fsck -fy \(image) (ext4 UUID \(uuid))"))
        #expect(try Self.sha256(image) == before)
    }

    @Test func reachedThroughFstabOnALoopDeviceThePackageNamesTheImage() throws {
        // fstab names the filesystem by UUID and it resolves to a loop device; the loop
        // device is gone by the time the fix is applied, the image behind it is not.
        let directory = try TemporaryDirectory(prefix: "fsloop")
        let uuid = ScenarioDisk.uuid()
        let image = try Self.corrupted(in: directory, uuid: uuid)
        let before = try Self.sha256(image)
        let loop = try AttachedLoop(image: image)
        let copy = try TestRoot.writableCopy()
        let fstab = try String(contentsOfFile: copy.at("/etc/fstab"), encoding: .utf8)
        try FileManager.default.removeItem(atPath: copy.at("/etc/fstab"))
        try (fstab + "UUID=\(uuid) /srv ext4 defaults 0 2\n").write(toFile: copy.at("/etc/fstab"), atomically: false, encoding: .utf8)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")

        let result = try Tool.run(Tool.clarityHeal, ["repair", "--root", copy.path, "--device", TestRoot.image,
                                                     "--out", out.path, "--scratch", scratch.path, "--json"])
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(output.status == "validated", "\(output.attempts.map(\.notes))")
        let manifest = try FixPackage.open(try #require(output.fixPackage)).manifest
        #expect(manifest.findings.first?.evidence.first?.source.hasSuffix(loop.path) == true)
        #expect(manifest.filesystem?.device == image)
        #expect(manifest.operations == ["e2fsck -fy \(image) (ext4 UUID \(uuid))"])
        #expect(try Self.sha256(image) == before)
    }

    @Test func applyRepairsACopyAndRollbackPutsItsBytesBack() throws {
        let fixture = try Self.repaired()
        let broken = try Self.sha256(fixture.copy)

        let applied = try Tool.run(Tool.clarityHeal, ["apply", "--root", fixture.state.path, "--device", fixture.copy,
                                                      fixture.package.directory, "--json"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try Tool.run("e2fsck", ["-fn", fixture.copy]).status == 0)
        let detect = try Tool.run(Tool.clarityHeal, ["detect", "--root", TestRoot.root, "--device", TestRoot.image,
                                                     "--device", fixture.copy, "--json"])
        #expect(detect.status == 0, "\(detect.stdout)")
        let undo = fixture.state.path + "/var/lib/clarity-heal/applied/\(fixture.package.manifest.id)/backup.e2undo"
        #expect((try FileManager.default.attributesOfItem(atPath: undo)[.size] as? Int ?? 0) > 0)
        let ledger = try String(contentsOfFile: fixture.state.path + "/var/lib/clarity-heal/ledger.jsonl", encoding: .utf8)
        #expect(ledger.contains("\"outcome\":\"applied\""))
        #expect(ledger.contains("\"device\":\"\(fixture.copy)\""))
        #expect(try Self.sha256(fixture.image) != (try Self.sha256(fixture.copy)))

        let again = try Tool.run(Tool.clarityHeal, ["apply", "--root", fixture.state.path, "--device", fixture.copy,
                                                    fixture.package.directory])
        #expect(again.status == 0)
        #expect(again.stdout.hasPrefix("already applied"))

        let rolledBack = try Tool.run(Tool.clarityHeal, ["rollback", "--root", fixture.state.path])
        #expect(rolledBack.status == 0, "\(rolledBack.stderr)")
        #expect(rolledBack.stdout.contains("restored \(fixture.copy)"))
        #expect(try Self.sha256(fixture.copy) == broken, "rollback did not put the device's bytes back")
    }

    @Test func applyRefusesAMountedDeviceAndWritesNothing() throws {
        let fixture = try Self.repaired()
        let before = try Self.sha256(fixture.copy)
        let applied: Tool.Result
        do {
            let mount = try ScenarioMount(image: fixture.copy, at: fixture.directory.path + "/mnt", options: "ro,noload,loop")
            applied = try Tool.run(Tool.clarityHeal, ["apply", "--root", fixture.state.path, "--device", fixture.copy,
                                                      fixture.package.directory])
            _ = mount
        }
        #expect(applied.status == 3)
        #expect(applied.stderr.contains("\(fixture.copy) is mounted on \(fixture.directory.path)/mnt"))
        #expect(try Self.sha256(fixture.copy) == before)
        #expect(!FileManager.default.fileExists(atPath: fixture.state.path + "/var/lib/clarity-heal/applied/\(fixture.package.manifest.id)"))
        #expect(!FileManager.default.fileExists(atPath: fixture.state.path + "/var/lib/clarity-heal/journal"))
    }

    @Test func applyRefusesAnotherFilesystemAndWritesNothing() throws {
        let fixture = try Self.repaired()
        let otherDirectory = try TemporaryDirectory(prefix: "other")
        let other = try Self.corrupted(in: otherDirectory, uuid: ScenarioDisk.uuid())
        let before = try Self.sha256(other)
        let applied = try Tool.run(Tool.clarityHeal, ["apply", "--root", fixture.state.path, "--device", other,
                                                      fixture.package.directory])
        #expect(applied.status == 3)
        #expect(applied.stderr.contains("it is not the filesystem the fix was made for"))
        #expect(applied.stderr.contains("not \(fixture.uuid)"))
        #expect(try Self.sha256(other) == before)
        #expect(!FileManager.default.fileExists(atPath: fixture.state.path + "/var/lib/clarity-heal/applied/\(fixture.package.manifest.id)"))
    }

    @Test func anApplyKilledAfterE2fsckIsUndoneByRecovery() throws {
        let fixture = try Self.repaired()
        let before = try Self.sha256(fixture.copy)
        // Crash points: prepare, state folder renamed, begin, intent, e2fsck finished.
        let killed = try ApplyPowerLossTests.clarityHeal(["apply", "--root", fixture.state.path, "--device", fixture.copy,
                                                          fixture.package.directory], crashAfter: 5)
        #expect(killed.status == -9)
        #expect(try Self.sha256(fixture.copy) != before, "e2fsck had not written the copy yet")

        let next = try Tool.run(Tool.clarityHeal, ["rollback", "--root", fixture.state.path])
        #expect(next.status == 3, "\(next.stdout) \(next.stderr)")
        #expect(next.stderr.contains("nothing to roll back"))
        #expect(try Self.sha256(fixture.copy) == before, "recovery did not undo the interrupted e2fsck")
        #expect(!FileManager.default.fileExists(atPath: fixture.state.path + "/var/lib/clarity-heal/journal"))
        let ledger = try String(contentsOfFile: fixture.state.path + "/var/lib/clarity-heal/ledger.jsonl", encoding: .utf8)
        #expect(ledger.contains("\"outcome\":\"undone\""))
    }

    @Test func aFileLevelCloneRefusesTheBlockOperation() throws {
        let scratch = try TemporaryDirectory(prefix: "env")
        let environment = try OverlayEnvironment(lower: SystemRoot(TestRoot.root), scratch: scratch.path + "/env")
        defer { environment.tearDown() }
        let outcomes = environment.execute([.checkFilesystem(device: TestRoot.image, uuid: TestRoot.rootUUID, fsType: "ext4")])
        #expect(outcomes.map(\.succeeded) == [false])
        #expect(outcomes.first?.detail == "a file-level overlay clone cannot repair \(TestRoot.image) at block level; it needs a block snapshot")
        #expect(RepairOperation.checkFilesystem(device: "/dev/vdb1", uuid: "u", fsType: "ext4").declaredPaths.isEmpty)
    }
}
