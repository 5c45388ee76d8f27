extension Fstab {
    /// The lines the booted system mounts (not swap, not `noauto`) whose mount point in
    /// `root` is an empty folder or absent: that filesystem is not mounted under the root
    /// being examined, so what lies on it cannot be seen there (a separate /boot of an
    /// offline root, before it is mounted). Mount points are normalized (`/boot/` is
    /// `/boot`), in file order.
    public func unmountedMountPoints(in root: SystemRoot) -> [(entry: Entry, mountPoint: String)] {
        entries.compactMap { entry in
            guard !entry.isSwap, !entry.hasOption("noauto"), entry.target.hasPrefix("/") else { return nil }
            let mountPoint = "/" + entry.target.split(separator: "/").joined(separator: "/")
            // The root itself is what is examined, never "not mounted".
            guard mountPoint != "/", root.files.entriesIfPresent(mountPoint).isEmpty else { return nil }
            return (entry, mountPoint)
        }
    }
}
