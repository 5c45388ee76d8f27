import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The initramfs, kernel-modules and init detectors run together on a root, with the
/// default entry of the cached root's grub.cfg, as the lead's engine would run them.
enum BootChainDetectors {
    static var version: String { TestRoot.kernelVersion }
    static var initrd: String { "/boot/initrd.img-" + version }

    /// The default entry of the test root's grub.cfg, written out by hand so these tests
    /// do not depend on the grub.cfg reader.
    static func entry(options: [String]? = nil) -> BootEntry {
        BootEntry(origin: .grubMenu, title: "Debian GNU/Linux", id: "gnulinux-simple-\(TestRoot.rootUUID)",
                  kernel: "/boot/vmlinuz-" + version, initrd: initrd,
                  options: options ?? ["root=UUID=\(TestRoot.rootUUID)", "ro", "console=ttyS0", "quiet"],
                  version: version, source: "/boot/grub/grub.cfg", line: 24)
    }

    static let classes: Set<FailureClass> = [.initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver,
                                             .kernelModulesMissing, .initMissing]

    static func run(_ path: String, entry: BootEntry = entry()) throws -> [Finding] {
        let context = DetectionContext(root: try SystemRoot(path))
        let source = BootEntrySources.fixed(entry)
        let detectors: [any Detector] = [InitramfsDetector(defaultEntry: source),
                                         KernelModulesDetector(defaultEntry: source),
                                         InitDetector(defaultEntry: source)]
        return try detectors.flatMap { try $0.detect(context) }
    }

    static func shell(_ script: String, in directory: String) throws {
        let result = try Tool.run("/bin/sh", ["-c", "cd '\(directory)' && \(script)"])
        guard result.status == 0 else { throw Tool.Failure(message: "\(script): \(result.stderr)") }
    }

    /// Unpacks the root's initrd with unmkinitramfs, runs `edit` in the tree, and packs
    /// it back (newc, gzip) over the copy's initrd.
    static func repackInitrd(_ copy: OverlayCopy, edit: String) throws {
        let work = try TemporaryDirectory(prefix: "repack")
        let result = try Tool.run("/usr/bin/unmkinitramfs", [copy.at(initrd), work.path + "/tree"])
        guard result.status == 0 else { throw Tool.Failure(message: result.stderr) }
        try shell("cd tree && \(edit) && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1 > '\(copy.at(initrd))'",
                  in: work.path)
    }
}

@Suite("InitramfsScenarios", .serialized)
struct InitramfsScenarioTests {
    @Test func healthyRootHasNoFindings() throws {
        #expect(try BootChainDetectors.run(TestRoot.root) == [])
    }

    @Test func defaultEntryFromTheBootConfiguration() throws {
        let root = try SystemRoot(TestRoot.root)
        let entry = try #require(try BootEntrySources.configured(root))
        #expect(entry.initrd == BootChainDetectors.initrd)
        #expect(entry.kernelVersion == TestRoot.kernelVersion)
        let context = DetectionContext(root: root)
        #expect(try InitramfsDetector().detect(context) == [])
        #expect(try KernelModulesDetector().detect(context) == [])
        #expect(try InitDetector().detect(context) == [])
    }

    @Test func deletedInitrdIsMissing() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at(BootChainDetectors.initrd))
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.initramfsMissing])
        #expect(findings.first?.evidence.contains { $0.source == BootChainDetectors.initrd && $0.detail == "does not exist" } == true)
    }

    @Test func emptyInitrdIsMissing() throws {
        let copy = try TestRoot.writableCopy()
        try Data().write(to: URL(fileURLWithPath: copy.at(BootChainDetectors.initrd)))
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.initramfsMissing])
        #expect(findings.first?.summary.contains("empty") == true)
    }

    @Test func entryWithoutInitrdLineIsMissing() throws {
        var entry = BootChainDetectors.entry()
        entry.initrd = nil
        let findings = try BootChainDetectors.run(TestRoot.root, entry: entry)
        #expect(findings.map(\.failureClass) == [.initramfsMissing])
    }

    @Test func halfInitrdIsCorrupt() throws {
        let copy = try TestRoot.writableCopy()
        let path = copy.at(BootChainDetectors.initrd)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.initramfsCorrupt])
        let detail = findings.first?.evidence.last?.detail ?? ""
        #expect(detail.contains("at byte 0") && detail.lowercased().contains("truncated"), "\(detail)")
        #expect(!detail.contains(copy.path), "evidence names the path as the root sees it")
    }

    @Test func garbageInitrdIsCorrupt() throws {
        let copy = try TestRoot.writableCopy()
        let path = copy.at(BootChainDetectors.initrd)
        try Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }).write(to: URL(fileURLWithPath: path))
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.initramfsCorrupt])
        #expect(findings.first?.evidence.last?.detail.contains("no cpio header and no known compression") == true)
    }

    @Test func initrdWithoutInitIsCorrupt() throws {
        let copy = try TestRoot.writableCopy()
        try BootChainDetectors.repackInitrd(copy, edit: "rm init")
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.initramfsCorrupt])
        #expect(findings.first?.summary.contains("has no /init") == true)
    }

    @Test func initrdWithoutTheRootFileSystemDriver() throws {
        // ext4 is built into the cloud kernel, so the root's type is switched to xfs (a
        // module, with libcrc32c as its dependency) and xfs.ko is left out of the image.
        let copy = try TestRoot.writableCopy()
        try BootChainDetectors.shell("sed -i 's| /  *ext4 | / xfs |' etc/fstab && grep -q ' / xfs ' etc/fstab", in: copy.path)
        #expect(try BootChainDetectors.run(copy.path) == [], "xfs.ko is in the stock image")
        try BootChainDetectors.repackInitrd(copy, edit: "rm usr/lib/modules/*/kernel/fs/xfs/xfs.ko usr/lib/modules/*/kernel/lib/libcrc32c.ko")
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.initramfsMissingDriver])
        let finding = try #require(findings.first)
        #expect(finding.summary.hasSuffix("lacks libcrc32c, xfs"), "\(finding.summary)")
        #expect(finding.evidence.contains { $0.source == "/etc/fstab:3" && $0.detail == "/ is xfs" })
        #expect(finding.evidence.contains { $0.detail.contains("kernel/fs/xfs/xfs.ko (needed for xfs)") })
        #expect(finding.evidence.contains { $0.detail.contains("kernel/lib/libcrc32c.ko (dependency of xfs)") })
    }

    @Test func initrdWithoutTheStorageDriver() throws {
        let copy = try TestRoot.writableCopy()
        try BootChainDetectors.repackInitrd(copy, edit: "rm usr/lib/modules/*/kernel/drivers/block/virtio_blk.ko")
        // Named by UUID, offline: the storage driver cannot be known, nothing to report.
        #expect(try BootChainDetectors.run(copy.path) == [])
        let entry = BootChainDetectors.entry(options: ["root=/dev/vda1", "ro", "quiet"])
        let findings = try BootChainDetectors.run(copy.path, entry: entry)
        #expect(findings.map(\.failureClass) == [.initramfsMissingDriver])
        #expect(findings.first?.summary.hasSuffix("lacks virtio_blk") == true)
        #expect(findings.first?.evidence.first?.detail == "root device /dev/vda1 needs virtio_blk")
    }
}
