import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `filesystem-errors` on really damaged ext4: metadata broken with `debugfs -w`, confirmed
/// by the real `e2fsck -fn`, reached as an extra device or through the root's fstab.
@Suite("filesystem-errors scenarios", .serialized)
struct FilesystemErrorsScenarioTests {
    /// A small ext4 made from a tree with `mkfs.ext4 -d`, one file's inode cleared
    /// (`debugfs -w -R "clri /data/b"`): the directory entry now points at a free inode.
    static func corrupted(in directory: TemporaryDirectory, uuid: String) throws -> String {
        let tree = try ScenarioDisk.tree(in: directory)
        let image = try ScenarioDisk.ext4(in: directory, "broken.img", megabytes: 16, ["-L", "broken", "-U", uuid, "-d", tree])
        try ScenarioDisk.run("debugfs", ["-w", "-R", "clri /data/b", image])
        return image
    }

    static func detect(root: String, extra: [String]) throws -> [Finding] {
        let context = DetectionContext(root: try SystemRoot(root), extraDevices: extra)
        return try FstabScenarioTests.detectors.flatMap { try $0.detect(context) }
    }

    @Test("cleared inode as an extra device: e2fsck -fn fails and its lines are the evidence")
    func clearedInode() throws {
        let directory = try TemporaryDirectory(prefix: "fserr")
        let image = try Self.corrupted(in: directory, uuid: ScenarioDisk.uuid())
        let check = try Tool.run("e2fsck", ["-fn", image])
        #expect(check.status == 4)

        let findings = try Self.detect(root: TestRoot.root, extra: [TestRoot.image, image])
        #expect(findings.map(\.failureClass) == [.filesystemErrors])
        let finding = try #require(findings.first)
        #expect(finding.summary == "ext4 filesystem \(image) (LABEL=broken) has errors: e2fsck -fn exits 4")
        #expect(finding.evidence.count == 1)
        let evidence = try #require(finding.evidence.first)
        #expect(evidence.source == "e2fsck -fn \(image)")
        #expect(evidence.detail.contains("Entry 'b' in /data"))
        #expect(evidence.detail.contains("deleted/unused inode"))
        #expect(evidence.detail.contains("WARNING: Filesystem still has errors"))
    }

    @Test("the superblock says 'with errors' while e2fsck -fn passes: dumpe2fs is the evidence")
    func errorState() throws {
        let directory = try TemporaryDirectory(prefix: "fserr")
        let tree = try ScenarioDisk.tree(in: directory)
        let image = try ScenarioDisk.ext4(in: directory, "flagged.img", megabytes: 16, ["-L", "flagged", "-d", tree])
        // EXT2_VALID_FS | EXT2_ERROR_FS: what the kernel leaves after an ext4_error().
        try ScenarioDisk.run("debugfs", ["-w", "-R", "ssv state 3", image])
        #expect(try Tool.run("e2fsck", ["-fn", image]).status == 0)

        let findings = try Self.detect(root: TestRoot.root, extra: [TestRoot.image, image])
        #expect(findings.map(\.failureClass) == [.filesystemErrors])
        let finding = try #require(findings.first)
        #expect(finding.summary.hasSuffix("has errors: the superblock records errors"))
        #expect(finding.evidence.first?.source == "dumpe2fs -h \(image)")
        #expect(finding.evidence.first?.detail.contains("Filesystem state:") == true)
        #expect(finding.evidence.first?.detail.contains("clean with errors") == true)
    }

    @Test("reached through the root's fstab on a loop device, not given as an extra device")
    func throughFstab() throws {
        let directory = try TemporaryDirectory(prefix: "fserr")
        let uuid = ScenarioDisk.uuid()
        let image = try Self.corrupted(in: directory, uuid: uuid)
        let loop = try AttachedLoop(image: image)
        let copy = try TestRoot.writableCopy()
        let fstab = try String(contentsOfFile: copy.at("/etc/fstab"), encoding: .utf8)
        try FileManager.default.removeItem(atPath: copy.at("/etc/fstab"))
        try (fstab + "UUID=\(uuid) /srv ext4 defaults 0 2\n").write(toFile: copy.at("/etc/fstab"), atomically: false, encoding: .utf8)

        let findings = try Self.detect(root: copy.path, extra: [TestRoot.image])
        #expect(findings.map(\.failureClass) == [.filesystemErrors])
        #expect(findings.first?.evidence.first?.source == "e2fsck -fn \(loop.path)")
    }

    @Test("mounted read-write here: e2fsck is not run on it")
    func mountedReadWrite() throws {
        let directory = try TemporaryDirectory(prefix: "fserr")
        let image = try Self.corrupted(in: directory, uuid: ScenarioDisk.uuid())
        let mount = try ScenarioMount(image: image, at: directory.path + "/mnt")
        #expect(try MountInfo.current().isMountedReadWrite(image))
        let findings = try FilesystemErrorsDetector().detect(
            DetectionContext(root: try SystemRoot(TestRoot.root), extraDevices: [image]))
        #expect(findings == [])
        withExtendedLifetime(mount) {}
        // Read-only is fine to check.
        let readOnly = try TemporaryDirectory(prefix: "fserr-ro")
        let copy = try Self.corrupted(in: readOnly, uuid: ScenarioDisk.uuid())
        let roMount = try ScenarioMount(image: copy, at: readOnly.path + "/mnt", options: "loop,ro")
        #expect(try MountInfo.current().isMountedReadWrite(copy) == false)
        let roFindings = try FilesystemErrorsDetector().detect(
            DetectionContext(root: try SystemRoot(TestRoot.root), extraDevices: [copy]))
        #expect(roFindings.map(\.failureClass) == [.filesystemErrors])
        withExtendedLifetime(roMount) {}
    }
}
