import Foundation
import Testing
import TestSupport

/// The loop the product exists for, on real boots with nobody at the console: a copy of the
/// real GRUB disk (scripts/make-grub-disk) with clarity-heal installed from its `.deb`,
/// broken offline, powered on in QEMU (SeaBIOS, GRUB from the MBR, TCG). The test presses
/// the power button, reads the serial log, and afterwards reads the disk.
///
/// Serialized: one GRUB machine at a time. It runs beside the microVM suite, the other lane
/// of boots: once the other suites are done, each lane has a core of the two-core host to
/// itself, and the whole run is ~25 minutes shorter than with every boot in one queue.
@Suite(.serialized, .timeLimit(.minutes(40)))
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

    /// A healthy machine boots its normal entry, `verify` resets the counter and keeps the
    /// initramfs it came up with for the recovery entry. Later its initramfs is cut short
    /// (a full /boot during an update): the boot fails and reboots, GRUB boots the
    /// recovery entry by itself with the kept initramfs, `heal` rebuilds the broken one,
    /// and the normal entry comes up again and is verified.
    @Test func aHealthyMachineBootsAndLaterHealsACorruptInitramfs() throws {
        try #require(GrubDisk.isBuilt, "scripts/make-grub-disk has not run")
        let scratch = try TemporaryDirectory(prefix: "realboot")
        let image = try Self.installedDisk(in: scratch)
        let healthy = try PoweredMachine(disk: image).run(
            until: [Self.grubMenu, "clarity-heal: repair this system", Self.normalEntry,
                    "this boot is not after a repair; nothing to verify", "a good boot: boot counter reset",
                    "the recovery entry's initramfs kept"],
            deadline: 300, log: scratch.path + "/console.log")
        #expect(healthy.missed == nil, "missed \(healthy.missed ?? ""): \(healthy.console.suffix(3000))")
        #expect(!healthy.console.contains(Self.recoveryEntry))
        let version = TestRoot.kernelVersion
        try Self.afterwards(image, in: scratch) { (disk: GrubDisk) throws in
            #expect(try Self.grubenv(disk).contains("clarity_heal_attempts=0"))
            let initrd = disk.at("/boot/initrd.img-\(version)")
            #expect(FileManager.default.contentsEqual(atPath: initrd, andPath: disk.at("/boot/clarity-heal/initrd.img-\(version)")))
            // Broken offline: the image cut to 40 %.
            let size = try #require(try FileManager.default.attributesOfItem(atPath: initrd)[.size] as? Int)
            #expect(truncate(initrd, off_t(size * 2 / 5)) == 0)
        }

        let run = try PoweredMachine(disk: image).run(
            // Cut short, the image still unpacks an /init without its tools: the root
            // never appears and the initramfs reboots (panic=10); cut in its first part, the
            // kernel itself panics. Either way the boot fails and reboots.
            until: [Self.normalEntry, "Rebooting automatically due to panic= boot argument|Kernel panic - not syncing",
                    Self.recoveryEntry, "with the initramfs of the last good boot", "clarity-heal: reboot now",
                    Self.normalEntry, "the fix holds: recorded good"],
            deadline: 1000, log: scratch.path + "/console-2.log")
        #expect(run.missed == nil, "missed \(run.missed ?? ""): \(run.console.suffix(4000))")
        for (pattern, seconds) in run.reached { print("real boot: \(Int(seconds)) s  \(pattern)") }
        try Self.afterwards(image, in: scratch) { (disk: GrubDisk) throws in
            #expect(try Self.grubenv(disk).contains("clarity_heal_attempts=0"))
            let history = try Self.clarityHeal(["history"], on: disk)
            #expect(history.stdout.contains("initramfs-corrupt") && history.stdout.contains("good"), "\(history.stdout)")
            let listing = try disk.chroot(["lsinitramfs", "/boot/initrd.img-\(version)"])
            #expect(listing.status == 0 && listing.stdout.contains("usr/lib/clarity-heal/clarity-heal.gz"), "\(listing.stderr)")
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
            deadline: 1000, log: scratch.path + "/console.log")
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
            // The panic read from pstore in the recovery boot is named in the fix's report.
            let fix = try #require(run.console.firstMatch(of: /clarity-heal: applied (fix-[^:\s]+)/)?.1)
            let report = try Self.clarityHeal(["report", String(fix)], on: disk).stdout
            #expect(report.contains("clarity_oops") && report.contains("dmesg-ramoops") && report.contains("| verification | good |"),
                    "\(report)")
        }
    }

    /// The settings of a machine nobody watches: reboot by itself (at once), a short wait
    /// in emergency mode, systemd waiting 20 s for a device instead of 90; a site check that
    /// everything fstab lists is mounted; a notify.d hook that keeps each event.
    static func unattended(_ disk: GrubDisk) throws {
        let systemd = disk.at("/etc/systemd/system.conf.d")
        try FileManager.default.createDirectory(atPath: systemd, withIntermediateDirectories: true)
        try "[Manager]\nDefaultDeviceTimeoutSec=20s\n".write(toFile: systemd + "/device-timeout.conf", atomically: true, encoding: .utf8)
        let config = try FileHandle(forWritingTo: URL(fileURLWithPath: disk.at("/etc/clarity-heal/clarity-heal.conf")))
        config.seekToEndOfFile()
        config.write(Data("\n[Reboot]\nPolicy=automatic\nNoticeMinutes=0\nEmergencySeconds=5\n".utf8))
        try config.close()
        let scripts = [
            ("/etc/clarity-heal/health.d/fstab-mounted", """
                #!/bin/sh
                # This site's rule: what fstab lists is mounted.
                findmnt --fstab --noheadings --output TARGET | while read -r target; do
                  case $target in none|swap) continue ;; esac
                  mountpoint -q "$target" || exit 1
                done

                """),
            ("/etc/clarity-heal/notify.d/keep", """
                #!/bin/sh
                printf '%s\\n' "$CLARITY_HEAL_EVENT_JSON" >>/var/log/clarity-heal-events.log
                sync /var/log/clarity-heal-events.log

                """),
        ]
        for (path, text) in scripts {
            try FileManager.default.createDirectory(atPath: disk.at((path as NSString).deletingLastPathComponent),
                                                    withIntermediateDirectories: true)
            try text.write(toFile: disk.at(path), atomically: true, encoding: .utf8)
            #expect(chmod(disk.at(path), 0o755) == 0)
        }
    }

    /// Broken offline: an fstab line for /srv/data whose device no disk has.
    static func addUnresolvableDataMount(_ disk: GrubDisk) throws {
        let fstab = try FileHandle(forWritingTo: URL(fileURLWithPath: disk.at("/etc/fstab")))
        fstab.seekToEndOfFile()
        fstab.write(Data("UUID=0badc0de-0000-4000-8000-00000000da7a /srv/data ext4 defaults 0 2\n".utf8))
        try fstab.close()
        try FileManager.default.createDirectory(atPath: disk.at("/srv/data"), withIntermediateDirectories: true)
    }

    /// An fstab line whose device never appears: the boot waits out the device, ends in
    /// emergency mode, and (unattended) reboots by itself; GRUB boots the recovery entry,
    /// `heal` adds nofail. That boot comes up, but the site's check finds the mount
    /// missing: `verify` rolls the fix back and applies the next strategy, the machine
    /// reboots, and that fix is verified good. Every event reached the notify.d hook.
    @Test func anFstabSourceThatNeverAppearsIsHealedAndTheSiteCheckChoosesTheStrategy() throws {
        try #require(GrubDisk.isBuilt, "scripts/make-grub-disk has not run")
        let scratch = try TemporaryDirectory(prefix: "realboot")
        let image = try Self.installedDisk(in: scratch, configure: Self.unattended, breakIt: Self.addUnresolvableDataMount)

        let run = try PoweredMachine(disk: image).run(
            until: [Self.normalEntry, "ended in emergency mode. Rebooting in 5 s",
                    Self.recoveryEntry, "clarity-heal: reboot now",
                    Self.normalEntry, "site:fstab-mounted: exit 1", "retrying without fstab-add-nofail",
                    Self.normalEntry, "the fix holds: recorded good",
                    // The hook has run (and synced what it wrote) before the power goes off.
                    "event fix-verified: logged, wall, notify.d: keep"],
            deadline: 1000, log: scratch.path + "/console.log")
        #expect(run.missed == nil, "missed \(run.missed ?? ""): \(run.console.suffix(4000))")
        for (pattern, seconds) in run.reached { print("real boot: \(Int(seconds)) s  \(pattern)") }

        try Self.afterwards(image, in: scratch) { (disk: GrubDisk) throws in
            #expect(try Self.grubenv(disk).contains("clarity_heal_attempts=0"))
            let fstab = try String(contentsOfFile: disk.at("/etc/fstab"), encoding: .utf8)
            #expect(!fstab.split(separator: "\n").contains { $0.hasPrefix("UUID=0badc0de") }, "\(fstab)")
            let history = try Self.clarityHeal(["history"], on: disk)
            #expect(history.stdout.contains("fstab-add-nofail") && history.stdout.contains("fstab-comment-out"), "\(history.stdout)")
            let status = try Self.clarityHeal(["status"], on: disk)
            #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
            // `report` tells each fix's story: the first failed the site check and was rolled
            // back, the second held.
            let first = try #require(run.console.firstMatch(of: /verifying (fix-\S+) \(fstab-unresolvable-source, fstab-add-nofail\)/)?.1)
            let second = try #require(run.console.firstMatch(of: /applied (fix-\S+) \(fstab-comment-out\)/)?.1)
            let firstReport = try Self.clarityHeal(["report", String(first)], on: disk).stdout
            #expect(firstReport.contains("site:fstab-mounted: failed") && firstReport.contains("| rollback | rolled-back |"), "\(firstReport)")
            let secondReport = try Self.clarityHeal(["report", String(second)], on: disk).stdout
            #expect(secondReport.contains("| verification | good |"), "\(secondReport)")
            let events = try String(contentsOfFile: disk.at("/var/log/clarity-heal-events.log"), encoding: .utf8)
            for event in ["emergency-reboot", "fix-applied", "fix-retrying", "fix-verified"] {
                #expect(events.contains("\"event\":\"\(event)\""), "\(event): \(events)")
            }
        }
    }

    /// The same fstab line on a site whose rule is that /srv/data is mounted: no fix can
    /// pass that check. Each fix's boot comes up and fails it; the first is rolled back and
    /// the next applied; when no strategy is left, verify gives up and leaves the machine
    /// on the last state that booted (the fix is put back: before it the machine did not
    /// boot), with the notice. The next power-on boots the normal entry with nothing to
    /// verify and no recovery entry.
    @Test func aRepairThatNeverPassesTheSiteCheckGivesUpOnTheLastStateThatBooted() throws {
        try #require(GrubDisk.isBuilt, "scripts/make-grub-disk has not run")
        let scratch = try TemporaryDirectory(prefix: "realboot")
        let image = try Self.installedDisk(in: scratch, configure: { disk in
            try Self.unattended(disk)
            let check = disk.at("/etc/clarity-heal/health.d/data-mounted")
            try "#!/bin/sh\n# This site's rule: the data volume is mounted.\nmountpoint -q /srv/data || exit 1\n"
                .write(toFile: check, atomically: true, encoding: .utf8)
            #expect(chmod(check, 0o755) == 0)
        }, breakIt: Self.addUnresolvableDataMount)

        let run = try PoweredMachine(disk: image).run(
            until: [Self.normalEntry, "ended in emergency mode. Rebooting in 5 s",
                    Self.recoveryEntry, "clarity-heal: reboot now",
                    Self.normalEntry, "site:data-mounted: exit 1", "retrying without fstab-add-nofail",
                    Self.normalEntry, "site:data-mounted: exit 1", "left fix-\\S+ in place \\(put back\\)",
                    "event gave-up: logged, wall, notify.d: keep"],
            deadline: 1000, log: scratch.path + "/console.log")
        #expect(run.missed == nil, "missed \(run.missed ?? ""): \(run.console.suffix(4000))")
        for (pattern, seconds) in run.reached { print("real boot: \(Int(seconds)) s  \(pattern)") }
        let kept = try #require(run.console.firstMatch(of: /left (fix-\S+) in place/)?.1)

        // Powered on again: the normal entry, nothing to verify, no recovery.
        let next = try PoweredMachine(disk: image).run(
            until: [Self.normalEntry, "this boot is not after a repair; nothing to verify"],
            deadline: 300, log: scratch.path + "/console-2.log")
        #expect(next.missed == nil, "missed \(next.missed ?? ""): \(next.console.suffix(3000))")
        #expect(!next.console.contains(Self.recoveryEntry) && !next.console.contains("emergency mode"),
                "\(next.console.suffix(3000))")

        try Self.afterwards(image, in: scratch) { (disk: GrubDisk) throws in
            #expect(try Self.grubenv(disk).contains("clarity_heal_attempts=0"))
            // The kept fix (fstab-comment-out) is what the root holds.
            let fstab = try String(contentsOfFile: disk.at("/etc/fstab"), encoding: .utf8)
            #expect(!fstab.split(separator: "\n").contains { $0.hasPrefix("UUID=0badc0de") }, "\(fstab)")
            #expect(kept.contains("fstab-unresolvable-source"))
            let report = try Self.clarityHeal(["report", String(kept)], on: disk).stdout
            #expect(report.contains("fstab-comment-out") && report.contains("site:data-mounted: failed"), "\(report)")
            let status = try Self.clarityHeal(["status"], on: disk)
            #expect(status.status == 4 && status.stdout.contains("gave up"), "\(status.status) \(status.stdout)")
            let events = try String(contentsOfFile: disk.at("/var/log/clarity-heal-events.log"), encoding: .utf8)
            let gaveUp = try #require(events.split(separator: "\n").first { $0.contains("\"event\":\"gave-up\"") }, "\(events)")
            // The notice: what happened, the manual steps and the support reference.
            #expect(gaveUp.contains("stays in place") && gaveUp.contains("clarity-heal report \(kept)")
                    && gaveUp.contains("clarity-heal rollback \(kept)"), "\(gaveUp)")
        }
    }

    /// root= went stale (grub.cfg names a filesystem no disk has, as after the root
    /// filesystem was made again or restored): the initramfs gives up waiting for it and,
    /// with the snippet's panic=10, reboots instead of waiting at the (initramfs) prompt.
    /// GRUB, having counted that boot, boots the recovery entry by itself, which boots the
    /// root GRUB probed; `heal` points root= at the root's UUID, the machine reboots into
    /// its normal entry, and `verify` records the fix good.
    @Test func aRootDeviceThatNeverAppearsIsHealedThroughTheRecoveryEntry() throws {
        try #require(GrubDisk.isBuilt, "scripts/make-grub-disk has not run")
        let scratch = try TemporaryDirectory(prefix: "realboot")
        let stale = "0badc0de-0000-4000-8000-0000000000f5"
        let image = try Self.installedDisk(in: scratch, breakIt: { disk in
            let path = disk.at("/boot/grub/grub.cfg")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            // Every root= in grub.cfg, the recovery entry's written one too.
            let broken = text.replacing(/root=UUID=[0-9a-f-]+/, with: "root=UUID=\(stale)")
            #expect(broken != text)
            try broken.write(toFile: path, atomically: true, encoding: .utf8)
        })
        let run = try PoweredMachine(disk: image).run(
            until: [Self.normalEntry, "Gave up waiting for root file system device",
                    "Rebooting automatically due to panic= boot argument", Self.recoveryEntry,
                    "root-device-mismatch", "clarity-heal: reboot now",
                    Self.normalEntry, "the fix holds: recorded good"],
            deadline: 900, log: scratch.path + "/console.log")
        #expect(run.missed == nil, "missed \(run.missed ?? ""): \(run.console.suffix(4000))")
        #expect(!run.console.contains("(initramfs)"), "\(run.console.suffix(2000))")
        for (pattern, seconds) in run.reached { print("real boot: \(Int(seconds)) s  \(pattern)") }

        try Self.afterwards(image, in: scratch) { (disk: GrubDisk) throws in
            #expect(try Self.grubenv(disk).contains("clarity_heal_attempts=0"))
            let grub = try String(contentsOfFile: disk.at("/boot/grub/grub.cfg"), encoding: .utf8)
            let linuxLines = grub.split(separator: "\n").filter { $0.contains("\tlinux\t") && !$0.contains("clarity.heal=recover") }
            #expect(!linuxLines.isEmpty && linuxLines.allSatisfy { $0.contains("root=UUID=\(GrubDisk.uuid)") }, "\(linuxLines)")
            let history = try Self.clarityHeal(["history"], on: disk)
            #expect(history.stdout.contains("root-device-mismatch") && history.stdout.contains("good"), "\(history.stdout)")
        }
    }

    /// An invalid default entry: the kernel the first menu entry boots was removed and the
    /// menu not regenerated. GRUB cannot load it ("file not found") and, instead of stopping
    /// at "Press any key to continue", falls back to the recovery entry (42_clarity_heal
    /// makes it GRUB's fallback); `heal` points the default at the newest entry whose kernel
    /// and initrd exist, the machine reboots into it, and `verify` records the fix good.
    @Test func aDefaultEntryWhoseKernelIsGoneFallsBackToRecoveryAndIsRepointed() throws {
        try #require(GrubDisk.isBuilt, "scripts/make-grub-disk has not run")
        let scratch = try TemporaryDirectory(prefix: "realboot")
        let version = TestRoot.kernelVersion
        let image = try Self.installedDisk(in: scratch, breakIt: { disk in
            let path = disk.at("/boot/grub/grub.cfg")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            // Only the first entry: the ones under "Advanced options" and the recovery
            // entry still name the installed kernel.
            let submenu = try #require(text.range(of: "submenu "))
            let head = String(text[..<submenu.lowerBound]).replacingOccurrences(of: version, with: "6.1.0-49-cloud-amd64")
            #expect(head != String(text[..<submenu.lowerBound]))
            try (head + text[submenu.lowerBound...]).write(toFile: path, atomically: true, encoding: .utf8)
        })
        let run = try PoweredMachine(disk: image).run(
            until: [Self.normalEntry, "file `/boot/vmlinuz-6.1.0-49-cloud-amd64' not found",
                    "Falling back to `clarity-heal: repair this system'", Self.recoveryEntry,
                    "bootloader-default-invalid", "clarity-heal: reboot now",
                    "Booting `[^']*with Linux \(version)'", "the fix holds: recorded good"],
            deadline: 800, log: scratch.path + "/console.log")
        #expect(run.missed == nil, "missed \(run.missed ?? ""): \(run.console.suffix(4000))")
        // GRUB waits 10 s after the failed entry ("Press any key to continue"), then falls back.
        #expect(!run.console.contains("Failed to boot both default and fallback entries"), "\(run.console.suffix(3000))")
        for (pattern, seconds) in run.reached { print("real boot: \(Int(seconds)) s  \(pattern)") }

        try Self.afterwards(image, in: scratch) { (disk: GrubDisk) throws in
            #expect(try Self.grubenv(disk).contains("clarity_heal_attempts=0"))
            let history = try Self.clarityHeal(["history"], on: disk)
            #expect(history.stdout.contains("bootloader-default-invalid") && history.stdout.contains("good"), "\(history.stdout)")
            let fix = try #require(run.console.firstMatch(of: /applied (fix-\S+-bootloader-default-invalid-\S+):/)?.1)
            let report = try Self.clarityHeal(["report", String(fix)], on: disk).stdout
            #expect(report.contains("boot-default-repoint") && report.contains("| verification | good |"), "\(report)")
            // The default now names an entry whose kernel is installed.
            let grub = try String(contentsOfFile: disk.at("/boot/grub/grub.cfg"), encoding: .utf8)
            #expect(grub.contains("set default=\"gnulinux-advanced-"), "\(grub.prefix(3000))")
            #expect(grub.contains(">gnulinux-\(version)-advanced-"), "\(grub.prefix(3000))")
        }
    }
}
