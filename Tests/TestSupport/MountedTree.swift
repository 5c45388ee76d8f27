import Foundation

/// The mounts a test disk made at its mount point, undone in reverse order, and the root's
/// own tools run chrooted there (dpkg, update-initramfs, dracut, update-grub).
public struct MountedTree: Sendable {
    public let mountPoint: String
    private var mounted: [String] = []

    public init(mountPoint: String) { self.mountPoint = mountPoint }

    /// `mount ARGUMENTS`; the last argument is the folder, unmounted by `unmountAll`.
    mutating func mount(_ arguments: [String]) throws {
        let run = try Tool.run("/bin/mount", arguments)
        guard run.status == 0 else { throw Tool.Failure(message: "mount \(arguments): \(run.stderr)") }
        mounted.append(arguments.last ?? "")
    }

    /// /dev, /proc and /sys of the host bound in, for the root's tools.
    mutating func bindSystemFolders() throws {
        for folder in ["dev", "proc", "sys"] { try mount(["--bind", "/" + folder, mountPoint + "/" + folder]) }
    }

    /// Syncs and unmounts everything, last first; safe to call twice.
    mutating func unmountAll() {
        _ = try? Tool.run("/bin/sync", [])
        for point in mounted.reversed() { _ = try? Tool.run("/bin/umount", [point]) }
        mounted = []
    }

    /// Host path of `absolute` in the tree.
    public func at(_ absolute: String) -> String { mountPoint + absolute }

    /// Runs `arguments` chrooted into the tree, with `environment` added.
    public func chroot(_ arguments: [String], environment: [String: String] = [:]) throws -> Tool.Result {
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try Tool.run("/usr/sbin/chroot", [mountPoint, "/usr/bin/env", "DEBIAN_FRONTEND=noninteractive",
                                                 "PATH=/usr/sbin:/usr/bin:/sbin:/bin"] + assignments + arguments)
    }
}
