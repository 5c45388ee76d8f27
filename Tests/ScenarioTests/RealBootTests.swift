import Foundation
import Testing
import TestSupport

/// The loop the product exists for, on real boots with nobody at the console: a copy of the
/// real GRUB disk (scripts/make-grub-disk) with clarity-heal installed from its `.deb`,
/// broken offline, powered on in QEMU (SeaBIOS, GRUB from the MBR, TCG). The test presses
/// the power button, reads the serial log, and afterwards reads the disk.
///
/// Nested in the microVM suite, which is serialized: one TCG guest at a time on the shared
/// host, so no boot runs out of time because another one took the CPUs.
extension MicroVMScenarioTests {
@Suite(.timeLimit(.minutes(40)))
struct RealBootTests {
    /// Every boot of the Debian test root's kernel, in GRUB's and clarity-heal's words.
    static let grubMenu = "GNU GRUB"
    static let normalEntry = "Booting `Debian GNU/Linux'"
    static let recoveryEntry = "clarity-heal: loading Linux"

    /// A copy of the GRUB disk with the package installed by dpkg (postinst: the initramfs
    /// and grub.cfg rebuilt), and `configure` run on it chrooted, as the machine's admin
    /// would set it up; then `breakIt`, offline, as the failure leaves the disk.
    static func installedDisk(in scratch: TemporaryDirectory, configure: (GrubDisk) throws -> Void = { _ in },
                              breakIt: (GrubDisk) throws -> Void = { _ in }) throws -> String {
        let deb = try #require(GrubDisk.package, "scripts/package has not run")
        let image = scratch.path + "/disk.img"
        try GrubDisk.copy(to: image)
        let disk = try GrubDisk(image: image, mountPoint: scratch.path + "/m")
        defer { disk.close() }
        #expect(try Tool.run("/bin/cp", [deb, disk.at("/root/clarity-heal.deb")]).status == 0)
        let install = try disk.chroot(["dpkg", "-i", "/root/clarity-heal.deb"], environment: ["SOURCE_DATE_EPOCH": GrubDisk.sourceDateEpoch])
        try #require(install.status == 0, "\(install.stdout)\n\(install.stderr)")
        _ = try Tool.run("/bin/rm", [disk.at("/root/clarity-heal.deb")])
        try configure(disk)
        try breakIt(disk)
        return image
    }

    /// Reads the disk after the machine was powered off: `body` gets the mounted root.
    static func afterwards(_ image: String, in scratch: TemporaryDirectory, _ body: (GrubDisk) throws -> Void) throws {
        let disk = try GrubDisk(image: image, mountPoint: scratch.path + "/after")
        defer { disk.close() }
        try body(disk)
    }

    /// `clarity-heal` of this build run on the powered-off disk's root (`--root`).
    static func clarityHeal(_ arguments: [String], on disk: GrubDisk) throws -> Tool.Result {
        try Tool.run(Tool.clarityHeal, arguments + ["--root", disk.mountPoint])
    }

    static func grubenv(_ disk: GrubDisk) throws -> String {
        try Tool.run("/usr/bin/grub-editenv", [disk.at("/boot/grub/grubenv"), "list"]).stdout
    }

    @Test func aHealthyMachineBootsItsNormalEntryAndTheCounterIsReset() throws {
        try #require(GrubDisk.isBuilt, "scripts/make-grub-disk has not run")
        let scratch = try TemporaryDirectory(prefix: "realboot")
        let image = try Self.installedDisk(in: scratch)
        let run = try PoweredMachine(disk: image).run(
            until: [Self.grubMenu, "clarity-heal: repair this system", Self.normalEntry,
                    "this boot is not after a repair; nothing to verify", "a good boot: boot counter reset"],
            deadline: 300, log: scratch.path + "/console.log")
        #expect(run.missed == nil, "missed \(run.missed ?? ""): \(run.console.suffix(3000))")
        #expect(!run.console.contains(Self.recoveryEntry))
        try Self.afterwards(image, in: scratch) { (disk: GrubDisk) throws in
            #expect(try Self.grubenv(disk).contains("clarity_heal_attempts=0"))
        }
    }

    /// A module that Oopses in its init, loaded by modules-load.d, on a machine that panics
    /// on an Oops and keeps crash records in ramoops: the boot panics and reboots
    /// (panic=10), GRUB boots the recovery entry by itself, the initramfs archives the
    /// pstore record and `heal` names the module, repairs, applies and reboots; the normal
    /// entry then comes up and `verify` records the fix good.
    @Test func aKernelPanicAtBootIsHealedAcrossRealReboots() throws {
        try #require(GrubDisk.isBuilt, "scripts/make-grub-disk has not run")
        let module = try Tool.run(TestRoot.repository + "/scripts/make-oops-module", [])
        try #require(module.status == 0, "make-oops-module: \(module.stderr)")
        let scratch = try TemporaryDirectory(prefix: "realboot")
        let version = TestRoot.kernelVersion
        let image = try Self.installedDisk(in: scratch, configure: { disk in
            // The machine's own settings: panic on an Oops, and a ramoops region (reserved
            // with memmap=, loaded from the initramfs) that keeps the crash across the reset.
            let grub = disk.at("/etc/default/grub")
            var text = try String(contentsOfFile: grub, encoding: .utf8)
            text = text.split(separator: "\n").filter { !$0.hasPrefix("GRUB_CMDLINE_LINUX=") }.joined(separator: "\n")
            text += "\nGRUB_CMDLINE_LINUX='console=ttyS0 oops=panic memmap=1M\\$0x10000000 ramoops.mem_address=0x10000000 ramoops.mem_size=0x100000'\n"
            try text.write(toFile: grub, atomically: true, encoding: .utf8)
            let modules = try FileHandle(forWritingTo: URL(fileURLWithPath: disk.at("/etc/initramfs-tools/modules")))
            modules.seekToEndOfFile()
            modules.write(Data("ramoops\n".utf8))
            try modules.close()
            for command in [["update-initramfs", "-u", "-k", "all"], ["update-grub"]] {
                let run = try disk.chroot(command, environment: ["SOURCE_DATE_EPOCH": GrubDisk.sourceDateEpoch])
                try #require(run.status == 0, "\(command): \(run.stderr)")
            }
        }, breakIt: { disk in
            try FileManager.default.createDirectory(atPath: disk.at("/lib/modules/\(version)/extra"), withIntermediateDirectories: true)
            #expect(try Tool.run("/bin/cp", [module.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                                             disk.at("/lib/modules/\(version)/extra/clarity_oops.ko")]).status == 0)
            #expect(try Tool.run("/sbin/depmod", ["-b", disk.mountPoint, version]).status == 0)
            try "clarity_oops\n".write(toFile: disk.at("/etc/modules-load.d/clarity.conf"), atomically: true, encoding: .utf8)
        })

        let run = try PoweredMachine(disk: image).run(
            until: [Self.normalEntry, "Kernel panic - not syncing", "Rebooting in 10 seconds",
                    Self.recoveryEntry, "clarity-heal: archived pstore record", "clarity-heal: reboot now",
                    Self.normalEntry, "the fix holds: recorded good"],
            deadline: 1800, log: scratch.path + "/console.log")
        #expect(run.missed == nil, "missed \(run.missed ?? ""): \(run.console.suffix(4000))")
        #expect(run.console.contains("Oops in module clarity_oops") || run.console.contains("module clarity_oops"))
        for (pattern, seconds) in run.reached { print("real boot: \(Int(seconds)) s  \(pattern)") }

        try Self.afterwards(image, in: scratch) { (disk: GrubDisk) throws in
            #expect(try Self.grubenv(disk).contains("clarity_heal_attempts=0"))
            let status = try Self.clarityHeal(["status", "--json"], on: disk)
            #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
            let history = try Self.clarityHeal(["history"], on: disk)
            #expect(history.stdout.contains("kernel-panic"), "\(history.stdout)")
            #expect(history.stdout.contains("good"), "\(history.stdout)")
            let archived = try FileManager.default.subpathsOfDirectory(atPath: disk.at("/var/lib/clarity-heal/pstore"))
            #expect(archived.contains { $0.hasSuffix("dmesg-ramoops-0") || $0.hasSuffix("dmesg-ramoops-1") }, "\(archived)")
        }
    }
}
}
