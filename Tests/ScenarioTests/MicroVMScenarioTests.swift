import Foundation
import HealCore
import Logging
import Testing
import TestSupport
@testable import HealSystem

/// Repairs proven by booting them: real disk images of the Debian test root, its own
/// kernel and initramfs, QEMU (TCG here: nested KVM hangs, the probe falls back). Each
/// boot takes 30-120 s, so the suite runs one boot at a time.
@Suite(.serialized) struct MicroVMScenarioTests {
    /// A disk image of the test root with `breaking` applied to a copy first. The image has
    /// a UUID and label of its own (fstab and grub.cfg follow): other suites running at the
    /// same time resolve the test root's UUID among the host's block devices, and a loop
    /// device held for minutes by a boot must not be a second match.
    static func disk(_ directory: TemporaryDirectory, _ breaking: (OverlayCopy) throws -> Void) throws -> String {
        let broken = try TestRoot.writableCopy()
        let uuid = ScenarioDisk.uuid()
        for file in ["/etc/fstab", "/boot/grub/grub.cfg"] {
            let text = try String(contentsOfFile: broken.at(file), encoding: .utf8)
            try text.replacingOccurrences(of: TestRoot.rootUUID, with: uuid)
                .write(toFile: broken.at(file), atomically: false, encoding: .utf8)
        }
        try breaking(broken)
        let disk = directory.path + "/disk.img"
        try ScenarioDisk.run("/usr/bin/truncate", ["-s", "2G", disk])
        try ScenarioDisk.run("/sbin/mkfs.ext4", ["-q", "-F", "-L", "clarity-vm", "-U", uuid, "-d", broken.path, disk])
        return disk
    }

    /// The demo's fstab typo: a data disk by a label no disk has. systemd waits 90 s for
    /// the device, then drops to its emergency shell.
    static func fstabTypo(_ copy: OverlayCopy) throws {
        let fstab = copy.at("/etc/fstab")
        let text = try String(contentsOfFile: fstab, encoding: .utf8)
        try (text + "LABEL=dtaa  /srv/data  ext4  defaults  0  2\n").write(toFile: fstab, atomically: false, encoding: .utf8)
    }

    static func sha256(_ path: String) throws -> String {
        try ScenarioDisk.run("/usr/bin/sha256sum", [path]).stdout
    }

    /// A plain boot of `disk` as it is (no changes), with the probe.
    static func plainBoot(_ disk: String, in directory: TemporaryDirectory) throws -> GuestBoot.Outcome {
        let folder = directory.path + "/boot"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let kernel = TestRoot.root + "/boot/vmlinuz-" + TestRoot.kernelVersion
        let hypervisor = try Hypervisor.find(kernel: kernel, scratch: folder)
        return try GuestBoot.boot(.init(disk: disk, probe: GuestProbe(nonce: GuestProbe.makeNonce(), stabilitySeconds: 5),
                                        hypervisor: hypervisor, folder: folder, memoryMiB: 1024,
                                        logger: Logger(label: "test")))
    }

    struct Output: Decodable {
        struct Check: Decodable { var name: String; var status: String; var detail: String; var evidence: [String] }
        struct Attempt: Decodable { var strategy: String; var validated: Bool; var checks: [Check] }
        var status: String
        var environment: String?
        var attempts: [Attempt]
        var fixPackage: String?
    }

    /// `repair --disk DISK --environment microvm --json`: its exit status and document.
    static func repair(_ disk: String, out: TemporaryDirectory, in directory: TemporaryDirectory) throws -> (status: Int32, output: Output, text: String) {
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--disk", disk, "--environment", "microvm",
                                                     "--out", out.path, "--scratch", directory.path + "/scratch", "--json"])
        return (result.status, try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8)), result.stdout + result.stderr)
    }

    /// `repair --disk --environment microvm` exits 1 with a fix by `strategy` whose boot and
    /// stability checks passed, and the disk still hashes to `before`.
    static func repairProvenByBoot(_ disk: String, strategy: String, out: TemporaryDirectory, in directory: TemporaryDirectory,
                                   before: String) throws -> (output: Output, text: String) {
        let (status, output, text) = try Self.repair(disk, out: out, in: directory)
        #expect(status == 1, "\(text)")
        #expect(output.environment == "microvm")
        let validated = try #require(output.attempts.first { $0.validated }, "\(text)")
        #expect(validated.strategy == strategy, "\(text)")
        let boot = try #require(validated.checks.first { $0.name == "boot" })
        #expect(boot.status == "passed", "\(boot.detail)")
        #expect(boot.evidence.contains { $0.contains("clarity-heal-probe") && $0.hasSuffix(" ready") })
        #expect(validated.checks.first { $0.name == "stability" }?.status == "passed")
        #expect(try Self.sha256(disk) == before, "repair wrote the disk")
        return (output, text)
    }

    @Test func aBrokenFstabFailsToBootTheRepairIsBootedAndTheAppliedDiskBoots() throws {
        let directory = try TemporaryDirectory(prefix: "microvm")
        let disk = try Self.disk(directory, Self.fstabTypo)
        let before = try Self.sha256(disk)

        // The broken disk does not boot: the console says why.
        let broken = try Self.plainBoot(disk, in: directory)
        let brokenVerdict = BootVerdict(console: broken.console, end: broken.run.end, emulated: true, excerpt: []).checks[0]
        #expect(brokenVerdict.verdict == .failed)
        #expect(broken.console.emergency, "\(broken.run.console.suffix(2000))")
        #expect(broken.run.console.contains("Timed out waiting for device"))
        #expect(broken.run.console.contains("/dev/disk/by-label/dtaa"))

        // repair boots what it validates; the disk is only read.
        let out = try TemporaryDirectory(prefix: "fixes")
        let output = try Self.repairProvenByBoot(disk, strategy: "fstab-add-nofail", out: out, in: directory, before: before).output

        // Applied to the disk, it boots to its default target without the probe's layer.
        let package = try #require(output.fixPackage)
        // The package keeps the validation boot's whole console.
        let console = try #require(try FixPackage.open(package).bootConsole())
        #expect(console.contains("clarity-heal-probe") && console.contains(" ready"), "\(console.suffix(2000))")
        do {
            let mount = try ScenarioMount(image: disk, at: directory.path + "/mnt")
            let apply = try Tool.run(Tool.clarityHeal, ["apply", package, "--root", mount.path, "--json"])
            #expect([0, 1].contains(apply.status), "\(apply.stdout)\(apply.stderr)")
            // `report` shows it, read from the copy apply kept on the disk.
            let fix = String(package.split(separator: "/").last ?? "")
            let report = try Tool.run(Tool.clarityHeal, ["report", fix, "--root", mount.path, "--json"])
            struct Shown: Decodable { struct Console: Decodable { var lines: Int; var tail: [String] }; var bootConsole: Console? }
            let shown = try JSONDecoder().decode(Shown.self, from: Data(report.stdout.utf8))
            #expect(shown.bootConsole?.tail.contains { $0.hasPrefix("clarity-heal-probe") && $0.contains(" stable") } == true,
                    "\(report.stdout)")
            let markdown = try Tool.run(Tool.clarityHeal, ["report", fix, "--root", mount.path])
            #expect(markdown.stdout.contains("## Boot console"))
        }
        let repaired = try Self.plainBoot(disk, in: directory)
        let checks = BootVerdict(console: repaired.console, end: repaired.run.end, emulated: true, excerpt: []).checks
        #expect(checks.map(\.verdict) == [.passed, .passed], "\(repaired.run.console.suffix(3000))")
    }

    @Test func aSiteCheckThatFailsInsideTheGuestFailsTheValidation() throws {
        let directory = try TemporaryDirectory(prefix: "microvm")
        let disk = try Self.disk(directory) { copy in
            try Self.fstabTypo(copy)
            let checks = copy.at("/etc/clarity-heal/health.d")
            try FileManager.default.createDirectory(atPath: checks, withIntermediateDirectories: true)
            // A site check: the data disk must be mounted, which no fstab repair can give.
            try "#!/bin/sh\nmountpoint -q /srv/data\n".write(toFile: checks + "/20-data-mounted", atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: checks + "/20-data-mounted")
        }
        let out = try TemporaryDirectory(prefix: "fixes")
        let (status, output, text) = try Self.repair(disk, out: out, in: directory)
        #expect(status == 4, "\(text)")
        #expect(output.status == "unrepairable")
        let booted = output.attempts.filter { !$0.checks.isEmpty }
        #expect(booted.count >= 1)
        for attempt in booted {
            let boot = try #require(attempt.checks.first { $0.name == "boot" })
            #expect(boot.status == "failed")
            #expect(boot.detail.hasPrefix("site check 20-data-mounted failed inside the guest (exit 1)"), "\(boot.detail)")
            // The static checks passed: only the boot told.
            #expect(attempt.checks.filter { $0.status == "failed" }.map(\.name) == ["boot"])
        }
    }

    /// A disk that panics on every boot: an out-of-tree module that Oopses in its init
    /// (scripts/make-oops-module), loaded from modules-load.d, on a kernel line with
    /// `oops=panic`; no crash record on the disk, only GRUB's attempt counter.
    static func panicsAtBoot(_ copy: OverlayCopy) throws {
        let module = try Tool.run(TestRoot.repository + "/scripts/make-oops-module", [])
        try #require(module.status == 0, "make-oops-module: \(module.stderr)")
        let tree = copy.at("/lib/modules/\(TestRoot.kernelVersion)")
        try FileManager.default.createDirectory(atPath: tree + "/extra", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: module.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                                         toPath: tree + "/extra/clarity_oops.ko")
        try ScenarioDisk.run("/sbin/depmod", ["-b", copy.path, TestRoot.kernelVersion])
        try "clarity_oops\n".write(toFile: copy.at("/etc/modules-load.d/clarity.conf"), atomically: false, encoding: .utf8)
        let grub = try String(contentsOfFile: copy.at("/boot/grub/grub.cfg"), encoding: .utf8)
        try grub.replacingOccurrences(of: " ro console=ttyS0", with: " ro oops=panic console=ttyS0")
            .write(toFile: copy.at("/boot/grub/grub.cfg"), atomically: false, encoding: .utf8)
        try BootScenario.editenv(copy, ["set", "clarity_heal_attempts=2"])
    }

    struct DiagnosisOutput: Decodable {
        struct Cause: Decodable { var `class`: String; var specifics: [String: String] }
        struct Step: Decodable { var name: String; var found: [Evidence] }
        struct Evidence: Decodable { var source: String; var detail: String }
        var rootCause: Cause?
        var steps: [Step]
    }

    @Test func aDiskThatPanicsAtBootIsDiagnosedByBootingIt() throws {
        let directory = try TemporaryDirectory(prefix: "microvm")
        let disk = try Self.disk(directory, Self.panicsAtBoot)
        let before = try Self.sha256(disk)

        // The offline scan sees only the failed boots.
        let offline = try Tool.run(Tool.clarityHeal, ["diagnose", "--disk", disk, "--scratch", directory.path + "/scratch", "--json"])
        let scanned = try JSONDecoder().decode(DiagnosisOutput.self, from: Data(offline.stdout.utf8))
        #expect(scanned.rootCause?.class != "kernel-panic", "\(offline.stdout)")

        let booted = try Tool.run(Tool.clarityHeal, ["diagnose", "--disk", disk, "--boot", "--scratch", directory.path + "/scratch", "--json"])
        #expect(booted.status == 1, "\(booted.stderr)")
        let diagnosis = try JSONDecoder().decode(DiagnosisOutput.self, from: Data(booted.stdout.utf8))
        let first = try #require(diagnosis.steps.first)
        #expect(first.name == "boot the disk in QEMU")
        #expect(first.found.first?.detail.hasPrefix("a boot of the disk panicked: Fatal exception") == true, "\(first.found)")
        #expect(first.found.first?.detail.contains("(in module clarity_oops)") == true)
        #expect(diagnosis.rootCause?.class == "kernel-panic", "\(booted.stdout)")
        #expect(diagnosis.rootCause?.specifics["module"] == "clarity_oops")
        // The plan went on from the module the console named.
        #expect(diagnosis.steps.contains { $0.name.contains("clarity_oops") })
        #expect(try Self.sha256(disk) == before, "the boot wrote the disk")
    }

    /// The panic seen only on the console, repaired and proven like every class: the
    /// broken disk panics; the fix boots; applied, the disk boots. modules-load.d reads the
    /// root's modprobe.d, so the least change (module-blacklist-modprobe) is enough, and the
    /// boot is what shows it.
    @Test func aPanicSeenOnlyOnTheConsoleIsRepairedAndTheRepairBoots() throws {
        try Self.provenByBoot(Self.panicsAtBoot, strategy: "module-blacklist-modprobe") { result in
            let broken = try Self.outcome(result)
            #expect(broken.console.panicSignature?.faultingModule == "clarity_oops", "\(broken.run.console.suffix(2000))")
        }
    }

    /// The same module, loaded by the initramfs (/etc/initramfs-tools/modules, the image
    /// rebuilt) instead of modules-load.d: it panics before the root is mounted.
    static func panicsInTheInitramfs(_ copy: OverlayCopy) throws {
        try panicsAtBoot(copy)
        try FileManager.default.removeItem(atPath: copy.at("/etc/modules-load.d/clarity.conf"))
        let modules = copy.at("/etc/initramfs-tools/modules")
        let listed = (try? String(contentsOfFile: modules, encoding: .utf8)) ?? ""
        try (listed + "clarity_oops\n").write(toFile: modules, atomically: false, encoding: .utf8)
        // Rebuilt the way the machine would: update-initramfs chrooted in a clone of the copy.
        let scratch = try TemporaryDirectory(prefix: "initramfs")
        let environment = try OverlayEnvironment(lower: try SystemRoot(copy.path), scratch: scratch.path + "/env")
        defer { environment.tearDown() }
        let initrd = "/boot/initrd.img-" + TestRoot.kernelVersion
        let result = try environment.run(["/usr/sbin/update-initramfs", "-u", "-k", TestRoot.kernelVersion])
        try #require(result.status == 0, "\(result.errorOutput)")
        let image = try Initramfs(path: environment.root.host(initrd))
        try #require(try image.entries().contains { $0.path.hasSuffix("/clarity_oops.ko") })
        try FileManager.default.removeItem(atPath: copy.at(initrd))
        try FileManager.default.copyItem(atPath: environment.root.host(initrd), toPath: copy.at(initrd))
    }

    /// A strategy that passes every static check but fails the boot, for real: the
    /// blacklist in /etc/modprobe.d alone (module-blacklist-modprobe) leaves the
    /// initramfs's copy of modprobe.d without it, and the initramfs still loads the module.
    /// The boot panics; the clone is restored and the whole blacklist (the command line,
    /// the initramfs rebuilt) is booted and validated.
    @Test func aBlacklistTheInitramfsDoesNotSeeFailsTheBootAndTheWholeBlacklistBoots() throws {
        let directory = try TemporaryDirectory(prefix: "microvm")
        let disk = try Self.disk(directory, Self.panicsInTheInitramfs)
        let before = try Self.sha256(disk)
        let out = try TemporaryDirectory(prefix: "fixes")
        let (status, output, text) = try Self.repair(disk, out: out, in: directory)
        #expect(status == 1, "\(text)")
        let tried = output.attempts.filter { !$0.checks.isEmpty }
        #expect(tried.map(\.strategy) == ["module-blacklist-modprobe", "module-blacklist"], "\(text)")
        let first = try #require(tried.first)
        #expect(!first.validated)
        #expect(first.checks.filter { $0.status == "failed" }.map(\.name) == ["boot"], "\(first.checks)")
        let boot = try #require(first.checks.first { $0.name == "boot" })
        #expect(boot.detail.contains("panic"), "\(boot.detail)")
        #expect(boot.evidence.contains { $0.contains("clarity_oops") }, "\(boot.evidence)")
        let second = try #require(tried.last)
        #expect(second.validated)
        #expect(second.checks.first { $0.name == "boot" }?.status == "passed", "\(second.checks)")
        #expect(second.checks.first { $0.name == "stability" }?.status == "passed")
        #expect(try Self.sha256(disk) == before, "repair wrote the disk")
    }
}
