import Foundation
import HealSystem
import Testing
import TestSupport

/// The Debian package (`scripts/package`) installed with dpkg into a copy of the real GRUB
/// disk, the way a machine gets it: postinst puts the binary and its libraries into the
/// initramfs (update-initramfs) and the recovery entry into grub.cfg (update-grub, through
/// /etc/grub.d/42_clarity_heal), and enables the verify unit; `dpkg --purge` leaves every
/// file of the root as it was before the install, dpkg's own database and logs aside.
@Suite(.serialized, .timeLimit(.minutes(15)))
struct PackageTests {
    /// What dpkg itself keeps about packages: not the root's state.
    static let dpkgOwn = ["var/lib/dpkg", "var/log/dpkg.log", "var/log/apt", "var/cache/debconf", "var/cache/apt",
                          "var/log/alternatives.log", "dev", "proc", "sys"]

    @Test func theDebInstallsIntoTheInitramfsAndGrubAndPurgeLeavesTheRootAsBefore() throws {
        try #require(GrubDisk.isBuilt, "scripts/make-grub-disk has not run")
        let deb = try #require(GrubDisk.package, "scripts/package has not run")
        let scratch = try TemporaryDirectory(prefix: "package")
        let image = scratch.path + "/disk.img"
        try GrubDisk.copy(to: image)
        let disk = try GrubDisk(image: image, mountPoint: scratch.path + "/m")
        defer { disk.close() }
        let epoch = ["SOURCE_DATE_EPOCH": GrubDisk.sourceDateEpoch]
        let before = try disk.inventory(excluding: Self.dpkgOwn)

        #expect(try Tool.run("/bin/cp", [deb, disk.at("/root/clarity-heal.deb")]).status == 0)
        let install = try disk.chroot(["dpkg", "-i", "/root/clarity-heal.deb"], environment: epoch)
        #expect(install.status == 0, "\(install.stdout)\n\(install.stderr)")
        #expect(!install.stderr.contains("clarity-heal: warning"), "\(install.stderr)")

        // The initramfs holds the binary, the libraries it opens with dlopen, its boot
        // script, and the overlay module `heal` clones with.
        let version = TestRoot.kernelVersion
        let listing = try disk.chroot(["lsinitramfs", "/boot/initrd.img-\(version)"])
        #expect(listing.status == 0, "\(listing.stderr)")
        let files = Set(listing.stdout.split(separator: "\n").map(String.init))
        // The binary compressed on its own, unpacked by the boot script when a boot runs it.
        for wanted in ["usr/lib/clarity-heal/clarity-heal.gz", "scripts/local-bottom/clarity-heal"] {
            #expect(files.contains(wanted), "\(wanted) is not in the initramfs")
        }
        for library in ["libkmod.so.2", "libmount.so.1", "libblkid.so.1"] {
            #expect(files.contains { $0.hasSuffix("/" + library) }, "\(library) is not in the initramfs")
        }
        #expect(files.contains { $0.hasSuffix("/overlay.ko") || $0.hasSuffix("/overlay.ko.xz") }, "overlay is not in the initramfs")

        // grub.cfg: the recovery entry by id, chosen by the counter, and panic=10 on the
        // kernel lines; GRUB's own checker accepts the whole file.
        let grub = try String(contentsOfFile: disk.at("/boot/grub/grub.cfg"), encoding: .utf8)
        #expect(grub.contains("--id clarity-heal-recovery"))
        #expect(grub.contains("set default=clarity-heal-recovery"))
        #expect(grub.contains("save_env clarity_heal_attempts"))
        let recovery = grub.split(separator: "\n").filter { $0.contains("clarity.heal=recover") }
        // /boot is on the root filesystem: the recovery entry boots the root GRUB probed,
        // written root= only where the probe fails.
        #expect(recovery.count == 1 && recovery.allSatisfy { $0.contains("root=${clarity_heal_root}") && $0.contains("panic=10") },
                "\(recovery)")
        #expect(grub.contains("set clarity_heal_root=UUID=\(GrubDisk.uuid)\n")
                && grub.contains("if probe --set=clarity_heal_uuid --fs-uuid $root; then set clarity_heal_root=UUID=$clarity_heal_uuid; fi"),
                "\(grub)")
        let linuxLines = grub.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("linux\t") }
        #expect(!linuxLines.isEmpty && linuxLines.allSatisfy { $0.contains("panic=10") }, "\(linuxLines)")
        let check = try disk.chroot(["grub-script-check", "/boot/grub/grub.cfg"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        // GRUB's fallback is the recovery entry, by the index GRUB reads there (it reads
        // no id): counted when grub.cfg was written, it names that entry in the menu.
        let fallback = Int(try #require(grub.firstMatch(of: /set fallback=([0-9]+)/)?.1))
        let menu = try BootConfiguration.load(SystemRoot(disk.mountPoint)).menu
        #expect(fallback.map { menu.item(at: [$0]).id } == "clarity-heal-recovery", "fallback \(String(describing: fallback))")
        // A custom.cfg is sourced at boot and may add entries before it: then the index
        // could name another entry, and no fallback is set.
        try "menuentry 'site' {\n\ttrue\n}\n".write(toFile: disk.at("/boot/grub/custom.cfg"), atomically: true, encoding: .utf8)
        for (custom, expected) in [(true, false), (false, true)] {
            if !custom { _ = try Tool.run("/bin/rm", [disk.at("/boot/grub/custom.cfg")]) }
            let update = try disk.chroot(["update-grub"], environment: epoch)
            #expect(update.status == 0, "\(update.stderr)")
            let text = try String(contentsOfFile: disk.at("/boot/grub/grub.cfg"), encoding: .utf8)
            #expect(text.contains("set fallback=") == expected, "custom.cfg: \(custom)")
        }

        // The units, the config, the man page and the completions.
        for unit in ["clarity-heal-verify.service", "clarity-heal-emergency.service"] {
            let enabled = try disk.chroot(["systemctl", "is-enabled", unit])
            #expect(enabled.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "enabled", "\(unit): \(enabled)")
        }
        let threshold = try disk.chroot(["clarity-heal", "config", "Thresholds.BootFailures"])
        #expect(threshold.stdout == "1\n")
        for path in ["/usr/share/man/man8/clarity-heal.8.gz", "/usr/share/bash-completion/completions/clarity-heal",
                     "/usr/share/zsh/vendor-completions/_clarity-heal", "/usr/share/fish/vendor_completions.d/clarity-heal.fish"] {
            #expect(FileManager.default.fileExists(atPath: disk.at(path)), "\(path)")
        }
        let conffiles = try disk.chroot(["dpkg-query", "-W", "-f=${Conffiles}", "clarity-heal"])
        #expect(conffiles.stdout.contains("/etc/clarity-heal/clarity-heal.conf"))

        // The inventory sees what the install changed (so the comparison below is real):
        // the initramfs's bytes, grub.cfg, the unit's link.
        let installed = Set(try disk.inventory(excluding: Self.dpkgOwn)).subtracting(before)
        for changed in ["./boot/initrd.img-\(version)", "./boot/grub/grub.cfg", "./usr/sbin/clarity-heal",
                        "./etc/systemd/system/boot-complete.target.requires/clarity-heal-verify.service",
                        "./etc/systemd/system/emergency.target.wants/clarity-heal-emergency.service"] {
            #expect(installed.contains { $0.hasSuffix(" " + changed) || $0.contains(" " + changed + " ->") }, "\(changed)")
        }

        let purge = try disk.chroot(["dpkg", "--purge", "clarity-heal"], environment: epoch)
        #expect(purge.status == 0, "\(purge.stdout)\n\(purge.stderr)")
        #expect(try Tool.run("/bin/rm", [disk.at("/root/clarity-heal.deb")]).status == 0)
        let after = try disk.inventory(excluding: Self.dpkgOwn)
        let added = Set(after).subtracting(before).sorted(), removed = Set(before).subtracting(after).sorted()
        #expect(added.isEmpty && removed.isEmpty, "after purge, new or changed: \(added.prefix(20)); gone or changed: \(removed.prefix(20))")
    }
}
