import CMount
import Glibc

/// What is mounted on this machine now, from `/proc/self/mountinfo` read with libmount.
///
/// Used to keep tools that must not touch a mounted filesystem (`e2fsck`) away from one
/// that is mounted read-write here.
public struct MountInfo: Sendable {
    public struct Mount: Sendable, Hashable {
        public var source: String
        public var target: String
        public var fstype: String
        /// st_dev of the mounted filesystem (`mnt_fs_get_devno`).
        public var device: UInt64
        /// True when the mount's VFS options carry `ro`.
        public var readOnly: Bool
    }

    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        case unreadable(path: String, reason: String)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
            }
        }
    }

    public var mounts: [Mount]

    public init(mounts: [Mount]) {
        self.mounts = mounts
    }

    /// Parses a mountinfo file (`mnt_table_parse_file`).
    public static func current(path: String = "/proc/self/mountinfo") throws(MountInfo.Error) -> MountInfo {
        do { try SharedLibrary.mount.load() } catch { throw .unreadable(path: path, reason: "\(error)") }
        guard let table = mnt_new_table() else { throw .unreadable(path: path, reason: "libmount cannot allocate a table") }
        defer { mnt_unref_table(table) }
        let rc = mnt_table_parse_file(table, path)
        guard rc == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(-rc))) }
        guard let iterator = mnt_new_iter(Int32(MNT_ITER_FORWARD)) else {
            throw .unreadable(path: path, reason: "libmount cannot allocate an iterator")
        }
        defer { mnt_free_iter(iterator) }
        var mounts: [Mount] = []
        var fs: OpaquePointer?
        while mnt_table_next_fs(table, iterator, &fs) == 0, let fs {
            let vfsOptions = mnt_fs_get_vfs_options(fs)
            mounts.append(Mount(
                source: mnt_fs_get_source(fs).map { String(cString: $0) } ?? "",
                target: mnt_fs_get_target(fs).map { String(cString: $0) } ?? "",
                fstype: mnt_fs_get_fstype(fs).map { String(cString: $0) } ?? "",
                device: UInt64(mnt_fs_get_devno(fs)),
                readOnly: vfsOptions.map { mnt_optstr_get_option($0, "ro", nil, nil) == 0 } ?? false))
        }
        return MountInfo(mounts: mounts)
    }

    /// Whether the filesystem at `path` — a device node, or an image file through the loop
    /// devices backed by it — is mounted read-write on this machine.
    public func isMountedReadWrite(_ path: String) -> Bool {
        let devices = Self.deviceNumbers(of: path)
        return mounts.contains { !$0.readOnly && devices.contains($0.device) }
    }

    /// st_rdev of a device node; for an image file, st_rdev of every loop device that
    /// reads it.
    static func deviceNumbers(of path: String) -> Set<UInt64> {
        guard let st = FileReading.status(atPath: path, followLinks: true) else { return [] }
        if (st.st_mode & S_IFMT) == S_IFBLK { return [UInt64(st.st_rdev)] }
        return Set(LoopDevice.reading(path).map(\.number))
    }
}
