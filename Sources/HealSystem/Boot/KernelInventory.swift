import Glibc
import HealCore

/// A kernel installed in /boot, with the initrd that belongs to it.
public struct InstalledKernel: Sendable, Hashable {
    public var version: String
    /// Path as the root sees it: `/boot/vmlinuz-VER`.
    public var kernel: String
    /// `/boot/initrd.img-VER` (initramfs-tools) or `/boot/initramfs-VER.img` (dracut), when present.
    public var initrd: String?
}

/// The kernels in a root's /boot.
public enum KernelInventory {
    /// Every `vmlinuz-VER` (or `vmlinux-VER`) in `<root>/boot`, newest first in the order
    /// grub-mkconfig's `version_find_latest` picks them (`GrubConfig.compareVersions`).
    /// Broken symlinks and files that are not regular files are left out.
    public static func scan(_ root: SystemRoot) -> [InstalledKernel] {
        let names = root.files.entriesIfPresent("/boot")
        var kernels: [InstalledKernel] = []
        for name in names {
            guard let version = LoaderPaths.kernelVersion(name),
                  name.hasPrefix("vmlinuz-") || name.hasPrefix("vmlinux-"),
                  let st = root.files.statusIfPresent("/boot/" + name, followLast: true),
                  (st.st_mode & S_IFMT) == S_IFREG
            else { continue }
            // Both names kept by the two initramfs generators; the first found wins.
            let initrd = ["/boot/initrd.img-\(version)", "/boot/initramfs-\(version).img"]
                .first { root.files.statusIfPresent($0, followLast: true) != nil }
            kernels.append(InstalledKernel(version: version, kernel: "/boot/" + name, initrd: initrd))
        }
        return kernels.sorted { GrubConfig.compareVersions($0.version, $1.version) > 0 }
    }
}
