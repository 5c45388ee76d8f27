import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `clarity-heal repair` end to end on really broken copies of the Debian root, one per
/// class that needs neither a block device nor a boot (issue 3): a validated fix package is
/// written, the examined root's bytes do not change, and the package applied to another
/// copy broken the same way makes `detect` clean.
@Suite(.serialized)
struct RepairCommandTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        var expected: FailureClass
        var name: String
        var breakRoot: @Sendable (OverlayCopy) throws -> Void
        var testDescription: String { "\(expected.rawValue): \(name)" }
    }

    struct Output: Decodable {
        struct Finding: Decodable { var `class`: String }
        struct Attempt: Decodable { var strategy: String; var validated: Bool; var notes: [String] }
        var status: String
        var finding: Finding?
        var attempts: [Attempt]
        var fixPackage: String?
        var advice: String?
    }

    static let kernel = TestRoot.kernelVersion

    static func edit(_ path: String, _ transform: (String) -> String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try FileManager.default.removeItem(atPath: path)
        try transform(text).write(toFile: path, atomically: false, encoding: .utf8)
    }

    static let scenarios: [Scenario] = [
        Scenario(expected: .fstabUnresolvableSource, name: "a data disk that is gone") { copy in
            try edit(copy.at("/etc/fstab")) { $0 + "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2\n" }
        },
        Scenario(expected: .fstabInvalidEntry, name: "a line libmount cannot parse") { copy in
            try edit(copy.at("/etc/fstab")) { $0 + "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2\n" }
        },
        Scenario(expected: .rootDeviceMismatch, name: "root= names no device") { copy in
            try edit(copy.at("/boot/grub/grub.cfg")) {
                $0.replacingOccurrences(of: "root=UUID=\(TestRoot.rootUUID)", with: "root=UUID=0b2c6a6e-0000-4000-8000-00000000beef")
            }
        },
        Scenario(expected: .initramfsMissing, name: "initrd deleted") { copy in
            try FileManager.default.removeItem(atPath: copy.at("/boot/initrd.img-\(kernel)"))
        },
        Scenario(expected: .initramfsCorrupt, name: "initrd truncated") { copy in
            _ = try Tool.run("/usr/bin/truncate", ["-s", "1000000", copy.at("/boot/initrd.img-\(kernel)")])
        },
        Scenario(expected: .initramfsMissingDriver, name: "root on /dev/vda1, virtio_blk missing from the initrd") { copy in
            try edit(copy.at("/boot/grub/grub.cfg")) { $0.replacingOccurrences(of: "root=UUID=\(TestRoot.rootUUID)", with: "root=/dev/vda1") }
            try BootChainDetectors.repackInitrd(copy, edit: "rm usr/lib/modules/*/kernel/drivers/block/virtio_blk.ko")
        },
        Scenario(expected: .kernelModulesMissing, name: "module index removed") { copy in
            for name in ["modules.dep", "modules.dep.bin"] {
                try FileManager.default.removeItem(atPath: copy.at("/lib/modules/\(kernel)/\(name)"))
            }
        },
        Scenario(expected: .initMissing, name: "systemd deleted") { copy in
            try FileManager.default.removeItem(atPath: copy.at("/lib/systemd/systemd"))
        },
        Scenario(expected: .bootloaderEnvCorrupt, name: "grubenv torn") { copy in
            _ = try Tool.run("/usr/bin/truncate", ["-s", "300", copy.at("/boot/grub/grubenv")])
        },
        Scenario(expected: .bootloaderDefaultInvalid, name: "next_entry names no entry") { copy in
            _ = try Tool.run("/usr/bin/grub-editenv", [copy.at("/boot/grub/grubenv"), "set", "next_entry=gnulinux-6.0.0-gone"])
        },
        Scenario(expected: .systemFileCorrupt, name: "update-initramfs tampered") { copy in
            try edit(copy.at("/usr/sbin/update-initramfs")) { $0 + "# tampered\n" }
        },
        Scenario(expected: .accountDatabaseBroken, name: "passwd without root") { copy in
            try edit(copy.at("/etc/passwd")) { $0.split(separator: "\n").filter { !$0.hasPrefix("root:") }.joined(separator: "\n") + "\n" }
        },
        Scenario(expected: .kernelPanic, name: "a module oopsed (systemd-pstore archive)") { copy in
            try FileManager.default.createDirectory(atPath: copy.at("/var/lib/systemd/pstore"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore/oops-module/dmesg-ramoops-0",
                toPath: copy.at("/var/lib/systemd/pstore/dmesg-ramoops-0"))
        },
    ]

    static func hashTree(_ path: String) throws -> String {
        try RepairEngineTests.hashTree(path)
    }

    static func repair(_ root: String, out: String, scratch: String) throws -> (Tool.Result, Output) {
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--root", root, "--device", TestRoot.image,
                                                     "--out", out, "--scratch", scratch, "--json"])
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        return (result, output)
    }

    @Test(arguments: scenarios)
    func validatedFixRepairsACopyAndLeavesTheRootUntouched(_ scenario: Scenario) throws {
        let broken = try TestRoot.writableCopy()
        try scenario.breakRoot(broken)
        let before = try Self.hashTree(broken.path)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")

        let (result, output) = try Self.repair(broken.path, out: out.path, scratch: scratch.path)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(output.status == "validated", "\(output.attempts)")
        #expect(output.finding?.class == scenario.expected.rawValue)
        #expect(output.attempts.last?.validated == true)
        #expect(try Self.hashTree(broken.path) == before, "repair wrote to the examined root")

        let packagePath = try #require(output.fixPackage)
        let package = try FixPackage.open(packagePath)
        #expect(package.manifest.failureClass == scenario.expected)
        #expect(package.manifest.validation.passed)
        #expect(package.manifest.validation.checks.first { $0.name == "boot" }?.verdict == .notRun)

        // Apply the package to a second copy broken the same way: detect is then clean.
        let second = try TestRoot.writableCopy()
        try scenario.breakRoot(second)
        let applyScratch = try TemporaryDirectory(prefix: "apply")
        let target = try OverlayEnvironment(lower: SystemRoot(second.path), scratch: applyScratch.path + "/env")
        defer { target.tearDown() }
        let outcomes = target.execute(try package.changeset().asOperations)
        #expect(outcomes.allSatisfy { $0.succeeded }, "\(outcomes.filter { !$0.succeeded })")
        let after = try Tool.run(Tool.clarityHeal, ["detect", "--root", target.root.path, "--device", TestRoot.image, "--json"])
        #expect(after.status == 0, "\(after.stdout)")
    }

    @Test func healthyRootNeedsNoRepairAndGetsNoPackage() throws {
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let (result, output) = try Self.repair(TestRoot.root, out: out.path, scratch: scratch.path)
        #expect(result.status == 0)
        #expect(output.status == "healthy")
        #expect(output.fixPackage == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    @Test func unrepairableNeedsAPersonAndWritesNothing() throws {
        // The only kernel deleted: no other entry to fall back to, nothing to restore from.
        let broken = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: broken.at("/boot/vmlinuz-\(Self.kernel)"))
        try FileManager.default.removeItem(atPath: broken.at("/var/cache/apt/archives"))
        let before = try Self.hashTree(broken.path)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let (result, output) = try Self.repair(broken.path, out: out.path, scratch: scratch.path)
        #expect(result.status == 4, "\(result.stdout)")
        #expect(output.status == "unrepairable")
        #expect(output.fixPackage == nil)
        #expect(output.advice?.isEmpty == false)
        #expect(!output.attempts.isEmpty && output.attempts.allSatisfy { !$0.validated })
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
        #expect(try Self.hashTree(broken.path) == before)

        let text = try Tool.run(Tool.clarityHeal, ["repair", "--root", broken.path, "--device", TestRoot.image,
                                                   "--out", out.path, "--scratch", scratch.path])
        #expect(text.stdout.contains("What to do:"))
    }

    @Test func dryRunListsRankedCandidatesWithTheirPlansAndChangesNothing() throws {
        let broken = try TestRoot.writableCopy()
        try Self.edit(broken.at("/etc/fstab")) { $0 + "LABEL=nowhere /srv ext4 defaults 0 2\n" }
        let before = try Self.hashTree(broken.path)
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--root", broken.path, "--device", TestRoot.image, "--dry-run"])
        #expect(result.status == 1)
        let text = result.stdout
        #expect(text.contains("would repair fstab-unresolvable-source"))
        let repoint = try #require(text.range(of: "fstab-repoint-source"))
        let nofail = try #require(text.range(of: "fstab-add-nofail"))
        #expect(repoint.lowerBound < nofail.lowerBound)
        #expect(text.contains("- write /etc/fstab"))
        #expect(try Self.hashTree(broken.path) == before)
    }

    @Test func aDiskImageIsExaminedReadOnly() throws {
        // A real broken disk: the root's tree with a torn grubenv, as an ext4 image.
        let broken = try TestRoot.writableCopy()
        _ = try Tool.run("/usr/bin/truncate", ["-s", "300", broken.at("/boot/grub/grubenv")])
        let images = try TemporaryDirectory(prefix: "disk")
        let disk = images.path + "/disk.img"
        _ = try Tool.run("/usr/bin/truncate", ["-s", "1G", disk])
        let mkfs = try Tool.run("/sbin/mkfs.ext4", ["-q", "-F", "-L", "clarity-root", "-U", TestRoot.rootUUID, "-d", broken.path, disk])
        #expect(mkfs.status == 0, "\(mkfs.stderr)")
        let before = try Tool.run("/usr/bin/sha256sum", [disk]).stdout

        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        // The overlay: a microVM boot would hold a loop device of the test root's UUID for a
        // minute while other suites resolve that UUID (MicroVMScenarioTests boots disks).
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--disk", disk, "--environment", "overlay",
                                                     "--out", out.path, "--scratch", scratch.path, "--json"])
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(output.finding?.class == "bootloader-env-corrupt")
        #expect(output.status == "validated")
        #expect(try Tool.run("/usr/bin/sha256sum", [disk]).stdout == before, "the disk image was written")
    }
}
