/// The Debian packages whose files the boot chain runs, from the boot loader to a login
/// prompt. `system-file-corrupt` checks these (not every package: a corrupt man page does
/// not stop a boot, and hashing everything is what makes `dpkg --verify` slow).
///
/// Chosen by following the boot: GRUB loads the kernel and the initramfs; the initramfs
/// (initramfs-tools: klibc, kmod, udev) finds and mounts the root; systemd as PID 1 mounts
/// the rest, checks file systems and starts getty and login. The libraries are what those
/// binaries load (`ldd /lib/systemd/systemd`, `libsystemd-shared-252.so`, `mount`,
/// `e2fsck`, `kmod`, `systemd-udevd`, `agetty`, `login` in a Debian 12 root).
public enum BootCriticalPackages {
    /// Exact package names (without the `:arch` qualifier).
    public static let names: Set<String> = [
        // initramfs and modules
        "initramfs-tools", "initramfs-tools-core", "klibc-utils", "libklibc", "busybox",
        "dracut", "dracut-core", "kmod", "libkmod2",
        // PID 1, device manager and what they share
        "systemd", "systemd-sysv", "libsystemd0", "libsystemd-shared", "udev", "libudev1",
        "init", "init-system-helpers",
        // the C library and what systemd, udev and kmod link
        "libc6", "libc-bin", "libgcc-s1", "libcap2", "libacl1", "libattr1", "libselinux1",
        "libpcre2-8-0", "libseccomp2", "libapparmor1", "libaudit1", "libcrypt1", "libssl3",
        "libgcrypt20", "libgpg-error0", "libcryptsetup12", "libdevmapper1.02.1", "libip4tc2",
        "liblz4-1", "liblzma5", "libzstd1", "zlib1g", "libpam0g",
        // mounting and checking file systems
        "mount", "util-linux", "libmount1", "libblkid1", "libuuid1", "libsmartcols1",
        "e2fsprogs", "libext2fs2", "libcom-err2", "logsave",
        // shells and the tools boot scripts call
        "dash", "bash", "libtinfo6", "coreutils", "sed", "grep",
        // reaching a login prompt
        "login", "libpam-modules", "libpam-modules-bin", "libpam-runtime", "passwd", "base-files",
    ]

    /// Name prefixes: every kernel flavour and version, and every GRUB platform package.
    public static let prefixes: [String] = ["linux-image-", "grub-", "grub2-", "shim-"]

    /// Whether `package` (with or without `:arch`) is boot-critical.
    public static func contains(_ package: String) -> Bool {
        let name = package.split(separator: ":", maxSplits: 1).first.map(String.init) ?? package
        return names.contains(name) || prefixes.contains { name.hasPrefix($0) }
    }
}
