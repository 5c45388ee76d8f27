import HealCore
import Testing

/// Kernels on btrfs subvolumes: GRUB reads a btrfs filesystem from its top, so grub-mkconfig
/// names the kernels of a root in the subvolume @rootfs (debian-installer's layout)
/// `/@rootfs/boot/vmlinuz-…`; as the root sees them they are `/boot/vmlinuz-…`.
struct LoaderPathsSubvolumeTests {
    @Test(arguments: [
        ("UUID=A / btrfs defaults,subvol=@rootfs 0 0\n", "/@rootfs" as String?),
        ("UUID=A / btrfs subvol=/@rootfs/,noatime 0 0\n", "/@rootfs"),
        ("UUID=A / btrfs defaults,subvol=@ 0 0\nUUID=A /home btrfs defaults,subvol=@home 0 0\n", "/@"),
        ("UUID=A / btrfs subvol=@,subvol=@snapshots/1/snapshot 0 0\n", "/@snapshots/1/snapshot"),
        ("UUID=A / btrfs defaults,subvol=@rootfs 0 0\nUUID=B /boot btrfs subvol=@boot 0 0\n", "/@boot"),
        ("UUID=A / btrfs defaults,subvol=@rootfs 0 0\nUUID=B /boot ext4 defaults 0 2\n", nil),
        ("UUID=A / btrfs defaults 0 0\n", nil),
        ("UUID=A / btrfs subvol=/ 0 0\n", nil),
        ("UUID=A / btrfs subvolid=256 0 0\n", nil),
        ("#UUID=A / btrfs subvol=@old 0 0\nUUID=A / ext4 defaults 0 1\n", nil),
        ("UUID=A / btrfs\n", nil),
    ])
    func subvolumeOfTheKernelsFilesystemComesFromFstab(_ fstab: String, _ expected: String?) {
        #expect(LoaderPaths.bootSubvolume(fstab: fstab) == expected)
    }

    static let paths: [(path: String, separate: Bool, subvolume: String?, mount: String?, expected: String)] = [
        ("/@rootfs/boot/vmlinuz-6.1", false, "/@rootfs", nil, "/boot/vmlinuz-6.1"),
        ("(hd0,msdos1)/@rootfs/boot/initrd.img-6.1", false, "/@rootfs", nil, "/boot/initrd.img-6.1"),
        ("/@/boot/vmlinuz-6.1", false, "/@", nil, "/boot/vmlinuz-6.1"),
        // Only the whole first components: /@root is not in /@rootfs.
        ("/@rootfs2/boot/vmlinuz-6.1", false, "/@rootfs", nil, "/@rootfs2/boot/vmlinuz-6.1"),
        ("/boot/vmlinuz-6.1", false, "/@rootfs", nil, "/boot/vmlinuz-6.1"),
        ("/@boot/vmlinuz-6.1", true, "/@boot", nil, "/boot/vmlinuz-6.1"),
        // An ESP is never a btrfs subvolume.
        ("/@rootfs/x/linux", false, "/@rootfs", "/boot/efi", "/boot/efi/@rootfs/x/linux"),
    ]

    @Test(arguments: paths)
    func kernelPathsLoseTheSubvolume(_ path: String, _ separate: Bool, _ subvolume: String?, _ mount: String?,
                                     _ expected: String) {
        let paths = LoaderPaths(bootIsSeparate: separate, bootSubvolume: subvolume, exists: { _ in false })
        #expect(paths.rootPath(path, partitionMount: mount ?? paths.bootPartition) == expected)
    }
}
