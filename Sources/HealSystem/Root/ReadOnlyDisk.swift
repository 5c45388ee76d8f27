import Glibc

/// A disk image or device mounted read-only to be examined as an offline root (`repair
/// --disk`), through a loop device that is itself read-only.
///
/// A read-only mount alone does not keep the bytes: ext4 records an error it meets (a
/// cleared inode looked up) in the superblock through a writable device even when mounted
/// `ro,noload`, and `mount -o loop` reuses a read-write loop device already attached to the
/// same file. So the disk is attached with `losetup --read-only --find --show` to a loop
/// device of its own (a block device given directly gets a read-only loop over it too),
/// and that is mounted `ro,noload` (`noload`: no journal replay). Every write the kernel
/// tries is refused by the loop driver.
public final class ReadOnlyDisk {
    public let image: String
    /// The read-only loop device the filesystem is mounted from (`/dev/loopN`).
    public let device: String
    public let root: SystemRoot
    private let mountPoint: String
    private let runner: any CommandRunner
    private var released = false

    public enum Error: Swift.Error, CustomStringConvertible {
        case attach(image: String, reason: String)
        case mount(image: String, reason: String)

        public var description: String {
            switch self {
            case .attach(let image, let reason): "cannot attach \(image) to a read-only loop device: \(reason)"
            case .mount(let image, let reason): "cannot mount \(image) read-only: \(reason)"
            }
        }
    }

    /// Attaches `image` (an image file or a block device) to a new read-only loop device
    /// and mounts that on a new folder under `scratch`.
    /// - Throws: `ReadOnlyDisk.Error` with the tool's own message; nothing stays attached
    ///   or mounted.
    public init(image: String, scratch: String, runner: any CommandRunner = SpawnCommandRunner()) throws(ReadOnlyDisk.Error) {
        let kind = (FileReading.status(atPath: image, followLinks: true)?.st_mode ?? 0) & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else {
            throw .attach(image: image, reason: "neither a block device nor an image file")
        }
        let device = try Self.attach(image, runner: runner)
        let mountPoint = scratch + "/disk-\(getpid())"
        do {
            try Paths.makeDirectory(mountPoint)
        } catch {
            Self.detach(device, runner: runner)
            throw .mount(image: image, reason: "\(error)")
        }
        let result: CommandResult
        do {
            result = try runner.run("mount", ["-o", "ro,noload", device, mountPoint])
        } catch {
            rmdir(mountPoint)
            Self.detach(device, runner: runner)
            throw .mount(image: image, reason: "\(error)")
        }
        guard result.succeeded else {
            rmdir(mountPoint)
            Self.detach(device, runner: runner)
            throw .mount(image: image, reason: Self.lastLine(result) ?? "mount exited \(result.status)")
        }
        let root: SystemRoot
        do {
            root = try SystemRoot(mountPoint)
        } catch {
            _ = try? runner.run("umount", [mountPoint])
            rmdir(mountPoint)
            Self.detach(device, runner: runner)
            throw .mount(image: image, reason: "\(error)")
        }
        self.image = image
        self.device = device
        self.mountPoint = mountPoint
        self.runner = runner
        self.root = root
    }

    deinit { release() }

    /// Unmounts the disk and detaches its loop device. Safe to call twice.
    public func release() {
        guard !released else { return }
        released = true
        if let unmounted = try? runner.run("umount", [mountPoint]), !unmounted.succeeded {
            // Still busy (a file left open): detach it from the tree now; the loop device
            // below is freed when the last user goes (the kernel's autoclear, see detach).
            _ = try? runner.run("umount", ["-l", mountPoint])
        }
        rmdir(mountPoint)
        Self.detach(device, runner: runner)
    }

    /// `losetup --read-only --find --show`: a new loop device, never one already attached
    /// to the file, read-only in the kernel (`/sys/class/block/loopN/ro` is 1).
    private static func attach(_ image: String, runner: any CommandRunner) throws(ReadOnlyDisk.Error) -> String {
        let result: CommandResult
        do {
            result = try runner.run("losetup", ["--read-only", "--find", "--show", image])
        } catch {
            throw .attach(image: image, reason: "\(error)")
        }
        guard result.succeeded else {
            throw .attach(image: image, reason: lastLine(result) ?? "losetup exited \(result.status)")
        }
        let device = String(result.output.prefix { $0 != "\n" })
        guard device.hasPrefix("/dev/") else {
            throw .attach(image: image, reason: "losetup named no device")
        }
        let name = device.split(separator: "/").last.map(String.init) ?? ""
        let readOnly = (try? FileReading.text(atPath: "/sys/class/block/\(name)/ro", limit: 16))?.hasPrefix("1") ?? false
        guard readOnly else {
            detach(device, runner: runner)
            throw .attach(image: image, reason: "\(device) is not read-only")
        }
        return device
    }

    /// `losetup -d`: frees the loop device now when unused, else the kernel marks it
    /// autoclear and frees it when its last user (a lazily unmounted filesystem) closes it.
    private static func detach(_ device: String, runner: any CommandRunner) {
        _ = try? runner.run("losetup", ["-d", device])
    }

    private static func lastLine(_ result: CommandResult) -> String? {
        (result.errorOutput + result.output).split(separator: "\n").last.map(String.init)
    }
}
