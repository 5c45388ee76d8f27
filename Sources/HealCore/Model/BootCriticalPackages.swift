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

    /// Folders of boot-critical packages whose files the boot never reads: documentation and
    /// translations, which make up a tenth of these packages' bytes, and udev's hwdb sources
    /// (8 MiB): udev reads the compiled hwdb.bin, which `systemd-hwdb update` makes from them
    /// only after a package change, never on the way to a login prompt.
    public static let unreadFolders: [String] = [
        "/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/locale/",
        "/usr/share/lintian/", "/usr/share/bug/", "/usr/share/bash-completion/", "/usr/share/zsh/",
        "/usr/share/fish/", "/lib/udev/hwdb.d/", "/usr/lib/udev/hwdb.d/",
    ]

    /// Kernel module folders (under `/lib/modules/VERSION/kernel/`) no local root file system
    /// depends on: network protocols and adapters, sound, video, and buses for lab or HPC
    /// hardware, network file systems, and the KVM host. They are half of a Debian cloud
    /// kernel's modules; storage, local file system, crypto, virtio, USB and input modules
    /// stay checked. (A root on NFS, CIFS, Ceph or iSCSI would need the network ones;
    /// clarity-heal repairs local roots.)
    public static let unneededModuleFolders: [String] = [
        "net/", "sound/", "drivers/net/", "drivers/infiniband/", "drivers/comedi/", "drivers/media/",
        "drivers/gpu/", "drivers/staging/", "drivers/isdn/", "drivers/bluetooth/", "drivers/iio/",
        "drivers/target/", "drivers/hwmon/",
        "fs/nfs/", "fs/nfsd/", "fs/nfs_common/", "fs/lockd/", "fs/smb/", "fs/cifs/", "fs/ceph/",
        "fs/afs/", "fs/9p/", "fs/coda/", "fs/orangefs/", "fs/dlm/",
        "arch/x86/kvm/", "virt/",
    ]

    /// Folders, wherever the architecture puts them, that nothing on the way to a login prompt
    /// opens: glibc's iconv modules (8 MiB), loaded only by `iconv_open` for a character set
    /// glibc does not build in.
    public static let unreadSubfolders: [String] = ["/gconv/"]

    /// Whether a file of a boot-critical package can matter to the boot.
    public static func matters(path: String) -> Bool {
        if unreadFolders.contains(where: { path.hasPrefix($0) }) { return false }
        if unreadSubfolders.contains(where: { path.contains($0) }) { return false }
        for prefix in ["/lib/modules/", "/usr/lib/modules/"] where path.hasPrefix(prefix) {
            // /lib/modules/VERSION/kernel/<folder>
            let rest = path.dropFirst(prefix.count).split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            guard rest.count == 3, rest[1] == "kernel" else { return true }
            return !unneededModuleFolders.contains { rest[2].hasPrefix($0) }
        }
        return true
    }

    /// Whether `package` (with or without `:arch`) is boot-critical.
    public static func contains(_ package: String) -> Bool {
        let name = package.split(separator: ":", maxSplits: 1).first.map(String.init) ?? package
        return names.contains(name) || prefixes.contains { name.hasPrefix($0) }
    }
}
