/// How the paths a boot loader reads (`linux /vmlinuz-…`, `initrd (hd0,gpt2)/…`) map to
/// paths as the root sees them (`/boot/vmlinuz-…`).
///
/// A loader reads paths relative to the partition it loads from: /boot when /boot is its
/// own filesystem, the root filesystem otherwise, the ESP for entries under it.
public struct LoaderPaths {
    /// Whether /etc/fstab mounts a separate /boot.
    public var bootIsSeparate: Bool
    /// The btrfs subvolume mounted where the kernels are (`/@rootfs`): /boot's when it is
    /// separate, else the root's; nil when that filesystem is mounted from its top. GRUB
    /// reads a btrfs filesystem from its top, so grub-mkconfig names the kernels of a root
    /// in the subvolume @rootfs `/@rootfs/boot/vmlinuz-…` (grub-mkconfig_lib's
    /// `make_system_path_relative_to_its_root`), as debian-installer's btrfs layout has it.
    public var bootSubvolume: String?
    /// Whether a path as the root sees it exists. Asked only for a path without `/boot`
    /// on a root whose /boot is not separate, which may have been written either way.
    public var exists: (String) -> Bool

    public init(bootIsSeparate: Bool, bootSubvolume: String? = nil, exists: @escaping (String) -> Bool) {
        self.bootIsSeparate = bootIsSeparate
        self.bootSubvolume = bootSubvolume
        self.exists = exists
    }

    /// Where paths relative to /boot live: `/boot` when it is separate, else the root.
    public var bootPartition: String? { bootIsSeparate ? "/boot" : nil }

    /// Whether the fstab text mounts something on /boot (a non-comment line whose second
    /// field is `/boot`).
    public static func bootIsSeparate(fstab: String) -> Bool {
        fstab.split(separator: "\n").contains { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return fields.count >= 2 && !fields[0].hasPrefix("#") && (fields[1] == "/boot" || fields[1] == "/boot/")
        }
    }

    /// The btrfs subvolume fstab mounts where the kernels are: `subvol=` of the /boot line
    /// when /boot is separate, else of the `/` line, as an absolute path within the
    /// filesystem (`subvol=@rootfs` is `/@rootfs`); nil without one, or for the top (`/`).
    /// A filesystem mounted by `subvolid=` alone names no path here.
    public static func bootSubvolume(fstab: String) -> String? {
        let mountPoint = bootIsSeparate(fstab: fstab) ? "/boot" : "/"
        var subvolume: Substring?
        for line in fstab.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 4, !fields[0].hasPrefix("#"),
                  fields[1] == mountPoint || (mountPoint != "/" && fields[1] == mountPoint + "/") else { continue }
            // The last subvol= wins, as for any repeated mount option.
            for option in fields[3].split(separator: ",") where option.hasPrefix("subvol=") {
                subvolume = option.dropFirst("subvol=".count)
            }
        }
        guard var path = subvolume.map(String.init) else { return nil }
        while path.hasSuffix("/") { path.removeLast() }
        if !path.hasPrefix("/") { path = "/" + path }
        return path == "/" ? nil : path
    }

    /// The path as the root sees it of a path the loader reads from `partitionMount`
    /// (`/boot` when /boot is separate, an ESP mount point, nil for the root filesystem).
    /// A `(hd0,gpt2)` device prefix is dropped, and so is the btrfs subvolume the kernels'
    /// filesystem is mounted from (`bootSubvolume`).
    public func rootPath(_ loaderPath: String, partitionMount: String?) -> String {
        var path = Substring(loaderPath)
        if path.hasPrefix("("), let close = path.firstIndex(of: ")") { path = path[path.index(after: close)...] }
        if !path.hasPrefix("/") { path = "/" + path }
        if partitionMount == bootPartition, let subvolume = bootSubvolume,
           path == subvolume || path.hasPrefix(subvolume + "/") {
            path = path.dropFirst(subvolume.count)
            if path.isEmpty { path = "/" }
        }
        if let partitionMount, partitionMount != "/" { return partitionMount + path }
        if path.hasPrefix("/boot/") { return String(path) }
        // /boot on the root filesystem with paths written relative to it, as on a machine
        // whose /boot was separate once: prefer the file that exists.
        if exists("/boot" + path) && !exists(String(path)) {
            return "/boot" + path
        }
        return String(path)
    }

    /// `6.1.0-50-cloud-amd64` from `/boot/vmlinuz-6.1.0-50-cloud-amd64`.
    public static func kernelVersion(_ path: String) -> String? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        for prefix in ["vmlinuz-", "vmlinux-", "kernel-", "bzImage-"] where name.hasPrefix(prefix) && name.count > prefix.count {
            return String(name.dropFirst(prefix.count))
        }
        return nil
    }
}
