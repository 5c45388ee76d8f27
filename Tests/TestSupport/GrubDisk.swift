import Foundation

/// A copy of the partitioned GRUB disk `scripts/make-grub-disk` builds (the Debian test root,
/// real grub-pc in its MBR), attached with its partition and mounted with /dev, /proc and
/// /sys bound in, so the distro's own tools run in it (`chroot`): dpkg, update-initramfs,
/// update-grub. There is no udev here: the partition node is made when it does not appear,
/// and /dev/disk/by-uuid/UUID is linked while the disk is mounted (grub-mkconfig writes
/// root=UUID= only when that link exists).
public final class GrubDisk: @unchecked Sendable {
    public static let built = BuiltCache("grub-disk", baseImage: "base.img")
    public static var cache: String { built.folder }
    public static var base: String { built.baseImage }
    public static var isBuilt: Bool { built.isBuilt }
    public static var environment: [String: String] { built.environment }
    public static var uuid: String { environment["GRUB_DISK_UUID"] ?? "" }
    /// The SOURCE_DATE_EPOCH the base's initramfs was built with: a rebuild of the same
    /// files with it is the same bytes.
    public static var sourceDateEpoch: String { environment["SOURCE_DATE_EPOCH"] ?? "" }

    /// The package `scripts/test` builds before the suites run (`scripts/package`).
    public static var package: String? {
        let folder = TestRoot.repository + "/.cache/package"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasPrefix("clarity-heal_") && $0.hasSuffix("_amd64.deb") }.sorted().last.map { folder + "/" + $0 }
    }

    public let image: String
    public let mountPoint: String
    public private(set) var loop: String?
    private var tree: MountedTree
    private var link: String?
    private var holdsTurn = false

    /// One GRUB disk attached at a time in this process: every copy has the base's UUID,
    /// and /dev/disk/by-uuid/UUID (which grub-mkconfig reads) can name only one of them.
    /// The package suite and the real-boot suite run side by side otherwise.
    private static let turn = DispatchSemaphore(value: 1)

    /// Copies the base disk to `image` (sparse).
    public static func copy(to image: String) throws { try built.copyBase(to: image) }

    /// Attaches `image` and mounts its partition at `mountPoint`.
    public init(image: String, mountPoint: String) throws {
        self.image = image
        self.mountPoint = mountPoint
        tree = MountedTree(mountPoint: mountPoint)
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        Self.turn.wait()
        holdsTurn = true
        do {
            let attach = try Tool.run("/sbin/losetup", ["-f", "--show", "-P", image])
            guard attach.status == 0 else { throw Tool.Failure(message: "losetup: \(attach.stderr)") }
            let loop = attach.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            self.loop = loop
            let partition = loop + "p1"
            if !FileManager.default.fileExists(atPath: partition) {
                _ = try Tool.run("/usr/bin/partx", ["-a", loop])
            }
            if !FileManager.default.fileExists(atPath: partition) {
                let numbers = try String(contentsOfFile: "/sys/class/block/\((partition as NSString).lastPathComponent)/dev", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").map(String.init)
                let node = try Tool.run("/bin/mknod", [partition, "b"] + numbers)
                guard node.status == 0 else { throw Tool.Failure(message: "mknod: \(node.stderr)") }
            }
            try tree.mount([partition, mountPoint])
            try tree.bindSystemFolders()
            try FileManager.default.createDirectory(atPath: "/dev/disk/by-uuid", withIntermediateDirectories: true)
            let link = "/dev/disk/by-uuid/" + Self.uuid
            try? FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: partition)
            self.link = link
        } catch {
            close()
            throw error
        }
    }

    /// Runs `arguments` chrooted into the disk, with `environment` added.
    public func chroot(_ arguments: [String], environment: [String: String] = [:]) throws -> Tool.Result {
        try tree.chroot(arguments, environment: environment)
    }

    /// Host path of `absolute` on the disk.
    public func at(_ absolute: String) -> String { tree.at(absolute) }

    /// Every file, folder and link on the disk with its type, mode, owner and content
    /// (SHA-256, or a link's target), one sorted line each; `excluding` paths (relative,
    /// like `var/lib/dpkg`) are left out whole.
    public func inventory(excluding: [String]) throws -> [String] {
        let prune = excluding.map { "-path ./\($0)" }.joined(separator: " -o ")
        let script = """
            cd "$1" && find . -xdev \\( \(prune) \\) -prune -o -printf '%y %m %U %G %p -> %l\\n' | sort \
              && find . -xdev \\( \(prune) \\) -prune -o -type f -print0 | sort -z | xargs -0 sha256sum
            """
        let run = try Tool.run("/bin/sh", ["-c", script, "inventory", mountPoint])
        guard run.status == 0 else { throw Tool.Failure(message: "inventory: \(run.stderr)") }
        return run.stdout.split(separator: "\n").map(String.init)
    }

    /// Unmounts and detaches (also on a failed init); safe to call twice.
    public func close() {
        if let link { try? FileManager.default.removeItem(atPath: link) }
        link = nil
        tree.unmountAll()
        if let loop { _ = try? Tool.run("/sbin/losetup", ["-d", loop]) }
        loop = nil
        if holdsTurn {
            holdsTurn = false
            Self.turn.signal()
        }
    }

    deinit { close() }
}
