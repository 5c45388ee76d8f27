import Foundation
import HealCore
import Testing
import TestSupport
@testable import HealSystem

/// One failure class after another, each on its own real disk image of the Debian test
/// root: the broken disk does not boot (the console, or the boot itself, says why);
/// `repair --disk --environment microvm` writes a fix whose `boot` and `stability` checks
/// passed without writing a byte of the disk; after `apply`, a plain boot of the disk
/// reaches its default target. In MicroVMScenarioTests' suite, so boots run one at a time.
extension MicroVMScenarioTests {
    /// How the fix is applied to the disk: file changes on the disk mounted read-write
    /// (`apply --root`), a filesystem repair on the unmounted disk (`apply --device`, the
    /// state kept in a folder of its own).
    enum Applying { case files, filesystem }

    /// The whole round for one class. `damage` breaks the image after it is made (for what
    /// only a block-level tool can do); `broken` checks what the boot of the broken disk
    /// showed (or why it could not start).
    /// `aftermath` writes what the failed boot left on a real machine (a crash record that
    /// systemd-pstore would have archived) into the unmounted disk; `repairOutput` looks at
    /// what `repair --json` printed; `repaired` at the disk after the fix was applied to it
    /// (mounted, for `.files`).
    static func provenByBoot(_ breaking: (OverlayCopy) throws -> Void, damage: (String) throws -> Void = { _ in },
                             strategy: String, applying: Applying = .files,
                             aftermath: (String, GuestBoot.Outcome) throws -> Void = { _, _ in },
                             repairOutput: (String) throws -> Void = { _ in },
                             repaired: (String) throws -> Void = { _ in },
                             broken: (Result<GuestBoot.Outcome, MicroVMError>) throws -> Void) throws {
        let directory = try TemporaryDirectory(prefix: "microvm")
        let disk = try Self.disk(directory, breaking)
        try damage(disk)
        var before = try Self.sha256(disk)

        let brokenBoot: Result<GuestBoot.Outcome, MicroVMError>
        do { brokenBoot = .success(try Self.plainBoot(disk, in: directory)) } catch let error as MicroVMError {
            brokenBoot = .failure(error)
        }
        if case .success(let outcome) = brokenBoot {
            let verdict = BootVerdict(console: outcome.console, end: outcome.run.end, emulated: true, excerpt: []).checks[0]
            #expect(verdict.verdict == .failed, "the broken disk booted: \(outcome.run.console.suffix(2000))")
        }
        try broken(brokenBoot)
        #expect(try Self.sha256(disk) == before, "the boot wrote the disk")
        if case .success(let outcome) = brokenBoot {
            try aftermath(disk, outcome)
            before = try Self.sha256(disk)
        }

        let out = try TemporaryDirectory(prefix: "fixes")
        let (output, text) = try Self.repairProvenByBoot(disk, strategy: strategy, out: out, in: directory, before: before)
        try repairOutput(text)

        let package = try #require(output.fixPackage)
        switch applying {
        case .files:
            let mount = try ScenarioMount(image: disk, at: directory.path + "/mnt")
            let apply = try Tool.run(Tool.clarityHeal, ["apply", package, "--root", mount.path, "--json"])
            #expect([0, 1].contains(apply.status), "\(apply.stdout)\(apply.stderr)")
            try repaired(mount.path)
        case .filesystem:
            let state = try TemporaryDirectory(prefix: "state")
            let apply = try Tool.run(Tool.clarityHeal, ["apply", package, "--root", state.path, "--device", disk, "--json"])
            #expect([0, 1].contains(apply.status), "\(apply.stdout)\(apply.stderr)")
            #expect(try Tool.run("e2fsck", ["-fn", disk]).status == 0)
        }
        let repaired = try Self.plainBoot(disk, in: directory)
        let checks = BootVerdict(console: repaired.console, end: repaired.run.end, emulated: true, excerpt: []).checks
        #expect(checks.map(\.verdict) == [.passed, .passed], "\(repaired.run.console.suffix(3000))")
    }

    static func outcome(_ result: Result<GuestBoot.Outcome, MicroVMError>) throws -> GuestBoot.Outcome {
        switch result {
        case .success(let outcome): return outcome
        case .failure(let error): Issue.record("the broken disk could not be booted: \(error)"); throw error
        }
    }

    /// `initramfs-corrupt`: the initrd cut in half (a copy interrupted by a full /boot).
    /// The kernel unpacks what it can ("Initramfs unpacking failed"): /init runs without
    /// udev and blkid, the root device never appears, and the boot ends in its shell.
    @Test func aCorruptInitramfsIsRebuiltAndTheRebuiltOneBoots() throws {
        try Self.provenByBoot({ copy in
            let initrd = copy.at("/boot/initrd.img-" + TestRoot.kernelVersion)
            let size = try #require(try FileManager.default.attributesOfItem(atPath: initrd)[.size] as? Int)
            try ScenarioDisk.run("/usr/bin/truncate", ["-s", "\(size / 2)", initrd])
        }, strategy: "initramfs-regenerate") { result in
            let broken = try Self.outcome(result)
            #expect(broken.run.console.contains("Initramfs unpacking failed"), "\(broken.run.console.suffix(2000))")
            #expect(broken.console.rootDeviceMissing != nil, "\(broken.run.console.suffix(2000))")
        }
    }

    /// Issue 13: the kernel's own account of a root it could not mount. The initramfs lost
    /// its main part (a copy cut at the boundary after the early microcode cpio): what is
    /// left unpacks, but has no /init and no driver for the disk (virtio_mmio and virtio_blk
    /// are modules in Debian's cloud kernel), so the kernel tries the root itself and panics
    /// with "VFS: Unable to mount root fs". That console, kept as the crash record the next
    /// boot would archive, is routed to the root device, the initramfs and its drivers;
    /// `repair` rebuilds the image, and the rebuilt one carries the driver and boots.
    @Test func aRootMountPanicFromTheDisksOwnBootLeadsToAnInitramfsWithItsDriver() throws {
        let kernel = TestRoot.kernelVersion
        try Self.provenByBoot({ copy in
            let initrd = copy.at("/boot/initrd.img-" + kernel)
            try ScenarioDisk.run("/bin/sh", ["-c", """
                set -e; early=$(mktemp -d); mkdir -p "$early/kernel/x86/microcode"
                head -c 4096 /dev/zero > "$early/kernel/x86/microcode/GenuineIntel.bin"
                (cd "$early" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$1"; rm -rf "$early"
                """, "sh", initrd])
        }, strategy: "initramfs-regenerate", aftermath: { disk, boot in
            // The panic as the next boot's systemd-pstore archives a ramoops record: its
            // header, then the kernel's log (here the console's lines, as the kernel printed them).
            let lines = boot.run.console.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { $0.hasPrefix("[") }.joined(separator: "\n")
            do {
                let mount = try ScenarioMount(image: disk, at: disk + ".mnt")
                try FileManager.default.createDirectory(atPath: mount.path + "/var/lib/systemd/pstore", withIntermediateDirectories: true)
                try ("Panic#1 Part1\n" + lines + "\n").write(toFile: mount.path + "/var/lib/systemd/pstore/dmesg-ramoops-0",
                                                            atomically: false, encoding: .utf8)
            }
            // diagnose says where the crash leads, and why.
            let diagnose = try Tool.run(Tool.clarityHeal, ["diagnose", "--disk", disk, "--scratch", disk + ".scratch"])
            #expect(diagnose.stdout.contains("VFS: Unable to mount root fs"), "\(diagnose.stdout)\(diagnose.stderr)")
            #expect(diagnose.stdout.contains(Self.rootMountRoute), "\(diagnose.stdout)")
        }, repairOutput: { text in
            #expect(text.contains(Self.rootMountRoute), "\(text.prefix(6000))")
        }, repaired: { root in
            let image = try Initramfs(path: root + "/boot/initrd.img-" + kernel)
            let paths = try image.entries().map(\.path)
            for driver in ["virtio_blk.ko", "virtio_mmio.ko"] {
                #expect(paths.contains { $0.hasSuffix("/" + driver) }, "\(driver) is not in the rebuilt image")
            }
        }) { result in
            let broken = try Self.outcome(result)
            let console = broken.run.console
            #expect(console.contains("Kernel panic - not syncing: VFS: Unable to mount root fs"), "\(console.suffix(2000))")
            #expect(broken.console.panicSignature?.crashKind == .rootMount)
            #expect(broken.console.panicSignature?.kernelVersion == kernel)
        }
    }

    static let rootMountRoute = "routed to root-device-mismatch, initramfs-missing-driver, initramfs-missing, initramfs-corrupt"

    /// `root-device-mismatch`: every `root=` of grub.cfg names a filesystem UUID no disk
    /// has (a root filesystem recreated, the boot entries not regenerated). The initramfs
    /// waits for it, gives up and drops to its shell.
    @Test func aRootThatNamesNoDeviceIsPointedAtTheRootFilesystemAndBoots() throws {
        try Self.provenByBoot({ copy in
            let grub = copy.at("/boot/grub/grub.cfg")
            let text = try String(contentsOfFile: grub, encoding: .utf8)
            let uuid = try #require(text.firstMatch(of: /root=UUID=([0-9a-f-]+)/)?.1)
            try text.replacingOccurrences(of: "root=UUID=\(uuid)", with: "root=UUID=\(ScenarioDisk.uuid())")
                .write(toFile: grub, atomically: false, encoding: .utf8)
        }, strategy: "root-device-fix-cmdline") { result in
            let broken = try Self.outcome(result)
            #expect(broken.console.rootDeviceMissing != nil, "\(broken.run.console.suffix(2000))")
            #expect(broken.run.console.contains("does not exist"))
        }
    }

    /// `bootloader-default-invalid`: the default entry (grub.cfg's first) names a kernel
    /// that is no longer on the disk (removed, its menu not regenerated); GRUB would stop at
    /// "file not found". The boot fails before QEMU starts, naming the missing kernel.
    @Test func aDefaultEntryWithoutItsKernelIsRepointedAndTheRepointedEntryBoots() throws {
        try Self.provenByBoot({ copy in
            let grub = copy.at("/boot/grub/grub.cfg")
            let text = try String(contentsOfFile: grub, encoding: .utf8)
            // Only the first entry: the ones under "Advanced options" stay intact.
            let first = try #require(text.range(of: "submenu "))
            let head = String(text[..<first.lowerBound]).replacingOccurrences(of: TestRoot.kernelVersion, with: "6.1.0-49-cloud-amd64")
            try (head + text[first.lowerBound...]).write(toFile: grub, atomically: false, encoding: .utf8)
        }, strategy: "boot-default-repoint") { result in
            guard case .failure(.unbootable(let why)) = result else {
                Issue.record("the broken disk was booted: \(result)")
                return
            }
            #expect(why.contains("/boot/vmlinuz-6.1.0-49-cloud-amd64"), "\(why)")
        }
    }

    /// `filesystem-errors` on the root filesystem itself: two files claim the same block
    /// and the superblock says "with errors". Preening (`fsck -a`) cannot fix that (exit
    /// 4): systemd-fsck-root fails and the boot stops; the repair is `e2fsck -fy` on a block-level
    /// snapshot, and the snapshot is what the validation boots.
    @Test func rootFilesystemErrorsAreRepairedOnASnapshotAndTheSnapshotBoots() throws {
        try Self.provenByBoot({ copy in
            try FileManager.default.createDirectory(atPath: copy.at("/srv/shared"), withIntermediateDirectories: true)
            try String(repeating: "a", count: 4096).write(toFile: copy.at("/srv/shared/a"), atomically: false, encoding: .utf8)
            try String(repeating: "a", count: 4096).write(toFile: copy.at("/srv/shared/b"), atomically: false, encoding: .utf8)
        }, damage: { disk in
            // The extent of b (i_block[5]: the low 32 bits of the first extent's start) is
            // pointed at a's block.
            let block = try ScenarioDisk.run("debugfs", ["-R", "bmap /srv/shared/a 0", disk]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try ScenarioDisk.run("debugfs", ["-w", "-R", "set_inode_field /srv/shared/b block[5] \(block)", disk])
            try ScenarioDisk.run("debugfs", ["-w", "-R", "ssv state 3", disk])
            #expect(try Tool.run("e2fsck", ["-fn", disk]).status == 4)
        }, strategy: "e2fsck-repair", applying: .filesystem) { result in
            // The initramfs leaves the check to systemd (`fsck -a` is not in it here):
            // systemd-fsck-root fails and the boot ends in the emergency shell.
            let broken = try Self.outcome(result)
            #expect(broken.console.emergency, "\(broken.run.console.suffix(2000))")
            #expect(broken.run.console.contains("File System Check on Root Device"), "\(broken.console.consoleFailures)")
        }
    }
}
