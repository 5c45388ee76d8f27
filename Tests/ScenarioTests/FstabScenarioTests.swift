import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The fstab detector on broken copies of the real Debian root, whose image `root.img`
/// stands for its disk: each break gives its class with the right line, and the
/// neighbouring classes of the same detectors stay silent.
@Suite("fstab scenarios on the real test root", .serialized)
struct FstabScenarioTests {
    static let detectors: [any Detector] = [FstabDetector(), FilesystemErrorsDetector(), ResourceUsageDetector()]

    /// Runs the three detectors of this area on `root` with the root's image as its disk.
    static func detect(_ root: String) throws -> [Finding] {
        let context = DetectionContext(root: try SystemRoot(root), extraDevices: [TestRoot.image])
        return try detectors.flatMap { try $0.detect(context) }
    }

    /// Replaces the copy's fstab (remove first: the overlay then holds a new file).
    static func writeFstab(_ copy: OverlayCopy, _ text: String) throws {
        try? FileManager.default.removeItem(atPath: copy.at("/etc/fstab"))
        try text.write(toFile: copy.at("/etc/fstab"), atomically: false, encoding: .utf8)
    }

    static func originalFstab() throws -> String {
        try String(contentsOfFile: TestRoot.root + "/etc/fstab", encoding: .utf8)
    }

    @Test("healthy root: no finding from the fstab, filesystem or resource detectors")
    func healthy() throws {
        #expect(try Self.detect(TestRoot.root) == [])
        // The image was really checked: e2fsck ran on it through the runner.
        let runner = RecordingRunner()
        let context = DetectionContext(root: try SystemRoot(TestRoot.root), extraDevices: [TestRoot.image], runner: runner)
        #expect(try FilesystemErrorsDetector().detect(context) == [])
        let mounted = try MountInfo.current().isMountedReadWrite(TestRoot.image)
        #expect(runner.calls.contains(["dumpe2fs", "-h", TestRoot.image]))
        #expect(runner.calls.contains(["e2fsck", "-fn", TestRoot.image]) == !mounted)
    }

    @Test("a UUID that exists nowhere")
    func missingUUID() throws {
        let copy = try TestRoot.writableCopy()
        try Self.writeFstab(copy, try Self.originalFstab() + "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2\n")
        let findings = try Self.detect(copy.path)
        #expect(findings.map(\.failureClass) == [.fstabUnresolvableSource])
        let finding = try #require(findings.first)
        #expect(finding.severity == .critical)
        #expect(finding.evidence.first == Evidence(source: "/etc/fstab:5",
            detail: "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2"))
        #expect(finding.summary.contains("names no block device"))
    }

    @Test("a LABEL typo on the root line")
    func labelTypo() throws {
        let copy = try TestRoot.writableCopy()
        try Self.writeFstab(copy, try Self.originalFstab()
            .replacingOccurrences(of: "UUID=\(TestRoot.rootUUID)", with: "LABEL=clarity-roto"))
        let findings = try Self.detect(copy.path)
        #expect(findings.map(\.failureClass) == [.fstabUnresolvableSource])
        #expect(findings.first?.evidence.first?.source == "/etc/fstab:3")
        #expect(findings.first?.evidence.first?.detail.hasPrefix("LABEL=clarity-roto") == true)
        // The correct label resolves: the repair's re-pointing has a unique candidate.
        let devices = BlockDevices(extraImages: [TestRoot.image])
        #expect(devices.resolve("LABEL=clarity-root")?.path == TestRoot.image)
        #expect(devices.filesystems(label: "clarity-root").count == 1)
    }

    @Test("a line with a bad field")
    func badField() throws {
        let copy = try TestRoot.writableCopy()
        try Self.writeFstab(copy, try Self.originalFstab() + "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2\n")
        let findings = try Self.detect(copy.path)
        #expect(findings.map(\.failureClass) == [.fstabInvalidEntry])
        #expect(findings.first?.summary == "cannot parse /etc/fstab line 5: dump field 'zero' is not a number")
        #expect(findings.first?.evidence == [Evidence(source: "/etc/fstab:5",
            detail: "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2")])
    }

    @Test("type xfs for the ext4 root")
    func wrongType() throws {
        let copy = try TestRoot.writableCopy()
        try Self.writeFstab(copy, try Self.originalFstab()
            .replacingOccurrences(of: "/              ext4", with: "/              xfs "))
        let findings = try Self.detect(copy.path)
        #expect(findings.map(\.failureClass) == [.fstabInvalidEntry])
        let finding = try #require(findings.first)
        #expect(finding.summary == "/etc/fstab line 3: type xfs does not match the on-disk ext4 of \(TestRoot.image)")
        #expect(finding.evidence.first?.source == "/etc/fstab:3")
        #expect(finding.evidence.last?.source == "blkid -p \(TestRoot.image)")
        #expect(finding.evidence.last?.detail.contains("TYPE=ext4") == true)
        #expect(finding.evidence.last?.detail.contains("UUID=\(TestRoot.rootUUID)") == true)
    }

    @Test("a missing swap device without nofail: same class, lower severity; with nofail: nothing")
    func swap() throws {
        let copy = try TestRoot.writableCopy()
        let line = "UUID=0b2c6a6e-0000-4000-8000-00000000beef none swap sw 0 0"
        try Self.writeFstab(copy, try Self.originalFstab() + line + "\n")
        let findings = try Self.detect(copy.path)
        #expect(findings.map(\.failureClass) == [.fstabUnresolvableSource])
        #expect(findings.first?.severity == .moderate)
        try Self.writeFstab(copy, try Self.originalFstab() + line.replacingOccurrences(of: " sw ", with: " sw,nofail ") + "\n")
        #expect(try Self.detect(copy.path) == [])
    }

    @Test("a swap file of the root resolves inside the root, not on this machine")
    func swapFile() throws {
        let copy = try TestRoot.writableCopy()
        try ScenarioDisk.run("truncate", ["-s", "4M", copy.at("/swapfile")])
        try ScenarioDisk.run("mkswap", [copy.at("/swapfile")])
        try Self.writeFstab(copy, try Self.originalFstab() + "/swapfile none swap sw 0 0\n")
        #expect(try Self.detect(copy.path) == [])
        try FileManager.default.removeItem(atPath: copy.at("/swapfile"))
        #expect(try Self.detect(copy.path).map(\.failureClass) == [.fstabUnresolvableSource])
    }

    /// Bad input: each gives a finding with a clear summary, never a crash or a throw.
    @Test("garbage, binary junk, a directory, a dangling link",
          arguments: ["garbage", "binary", "directory", "dangling link"])
    func badInput(kind: String) throws {
        let copy = try TestRoot.writableCopy()
        let fstab = copy.at("/etc/fstab")
        try FileManager.default.removeItem(atPath: fstab)
        switch kind {
        case "garbage":
            try "this is not an fstab\n}{ ][ \n=== ===\n".write(toFile: fstab, atomically: false, encoding: .utf8)
        case "binary":
            try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }).write(to: URL(fileURLWithPath: fstab))
        case "directory":
            try FileManager.default.createDirectory(atPath: fstab, withIntermediateDirectories: false)
        default:
            try FileManager.default.createSymbolicLink(atPath: fstab, withDestinationPath: "/etc/fstab.lost")
        }
        let findings = try Self.detect(copy.path)
        #expect(!findings.isEmpty)
        #expect(findings.allSatisfy { $0.failureClass == .fstabInvalidEntry })
        #expect(findings.allSatisfy { $0.evidence.first?.source.hasPrefix("/etc/fstab") == true })
        switch kind {
        case "garbage":
            #expect(findings.map { $0.evidence.first?.source } == ["/etc/fstab:1", "/etc/fstab:2", "/etc/fstab:3"])
        case "directory":
            #expect(findings.map(\.summary) == ["cannot read /etc/fstab: it is a directory, not a file"])
        case "dangling link":
            #expect(findings.map(\.summary) == ["cannot read /etc/fstab: dangling symbolic link to /etc/fstab.lost"])
        default:
            // findmnt, too, rejects every line but one that happens to split into fields.
            #expect(findings.filter { $0.summary.hasPrefix("cannot parse /etc/fstab line ") }.count >= findings.count - 1)
        }
    }

    @Test("no fstab at all is a valid root: nothing reported")
    func noFstab() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/etc/fstab"))
        #expect(try FstabDetector().detect(DetectionContext(root: try SystemRoot(copy.path), extraDevices: [TestRoot.image])) == [])
    }
}

/// The real runner, remembering what it ran.
private final class RecordingRunner: CommandRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [[String]] = []
    var calls: [[String]] { lock.withLock { recorded } }

    func run(_ executable: String, _ arguments: [String]) throws(CommandError) -> CommandResult {
        lock.withLock { recorded.append([executable] + arguments) }
        return try SpawnCommandRunner().run(executable, arguments)
    }
}
