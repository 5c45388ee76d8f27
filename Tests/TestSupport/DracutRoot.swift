import Foundation

/// The ext4 image `scripts/make-dracut-root` builds (no partition table), and writable copies
/// of it mounted on a loop device; with `chrootable`, /dev, /proc and /sys are bound in so the
/// root's own dpkg, dracut and lsinitrd run in it (`chroot`).
public final class DracutRoot: @unchecked Sendable {
    public static let built = BuiltCache("dracut-root", baseImage: "root.img")
    public static var cache: String { built.folder }
    public static var base: String { built.baseImage }
    public static var isBuilt: Bool { built.isBuilt }
    public static var environment: [String: String] { built.environment }
    public static var kernelVersion: String { environment["KERNEL_VERSION"] ?? "" }
    public static var rootUUID: String { environment["ROOT_UUID"] ?? "" }

    /// Copies the cached image to `image` (sparse); the cache is never written.
    public static func copy(to image: String) throws { try built.copyBase(to: image) }

    public let image: String
    public let mountPoint: String
    private var loop: AttachedLoop?
    private var tree: MountedTree

    /// Attaches `image` (AttachedLoop: detached by the kernel once the mount and this object
    /// are gone) and mounts it at `mountPoint`.
    public init(image: String, mountPoint: String, chrootable: Bool = false) throws {
        self.image = image
        self.mountPoint = mountPoint
        tree = MountedTree(mountPoint: mountPoint)
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        do {
            let loop = try AttachedLoop(image: image)
            self.loop = loop
            try tree.mount([loop.path, mountPoint])
            if chrootable {
                try tree.bindSystemFolders()
            }
        } catch {
            close()
            throw error
        }
    }

    /// Host path of `absolute` on the disk.
    public func at(_ absolute: String) -> String { tree.at(absolute) }

    /// Runs `arguments` chrooted into the disk, with `environment` added.
    public func chroot(_ arguments: [String], environment: [String: String] = [:]) throws -> Tool.Result {
        try tree.chroot(arguments, environment: environment)
    }

    /// Unmounts (the loop device goes with the last user); safe to call twice.
    public func close() {
        tree.unmountAll()
        loop = nil
    }

    deinit { close() }
}
