import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// One `filesystem-errors` finding per filesystem: a corrupted image given as a device and
/// also reached through a loop device (the root's fstab names its UUID, or `repair --disk`
/// mounted it) is named by the image, with the loop device in the evidence.
@Suite(.serialized)
struct FilesystemErrorsLoopTests {
    /// A writable copy of the test root whose fstab mounts the filesystem `uuid` on /srv.
    static func root(mounting uuid: String) throws -> OverlayCopy {
        let copy = try TestRoot.writableCopy()
        let fstab = try String(contentsOfFile: copy.at("/etc/fstab"), encoding: .utf8)
        try FileManager.default.removeItem(atPath: copy.at("/etc/fstab"))
        try (fstab + "UUID=\(uuid) /srv ext4 defaults 0 2\n").write(toFile: copy.at("/etc/fstab"), atomically: false, encoding: .utf8)
        return copy
    }

    /// How the filesystem is reached: fstab's UUID (which resolves to the loop device on
    /// this machine) and/or the extra devices, in their order, "image" or "loop".
    @Test(arguments: [(true, ["image"]), (false, ["image", "loop"]), (false, ["loop", "image"]), (true, ["loop", "image"])])
    func anImageAlsoReachedThroughALoopDeviceIsOneFinding(throughFstab: Bool, extra: [String]) throws {
        let directory = try TemporaryDirectory(prefix: "fsdup")
        let uuid = ScenarioDisk.uuid()
        let image = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: uuid)
        let loop = try AttachedLoop(image: image)
        let copy = try throughFstab ? Self.root(mounting: uuid) : TestRoot.writableCopy()
        if throughFstab {
            // Without the image as a device, fstab's loop device is what there is to name.
            let alone = try FilesystemErrorsDetector().detect(
                DetectionContext(root: try SystemRoot(copy.path), extraDevices: [TestRoot.image]))
            #expect(alone.map(\.summary) == ["ext4 filesystem \(loop.path) (LABEL=broken) has errors: e2fsck -fn exits 4"])
        }

        let devices = [TestRoot.image] + extra.map { $0 == "loop" ? loop.path : image }
        let findings = try FilesystemErrorsDetector().detect(
            DetectionContext(root: try SystemRoot(copy.path), extraDevices: devices))

        #expect(findings.map(\.failureClass) == [.filesystemErrors])
        let finding = try #require(findings.first)
        #expect(finding.summary == "ext4 filesystem \(image) (LABEL=broken) has errors: e2fsck -fn exits 4")
        #expect(finding.evidence.map(\.source).first == "e2fsck -fn \(image)")
        let loopEvidence = try #require(finding.evidence.last)
        #expect(loopEvidence.source.hasSuffix("/loop/backing_file"))
        #expect(loopEvidence.detail == "\(loop.path) is a loop device of \(image): the same filesystem as \(image), checked once")
        #expect(finding.evidence.count == 2)
    }

    @Test func theCommandReportsTheImageOnce() throws {
        let directory = try TemporaryDirectory(prefix: "fsdup")
        let uuid = ScenarioDisk.uuid()
        let image = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: uuid)
        let loop = try AttachedLoop(image: image)
        let copy = try Self.root(mounting: uuid)

        let result = try Tool.run(Tool.clarityHeal, ["detect", "--root", copy.path, "--device", TestRoot.image,
                                                     "--device", image, "--json"])
        let output = try JSONDecoder().decode(DetectCommandTests.Output.self, from: Data(result.stdout.utf8))
        #expect(result.status == 1, "\(result.stderr)")
        let filesystem = output.findings.filter { $0.class == "filesystem-errors" }
        #expect(filesystem.count == 1, "\(filesystem.map(\.summary))")
        #expect(filesystem.first?.summary.hasPrefix("ext4 filesystem \(image) ") == true)
        #expect(filesystem.first?.evidence.contains { $0.detail.hasPrefix("\(loop.path) is a loop device of \(image)") } == true)
    }

    @Test func aDiskMountedForRepairIsOneFindingNamedByTheImage() throws {
        // What `repair --disk` sees: the disk is its own root, mounted through ReadOnlyDisk's
        // read-only loop device, which fstab's UUID resolves to on this machine; the image is
        // an extra device.
        let directory = try TemporaryDirectory(prefix: "fsdup")
        let uuid = ScenarioDisk.uuid()
        try directory.write("tree/etc/fstab", "UUID=\(uuid) / ext4 errors=remount-ro 0 1\n")
        let tree = try ScenarioDisk.tree(in: directory)
        let image = try ScenarioDisk.ext4(in: directory, "disk.img", megabytes: 16, ["-L", "disk", "-U", uuid, "-d", tree])
        try ScenarioDisk.run("debugfs", ["-w", "-R", "clri /data/b", image])
        let before = try FilesystemRepairTests.sha256(image)
        let scratch = try TemporaryDirectory(prefix: "fsdup-scratch")

        let findings: [Finding]
        let device: String
        do {
            let disk = try ReadOnlyDisk(image: image, scratch: scratch.path)
            defer { disk.release() }
            device = disk.device
            #expect(BlockDevices().resolve("UUID=\(uuid)")?.path == device)
            findings = try FilesystemErrorsDetector().detect(DetectionContext(root: disk.root, extraDevices: [image]))
        }

        #expect(findings.map(\.summary) == ["ext4 filesystem \(image) (LABEL=disk) has errors: e2fsck -fn exits 4"])
        #expect(findings.first?.evidence.last?.detail == "\(device) is a loop device of \(image): the same filesystem as \(image), checked once")
        #expect(try FilesystemRepairTests.sha256(image) == before)
        #expect(try ScenarioDisk.run("losetup", ["-j", image]).stdout == "")
    }
}
