import Foundation
import HealCore
import Logging
import Testing
import TestSupport
@testable import HealSystem

/// The template guest: clarity-heal as PID 1 of an initramfs it builds itself, booted with
/// the test root's real kernel under QEMU (TCG here), checking and repairing a disk it sees
/// only through a throwaway qcow2 layer. One QEMU at a time.
@Suite(.serialized) struct TemplateGuestTests {
    static func kernel() throws -> RecoveryKernel {
        try RecoveryKernel.newest(in: try SystemRoot(TestRoot.root), source: "the test root").get()
    }

    static func sha256(_ path: String) throws -> String {
        try ScenarioDisk.run("sha256sum", [path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }

    /// One guest run of `task` on `disk`, with the CLI binary as /init.
    static func run(_ task: TemplateGuestTask.Kind, disk: String, in directory: TemporaryDirectory,
                    superblock: Int? = nil, blockSize: Int? = nil, keepLayer: Bool = false) throws -> TemplateGuest.Outcome {
        let folder = directory.path + "/guest"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let kernel = try kernel()
        let hypervisor = try Hypervisor.find(kernel: TestRoot.root + kernel.image, scratch: folder)
        return try TemplateGuest.run(.init(disk: disk, task: task, superblock: superblock, blockSize: blockSize,
                                           kernel: kernel, hypervisor: hypervisor, folder: folder, deadlineSeconds: 240,
                                           keepLayer: keepLayer, binary: Tool.clarityHeal, logger: Logger(label: "test")))
    }

    @Test func theInitramfsHoldsTheBinaryItsLibrariesToolsAndTheDisksModules() throws {
        let directory = try TemporaryDirectory(prefix: "template")
        let path = directory.path + "/guest.cpio"
        let built = try GuestInitramfs.build(at: path, kernel: try Self.kernel(), binary: Tool.clarityHeal)
        // The real cpio reads it as newc ("-H newc" refuses anything else).
        let listing = try ScenarioDisk.run("/bin/sh", ["-c", "cpio -it -H newc --quiet < \(path)"]).stdout
        let names = Set(listing.split(separator: "\n").map(String.init))
        #expect(names.contains("init"))
        #expect(names.contains("dev/console"))
        #expect(names.contains("etc/clarity-heal/guest-modules"))
        #expect(names.contains("lib64/ld-linux-x86-64.so.2"), "\(names.sorted())")
        for soname in ["libblkid.so.1", "libmount.so.1", "libc.so.6", "libext2fs.so.2"] {
            #expect(names.contains { $0.hasSuffix("/" + soname) }, "\(soname) missing")
        }
        // What the guest never opens stays out (it inserts modules with finit_module).
        for soname in ["libsystemd.so.0", "libkmod.so.2", "libcrypto.so.3"] {
            #expect(!names.contains { $0.hasSuffix("/" + soname) }, "\(soname) is in")
        }
        #expect(names.contains { $0.hasSuffix("sbin/e2fsck") })
        let version = TestRoot.kernelVersion
        // virtio_blk and what modules.dep says it needs, before it in the list.
        #expect(built.modules.contains("kernel/drivers/block/virtio_blk.ko"), "\(built.modules)")
        let virtio = try #require(built.modules.firstIndex(of: "kernel/drivers/virtio/virtio.ko"))
        let blk = try #require(built.modules.firstIndex(of: "kernel/drivers/block/virtio_blk.ko"))
        #expect(virtio < blk)
        for module in built.modules {
            #expect(names.contains("lib/modules/\(version)/\(module)"))
        }
        // /init is the binary, stripped.
        let extracted = directory.path + "/x"
        try FileManager.default.createDirectory(atPath: extracted, withIntermediateDirectories: true)
        try ScenarioDisk.run("/bin/sh", ["-c", "cd \(extracted) && cpio -id -H newc --quiet init < \(path)"])
        try ScenarioDisk.run("strip", ["--strip-all", "-o", directory.path + "/stripped", Tool.clarityHeal])
        #expect(try Self.sha256(extracted + "/init") == Self.sha256(directory.path + "/stripped"))
        #expect(built.bytes == Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? -1))
    }

    /// finit_module takes a plain object: a compressed module is decompressed into the
    /// initramfs (Debian 13 ships .ko.xz).
    @Test(arguments: [("xz", ".xz"), ("zstd", ".zst"), ("gzip", ".gz")])
    func aCompressedModuleIsDecompressed(tool: String, suffix: String) throws {
        let directory = try TemporaryDirectory(prefix: "template")
        let module = TestRoot.root + "/lib/modules/\(TestRoot.kernelVersion)/kernel/drivers/block/virtio_blk.ko"
        let compressed = directory.path + "/virtio_blk.ko" + suffix
        try ScenarioDisk.run("/bin/sh", ["-c", "\(tool) -c < \(module) > \(compressed)"])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: compressed)))
        let (name, plain) = try GuestInitramfs.decompressed("/lib/modules/v/kernel/virtio_blk.ko" + suffix, bytes)
        #expect(name == "/lib/modules/v/kernel/virtio_blk.ko")
        #expect(plain == Array(try Data(contentsOf: URL(fileURLWithPath: module))))
    }

    @Test(.timeLimit(.minutes(4))) func clarityHealRunsAsPID1AndChecksTheDisk() throws {
        let directory = try TemporaryDirectory(prefix: "template")
        let tree = try ScenarioDisk.tree(in: directory)
        let healthy = try ScenarioDisk.ext4(in: directory, "healthy.img", megabytes: 32, ["-U", ScenarioDisk.uuid(), "-d", tree])
        let broken = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: ScenarioDisk.uuid())
        let before = try Self.sha256(broken)

        let clean = try Self.run(.check, disk: healthy, in: directory)
        #expect(clean.ready)
        let report = try #require(clean.report, "\(clean.end) \(clean.excerpt)")
        #expect(report.kernel == TestRoot.kernelVersion)
        #expect(report.modules.contains("virtio_blk"), "\(report.modules) \(report.moduleErrors)")
        #expect(report.moduleErrors.isEmpty, "\(report.moduleErrors)")
        #expect(report.device == "/dev/vda")
        #expect(report.steps.map(\.command) == [["e2fsck", "-fn", "/dev/vda"]])
        #expect(report.steps.first?.status == 0, "\(report.steps)")
        #expect(clean.layer == nil)

        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/guest").filter { !$0.hasSuffix(".log") } == [])

        // A cleared inode, through the command (its /init is /proc/self/exe): e2fsck -n in the
        // guest exits 4 and says why, the command exits 1; the image is untouched.
        let command = try Tool.run(Tool.clarityHeal, ["guest", "--disk", broken, "--kernel-root", TestRoot.root,
                                                      "--scratch", directory.path + "/scratch", "--json"])
        #expect(command.status == 1, "\(command.stdout)\(command.stderr.suffix(2000))")
        struct Output: Decodable { var end: String; var ready: Bool; var report: TemplateGuestReport? }
        let output = try JSONDecoder().decode(Output.self, from: Data(command.stdout.utf8))
        #expect(output.end == "reported")
        #expect(output.ready)
        let found = try #require(output.report)
        #expect(found.steps.first?.status == 4, "\(found.steps)")
        #expect(found.steps.first?.output.contains("Entry 'b'") == true, "\(found.steps.first?.output ?? "")")
        #expect(try Self.sha256(broken) == before, "the guest wrote the disk")
    }

    struct RepairOutput: Decodable {
        struct Check: Decodable { var name: String; var status: String; var detail: String }
        struct Attempt: Decodable { var strategy: String; var validated: Bool; var checks: [Check] }
        struct Finding: Decodable { var `class`: String; var summary: String }
        var status: String
        var environment: String?
        var finding: Finding?
        var attempts: [Attempt]
        var fixPackage: String?
    }

    /// The test root's disk with its primary superblock zeroed (bytes 1024-4095: the
    /// superblock and the rest of block 0), the backups intact.
    static func unmountableDisk(_ directory: TemporaryDirectory) throws -> String {
        let disk = try MicroVMScenarioTests.disk(directory) { _ in }
        try ScenarioDisk.run("dd", ["if=/dev/zero", "of=\(disk)", "bs=1024", "seek=1", "count=3", "conv=notrunc", "status=none"])
        return disk
    }

    @Test(.timeLimit(.minutes(8))) func aRootWhosePrimarySuperblockIsGoneIsRepairedInTheTemplateGuestAndBooted() throws {
        let directory = try TemporaryDirectory(prefix: "template")
        let disk = try Self.unmountableDisk(directory)
        let before = try Self.sha256(disk)
        let scratch = directory.path + "/scratch"

        // Nothing can read it as a filesystem; diagnose says what it is and what repairs it.
        #expect(try Tool.run("blkid", ["-p", disk]).status == 2)
        let diagnosed = try Tool.run(Tool.clarityHeal, ["diagnose", "--disk", disk, "--scratch", scratch, "--json"])
        #expect(diagnosed.status == 3)
        #expect(diagnosed.stdout.contains("the backup at block 32768 names a ext4 filesystem"), "\(diagnosed.stdout)")

        let out = try TemporaryDirectory(prefix: "fixes")
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--disk", disk, "--environment", "microvm",
                                                     "--kernel-root", TestRoot.root, "--out", out.path,
                                                     "--scratch", scratch, "--json"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr.suffix(3000))")
        let output = try JSONDecoder().decode(RepairOutput.self, from: Data(result.stdout.utf8))
        #expect(output.status == "validated")
        #expect(output.environment == "template-guest")
        #expect(output.finding?.class == "filesystem-errors")
        #expect(output.finding?.summary.contains("cannot be mounted: its primary superblock is unreadable") == true)
        let attempt = try #require(output.attempts.first)
        #expect(attempt.strategy == "e2fsck-backup-superblock")
        #expect(attempt.validated)
        let statuses = Dictionary(uniqueKeysWithValues: attempt.checks.map { ($0.name, $0.status) })
        for name in ["filesystem-check", "resolved", "mounts", "boot-chain", "boot", "stability"] {
            #expect(statuses[name] == "passed", "\(name): \(attempt.checks.first { $0.name == name }?.detail ?? "missing")")
        }
        #expect(attempt.checks.first { $0.name == "filesystem-check" }?.detail.contains("e2fsck -fy -b 32768 -B 4096 /dev/vda in the guest exited 1") == true,
                "\(attempt.checks.first?.detail ?? "")")
        #expect(try Self.sha256(disk) == before, "repair wrote the disk")

        // The package records the backup superblock; apply runs the same e2fsck on the disk.
        let package = try FixPackage.open(try #require(output.fixPackage))
        #expect(package.manifest.filesystem?.backupSuperblock == 32768)
        #expect(package.manifest.filesystem?.blockSize == 4096)
        let state = try TemporaryDirectory(prefix: "state")
        let applied = try Tool.run(Tool.clarityHeal, ["apply", "--root", state.path, "--device", disk, package.directory, "--json"])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(try Tool.run("e2fsck", ["-fn", disk]).status == 0)
        #expect(try Tool.run("blkid", ["-p", "-s", "TYPE", "-o", "value", disk]).stdout == "ext4\n")
        do {
            let mount = try ScenarioMount(image: disk, at: directory.path + "/mnt", options: "ro,loop")
            #expect(FileManager.default.fileExists(atPath: mount.path + "/etc/fstab"))
            #expect(FileManager.default.fileExists(atPath: mount.path + "/boot/vmlinuz-" + TestRoot.kernelVersion))
        }

        // e2undo puts every block e2fsck wrote back: the disk is again the one that did not mount.
        let rolledBack = try Tool.run(Tool.clarityHeal, ["rollback", "--root", state.path])
        #expect(rolledBack.status == 0, "\(rolledBack.stdout)\(rolledBack.stderr)")
        #expect(try Self.sha256(disk) == before, "rollback did not put the disk's bytes back")
    }

    struct DiagnosisOutput: Decodable {
        struct Cause: Decodable { var `class`: String }
        struct Step: Decodable { var name: String; var ran: [String]; var found: [Evidence] }
        struct Evidence: Decodable { var source: String; var detail: String }
        struct Failure: Decodable { var step: String; var message: String }
        var rootCause: Cause?
        var steps: [Step]
        var errors: [Failure]
    }

    /// A disk whose kernels are gone: it cannot be booted, the diagnosis says so and why,
    /// and checks its filesystem in a template guest when a kernel of the recovery set
    /// can boot one — here the host's /boot has none, and the test root's can.
    @Test(.timeLimit(.minutes(4))) func aDiskWithNoKernelGetsADiagnosisThatSaysWhatWasNotChecked() throws {
        let directory = try TemporaryDirectory(prefix: "template")
        let disk = try MicroVMScenarioTests.disk(directory) { copy in
            try FileManager.default.removeItem(atPath: copy.at("/boot/vmlinuz-" + TestRoot.kernelVersion))
        }
        let before = try Self.sha256(disk)
        let scratch = directory.path + "/scratch"
        let hostKernels = (try? FileManager.default.contentsOfDirectory(atPath: "/boot"))?.filter { $0.hasPrefix("vmlinuz-") } ?? []

        let alone = try Tool.run(Tool.clarityHeal, ["diagnose", "--disk", disk, "--boot", "--scratch", scratch, "--json"])
        let diagnosis = try JSONDecoder().decode(DiagnosisOutput.self, from: Data(alone.stdout.utf8))
        // The offline scan names the missing kernel; the boot and the guest say why they did not run.
        #expect(alone.status == (diagnosis.rootCause == nil ? 3 : 1), "\(alone.stdout)")
        #expect(diagnosis.rootCause != nil, "\(alone.stdout)")
        let boot = try #require(diagnosis.errors.first { $0.step == "boot the disk in QEMU" }, "\(diagnosis.errors)")
        #expect(boot.message.contains("/boot/vmlinuz-\(TestRoot.kernelVersion) is not on the disk"), "\(boot.message)")
        if hostKernels.isEmpty {
            let guest = try #require(diagnosis.errors.first { $0.step == "check the filesystem in a template guest" }, "\(diagnosis.errors)")
            #expect(guest.message.contains("the examined root"), "\(guest.message)")
            #expect(guest.message.contains("this system (/) has no /boot/vmlinuz-*"), "\(guest.message)")
        }

        // With a kernel to boot it, the template guest checks the filesystem.
        let checked = try Tool.run(Tool.clarityHeal, ["diagnose", "--disk", disk, "--boot", "--kernel-root", TestRoot.root,
                                                      "--scratch", scratch, "--json"])
        let withGuest = try JSONDecoder().decode(DiagnosisOutput.self, from: Data(checked.stdout.utf8))
        #expect(checked.status == 1, "\(checked.stdout)\(checked.stderr.suffix(2000))")
        let step = try #require(withGuest.steps.first)
        #expect(step.name == "check the filesystem in a template guest")
        #expect(step.ran.first?.hasPrefix("e2fsck -fn in a template guest (kernel \(TestRoot.kernelVersion) from --kernel-root") == true, "\(step.ran)")
        #expect(step.found.first?.detail == "e2fsck -fn exits 0: the filesystem is clean", "\(step.found)")
        #expect(!withGuest.errors.contains { $0.step == "check the filesystem in a template guest" })
        #expect(withGuest.errors.contains { $0.step == "boot the disk in QEMU" })
        #expect(try Self.sha256(disk) == before, "the diagnosis wrote the disk")
    }
}
