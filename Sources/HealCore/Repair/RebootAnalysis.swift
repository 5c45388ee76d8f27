/// Which changes take effect only after a reboot: the kernel, the initramfs, the boot
/// loader, fstab, the kernel command line, module configuration, libc and init.
public enum RebootAnalysis {
    static let prefixes = [
        "/boot/", "/etc/default/grub", "/etc/fstab", "/etc/modprobe.d/", "/etc/initramfs-tools/",
        "/etc/dracut.conf", "/lib/modules/", "/usr/lib/modules/", "/etc/kernel/",
        "/sbin/init", "/usr/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd",
        "/lib/x86_64-linux-gnu/libc.so", "/usr/lib/x86_64-linux-gnu/libc.so",
        "/lib64/ld-linux", "/lib/x86_64-linux-gnu/ld-linux", "/usr/lib/x86_64-linux-gnu/ld-linux",
    ]

    /// The paths among `paths` that need a reboot to take effect.
    public static func rebootPaths(_ paths: [String]) -> [String] {
        paths.filter { path in prefixes.contains { path == $0 || path.hasPrefix($0) } }
    }

    public static func needsReboot(_ paths: [String]) -> Bool {
        !rebootPaths(paths).isEmpty
    }
}
