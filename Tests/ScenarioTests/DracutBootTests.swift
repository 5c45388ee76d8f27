import Foundation
import HealSystem
import Testing
import TestSupport

/// dracut for real: a copy of the dracut test root (scripts/make-dracut-root: Debian 12 with
/// Debian's dracut instead of initramfs-tools) with clarity-heal installed from its `.deb`
/// (postinst: `dracut --regenerate-all --force`), broken offline, a repair staged for the next
/// boot, then booted in QEMU with the root's own kernel and dracut's initrd. dracut's
/// pre-pivot hook applies the fix on /sysroot before switch_root, the real root boots to
/// multi-user, and `verify` records the fix good.
///
/// Nested in the microVM suite, which is serialized: one TCG guest at a time.
extension MicroVMScenarioTests {
@Suite(.timeLimit(.minutes(20)))
struct DracutBootTests {
    static let brokenLine = "UUID=0badc0de-0000-4000-8000-00000000da7a /srv/data ext4 defaults 0 2"

    /// A copy of the dracut root with the package installed by dpkg, checked to have put
    /// clarity-heal, its hook and the libraries it opens with dlopen into dracut's image;
    /// then `breakIt`, offline. Returns the image and its kernel and initrd, copied out.
    static func installedDisk(in scratch: TemporaryDirectory,
                              breakIt: (DracutRoot) throws -> Void) throws -> (image: String, kernel: String, initrd: String) {
        let deb = try #require(GrubDisk.package, "scripts/package has not run")
        let image = scratch.path + "/disk.img"
        try DracutRoot.copy(to: image)
        let version = DracutRoot.kernelVersion
        let disk = try DracutRoot(image: image, mountPoint: scratch.path + "/m", chrootable: true)
        defer { disk.close() }
        #expect(try Tool.run("/bin/cp", [deb, disk.at("/root/clarity-heal.deb")]).status == 0)
        let install = try disk.chroot(["dpkg", "-i", "/root/clarity-heal.deb"])
        try #require(install.status == 0, "\(install.stdout)\n\(install.stderr)")
        #expect(install.stdout.contains("Including module: clarity-heal") || install.stderr.contains("Including module: clarity-heal"),
                "\(install.stdout)\n\(install.stderr)")
        _ = try Tool.run("/bin/rm", [disk.at("/root/clarity-heal.deb")])
        // apt keeps a record of initramfs-tools (make-dracut-root said `initramfs-tools-`):
        // not installed is the status, not dpkg-query's exit.
        let initramfsTools = try disk.chroot(["dpkg-query", "-W", "-f", "${db:Status-Status}", "initramfs-tools"])
        #expect(initramfsTools.stdout != "installed", "initramfs-tools is installed")

        // dracut's own listing of the image it built.
        let listing = try disk.chroot(["lsinitrd", "/boot/initrd.img-\(version)"])
        try #require(listing.status == 0, "\(listing.stderr)")
        // `ls -l` lines: the path is the last field, or the one before ` -> target`.
        let paths = Set(listing.stdout.split(separator: "\n").compactMap { line in
            line.components(separatedBy: " -> ").first?.split(separator: " ").last.map(String.init)
        })
        // The binary compressed on its own (the hook unpacks it with gzip when a boot runs it).
        #expect(!paths.contains("usr/sbin/clarity-heal"))
        for path in ["usr/lib/clarity-heal/clarity-heal.gz", "usr/bin/gzip", "usr/lib/dracut/hooks/pre-pivot/50-clarity-heal-boot.sh",
                     "usr/bin/sync", "usr/sbin/reboot", "usr/bin/mount", "usr/sbin/dumpe2fs", "usr/bin/unshare"] {
            #expect(paths.contains(path), "\(path) is not in dracut's image")
        }
        for soname in SharedLibrary.allCases.map(\.soname) {
            #expect(paths.contains { $0.hasSuffix("/" + soname) }, "\(soname) is not in dracut's image")
        }

        try breakIt(disk)
        let kernel = scratch.path + "/vmlinuz", initrd = scratch.path + "/initrd.img"
        for (from, to) in [("/boot/vmlinuz-\(version)", kernel), ("/boot/initrd.img-\(version)", initrd)] {
            #expect(try Tool.run("/bin/cp", [disk.at(from), to]).status == 0)
        }
        return (image, kernel, initrd)
    }

    static func breakFstab(_ disk: DracutRoot) throws {
        let fstab = try FileHandle(forWritingTo: URL(fileURLWithPath: disk.at("/etc/fstab")))
        fstab.seekToEndOfFile()
        fstab.write(Data((brokenLine + "\n").utf8))
        try fstab.close()
        try FileManager.default.createDirectory(atPath: disk.at("/srv/data"), withIntermediateDirectories: true)
    }

    /// Reads the disk after the machine was powered off: `body` gets the mounted root.
    static func afterwards(_ image: String, in scratch: TemporaryDirectory, _ body: (DracutRoot) throws -> Void) throws {
        let disk = try DracutRoot(image: image, mountPoint: scratch.path + "/after")
        defer { disk.close() }
        try body(disk)
    }

    /// An fstab source no disk has, repaired offline on an overlay clone and staged with
    /// `apply --next-boot`: dracut's pre-pivot hook runs `clarity-heal boot` on /sysroot,
    /// which applies it (on the console, before switch_root); systemd then reads the fixed
    /// fstab, waits 10 s at most for the device, reaches multi-user without emergency mode,
    /// and `verify` records the fix good. The root is mounted read-only by the command line,
    /// as GRUB's entries do: the hook remounts it read-write for the fix and back.
    @Test func aFixStagedForTheNextBootIsAppliedByDracutsPrePivotHook() throws {
        try #require(DracutRoot.isBuilt, "scripts/make-dracut-root has not run")
        let scratch = try TemporaryDirectory(prefix: "dracutboot")
        var fix = ""
        let (image, kernel, initrd) = try Self.installedDisk(in: scratch) { disk in
            try Self.breakFstab(disk)
            let repair = try Tool.run(Tool.clarityHeal, [
                "repair", "--root", disk.mountPoint, "--environment", "overlay", "--json",
                "--scratch", scratch.path + "/clone", "--out", disk.at("/var/lib/clarity-heal/fixes"),
            ])
            // 1: a validated fix package was written.
            try #require(repair.status == 1, "\(repair.stdout)\n\(repair.stderr)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(repair.stdout.utf8)) as? [String: Any])
            let package = try #require(document["fixPackage"] as? String, "\(repair.stdout)")
            fix = try #require(document["fix"] as? String)
            let staged = try Tool.run(Tool.clarityHeal, ["apply", package, "--next-boot", "--root", disk.mountPoint])
            try #require(staged.status == 0, "\(staged.stderr)")
            #expect(FileManager.default.fileExists(atPath: disk.at("/var/lib/clarity-heal/staged/\(fix)/manifest.json")))
            // Staged, not applied: the boot is what changes fstab.
            #expect(try String(contentsOfFile: disk.at("/etc/fstab"), encoding: .utf8).contains(Self.brokenLine))
        }

        let machine = PoweredMachine(disk: image, kernel: kernel, initrd: initrd,
                                     commandLine: "root=UUID=\(DracutRoot.rootUUID) ro console=ttyS0")
        let run = try machine.run(
            until: ["Starting dracut-pre-pivot",
                    // The hook's lines: stderr of dracut-pre-pivot.service, journal+console.
                    "dracut-pre-pivot\\[[0-9]+\\]: clarity-heal: applied \(fix) \\(fstab-unresolvable-source, fstab-add-nofail\\)",
                    "dracut-pre-pivot\\[[0-9]+\\]: clarity-heal: this boot is verified after start: \(fix), attempt 1",
                    "Starting initrd-switch-root.service",
                    // The real root's systemd (the initrd's banner says "... (Initramfs)!").
                    "Welcome to Debian GNU/Linux 12 \\(bookworm\\)!",
                    // verify runs After=multi-user.target: its verdict means the boot got
                    // there. (systemd's own "Reached target multi-user.target" is not always
                    // on the console: in one of four boots the serial getty's login prompt
                    // came first and systemd printed no status line after it.)
                    "clarity-heal\\[[0-9]+\\]: the fix holds: recorded good"],
            deadline: 400, log: scratch.path + "/console.log")
        #expect(run.missed == nil, "missed \(run.missed ?? ""): \(run.console.suffix(4000))")
        for (pattern, seconds) in run.reached { print("dracut boot: \(Int(seconds)) s  \(pattern)") }
        #expect(!run.console.contains("emergency mode"), "\(run.console.suffix(3000))")
        #expect(!run.console.contains("command not found"), "\(run.console.suffix(3000))")
        // The hook's warn(): under systemd "Warning: clarity-heal: ..." on the console.
        #expect(!run.console.contains("Warning: clarity-heal:"), "\(run.console.suffix(3000))")

        try Self.afterwards(image, in: scratch) { disk in
            let fstab = try String(contentsOfFile: disk.at("/etc/fstab"), encoding: .utf8)
            #expect(fstab.contains("UUID=0badc0de-0000-4000-8000-00000000da7a /srv/data ext4 defaults,nofail"), "\(fstab)")
            #expect(!FileManager.default.fileExists(atPath: disk.at("/var/lib/clarity-heal/staged/\(fix)")))
            #expect(FileManager.default.fileExists(atPath: disk.at("/var/lib/clarity-heal/applied/\(fix)/backup.tar")))
            let history = try Tool.run(Tool.clarityHeal, ["history", "--root", disk.mountPoint])
            #expect(history.status == 0, "\(history.stderr)")
            let lines = history.stdout.split(separator: "\n")
            #expect(lines.contains { $0.contains("boot-apply") && $0.contains("applied") && $0.contains(fix) && $0.contains("by=initramfs") },
                    "\(history.stdout)")
            #expect(lines.contains { $0.contains("verification") && $0.contains("good") && $0.contains(fix) }, "\(history.stdout)")
        }
    }

    /// The recovery entry's boot under dracut: with clarity.heal=recover the pre-pivot hook
    /// runs `heal` on /sysroot (an overlay clone in memory), which repairs the fstab line,
    /// applies the fix with its backup and says "reboot now"; the hook reboots. The next
    /// plain boot comes up and `verify` records the fix good.
    @Test func aRecoveryBootHealsInDracutsPrePivotHookAndTheNextBootVerifies() throws {
        try #require(DracutRoot.isBuilt, "scripts/make-dracut-root has not run")
        let scratch = try TemporaryDirectory(prefix: "dracutboot")
        let (image, kernel, initrd) = try Self.installedDisk(in: scratch, breakIt: Self.breakFstab)
        let commandLine = "root=UUID=\(DracutRoot.rootUUID) ro console=ttyS0"
        let recovery = try PoweredMachine(disk: image, kernel: kernel, initrd: initrd,
                                          commandLine: commandLine + " clarity.heal=recover").run(
            until: ["Starting dracut-pre-pivot",
                    "dracut-pre-pivot\\[[0-9]+\\]: clarity-heal: applied (fix-\\S+-fstab-unresolvable-source-\\S+):",
                    "dracut-pre-pivot\\[[0-9]+\\]: clarity-heal: reboot now",
                    "clarity-heal: rebooting in 5 s"],
            deadline: 600, log: scratch.path + "/console.log")
        #expect(recovery.missed == nil, "missed \(recovery.missed ?? ""): \(recovery.console.suffix(4000))")
        for (pattern, seconds) in recovery.reached { print("dracut boot (recovery): \(Int(seconds)) s  \(pattern)") }
        let fix = try #require(recovery.console.firstMatch(of: /clarity-heal: applied (fix-\S+-fstab-unresolvable-source-[0-9a-f]+)/)?.1)

        let next = try PoweredMachine(disk: image, kernel: kernel, initrd: initrd, commandLine: commandLine).run(
            until: ["Welcome to Debian GNU/Linux 12 \\(bookworm\\)!", "clarity-heal\\[[0-9]+\\]: the fix holds: recorded good"],
            deadline: 400, log: scratch.path + "/console-2.log")
        #expect(next.missed == nil, "missed \(next.missed ?? ""): \(next.console.suffix(4000))")
        #expect(!next.console.contains("emergency mode"), "\(next.console.suffix(3000))")

        try Self.afterwards(image, in: scratch) { disk in
            #expect(!(try String(contentsOfFile: disk.at("/etc/fstab"), encoding: .utf8)).contains(Self.brokenLine))
            let history = try Tool.run(Tool.clarityHeal, ["history", "--root", disk.mountPoint]).stdout
            #expect(history.split(separator: "\n").contains { $0.contains("verification") && $0.contains("good") && $0.contains(fix) },
                    "\(history)")
        }
    }
}
}
