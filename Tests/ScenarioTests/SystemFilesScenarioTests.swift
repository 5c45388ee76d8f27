import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("SystemFilesScenarios", .serialized)
struct SystemFilesScenarioTests {
    func detect(_ root: String) throws -> [Finding] {
        try SystemFilesDetector().detect(DetectionContext(root: try SystemRoot(root)))
    }

    @Test func healthyRootHasNoCorruptFiles() throws {
        #expect(try detect(TestRoot.root) == [])
    }

    @Test func flippedByteInPid1() throws {
        let copy = try TestRoot.writableCopy()
        let path = copy.at("/usr/lib/systemd/systemd")
        let expected = try Tool.run("md5sum", [path]).stdout.prefix(32)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        let actual = try Tool.run("md5sum", [path]).stdout.prefix(32)

        let findings = try detect(copy.path)
        #expect(findings.map(\.failureClass) == [.systemFileCorrupt])
        let finding = try #require(findings.first)
        #expect(finding.summary == "1 file of systemd differs from the package: /lib/systemd/systemd")
        #expect(finding.evidence == [Evidence(source: "/lib/systemd/systemd",
                                              detail: "package systemd: expected md5 \(expected), found md5 \(actual)")])
        #expect(finding.severity == .high)
        #expect(finding.component == .systemServices)
    }

    @Test func replacedUpdateInitramfsAndRemovedKernelModule() throws {
        let copy = try TestRoot.writableCopy()
        try "#!/bin/sh\nexit 0\n".write(toFile: copy.at("/usr/sbin/update-initramfs"), atomically: false, encoding: .utf8)
        let module = "/lib/modules/\(TestRoot.kernelVersion)/kernel/drivers/block/virtio_blk.ko"
        try FileManager.default.removeItem(atPath: copy.at(module))

        let findings = try detect(copy.path)
        #expect(findings.map(\.summary) == [
            "1 file of initramfs-tools differs from the package: /usr/sbin/update-initramfs",
            "1 file of linux-image-\(TestRoot.kernelVersion) differs from the package: \(module)",
        ])
        #expect(findings.last?.evidence.first?.detail.hasSuffix("found missing") == true)
    }

    @Test func packagesOutsideTheBootChainAreNotChecked() throws {
        let copy = try TestRoot.writableCopy()
        try "x".write(toFile: copy.at("/usr/share/zoneinfo/Europe/Paris"), atomically: false, encoding: .utf8)
        #expect(try detect(copy.path) == [])
    }
}
