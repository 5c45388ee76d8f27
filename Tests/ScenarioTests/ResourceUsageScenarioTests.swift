import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `disk-space-exhausted` / `inode-exhausted` on small real ext4 filesystems, loop-mounted
/// and filled; the mount point is the root of the detect run. Percentages are checked
/// against `df`.
@Suite("resource exhaustion scenarios", .serialized)
struct ResourceUsageScenarioTests {
    static func detect(_ root: String) throws -> [Finding] {
        let context = DetectionContext(root: try SystemRoot(root))
        return try FstabScenarioTests.detectors.flatMap { try $0.detect(context) }
    }

    /// df's Use% and IUse% for a folder.
    static func df(_ path: String) throws -> (blocks: Int, inodes: Int) {
        let out = try ScenarioDisk.run("df", ["--output=pcent,ipcent", path]).stdout
        let numbers = out.split(separator: "\n").last?.split(separator: " ").compactMap { Int($0.dropLast()) } ?? []
        guard numbers.count == 2 else { throw Tool.Failure(message: "cannot read df output: \(out)") }
        return (numbers[0], numbers[1])
    }

    /// Writes zeros until the filesystem is full (dd stops at ENOSPC).
    static func fillBlocks(_ path: String) throws {
        _ = try Tool.run("dd", ["if=/dev/zero", "of=\(path)/fill", "bs=64k", "status=none"])
    }

    @Test("blocks over 95 %")
    func diskFull() throws {
        let directory = try TemporaryDirectory(prefix: "full")
        let image = try ScenarioDisk.ext4(in: directory, "full.img", megabytes: 16)
        let mount = try ScenarioMount(image: image, at: directory.path + "/mnt")
        try Self.fillBlocks(mount.path)
        let df = try Self.df(mount.path)
        #expect(df.blocks >= 95)

        let findings = try Self.detect(mount.path)
        #expect(findings.map(\.failureClass) == [.diskSpaceExhausted])
        let finding = try #require(findings.first)
        #expect(finding.summary.hasPrefix("/ is \(df.blocks)% full"))
        #expect(finding.evidence == [Evidence(source: "statvfs /", detail: finding.evidence.first?.detail ?? "")])
        #expect(finding.evidence.first?.detail.hasSuffix("use \(df.blocks)%") == true)
    }

    @Test("inodes exhausted while blocks are free")
    func inodesFull() throws {
        let directory = try TemporaryDirectory(prefix: "inodes")
        let image = try ScenarioDisk.ext4(in: directory, "inodes.img", megabytes: 16, ["-N", "64"])
        let mount = try ScenarioMount(image: image, at: directory.path + "/mnt")
        for index in 0..<4096 {
            guard FileManager.default.createFile(atPath: "\(mount.path)/f\(index)", contents: nil) else { break }
        }
        let df = try Self.df(mount.path)
        #expect(df.inodes == 100)
        #expect(df.blocks < 95)

        let findings = try Self.detect(mount.path)
        #expect(findings.map(\.failureClass) == [.inodeExhausted])
        #expect(findings.first?.summary.hasPrefix("/ has 100% of its inodes in use (0 free)") == true)
        #expect(findings.first?.evidence.first?.source == "statvfs /")
    }

    @Test("a full /boot on its own filesystem is reported as /boot; the root is not")
    func separateBoot() throws {
        let directory = try TemporaryDirectory(prefix: "boot")
        let rootImage = try ScenarioDisk.ext4(in: directory, "root.img", megabytes: 16)
        let bootImage = try ScenarioDisk.ext4(in: directory, "boot.img", megabytes: 16)
        let root = try ScenarioMount(image: rootImage, at: directory.path + "/mnt")
        let boot = try ScenarioMount(image: bootImage, at: root.path + "/boot")
        try Self.fillBlocks(boot.path)

        let findings = try Self.detect(root.path)
        #expect(findings.map(\.failureClass) == [.diskSpaceExhausted])
        #expect(findings.first?.evidence.first?.source == "statvfs /boot")
        #expect(findings.first?.summary.hasPrefix("/boot is \(try Self.df(boot.path).blocks)% full") == true)
        withExtendedLifetime(boot) {}
    }

    @Test("the threshold comes from the context")
    func threshold() throws {
        let root = try SystemRoot(TestRoot.root)
        let usage = try ResourceUsageDetector.usage(ofHostPath: TestRoot.root)
        let percent = try #require(usage.blockPercent)
        #expect(percent == (try Self.df(TestRoot.root).blocks))
        var thresholds = Thresholds()
        thresholds.resourceExhaustionPercent = Double(percent)
        let findings = try ResourceUsageDetector().detect(DetectionContext(root: root, thresholds: thresholds))
        #expect(findings.map(\.failureClass).contains(.diskSpaceExhausted))
        thresholds.resourceExhaustionPercent = Double(percent + 1)
        let none = try ResourceUsageDetector().detect(DetectionContext(root: root, thresholds: thresholds))
        #expect(!none.map(\.failureClass).contains(.diskSpaceExhausted))
    }
}
