import CLinux
import Glibc

/// A disk image or device mounted read-only to be examined as an offline root (`repair
/// --disk`), through a loop device that is itself read-only.
///
/// A read-only mount alone does not keep the bytes: ext4 records an error it meets (a
/// cleared inode looked up) in the superblock through a writable device even when mounted
/// `ro,noload`, and `mount -o loop` reuses a read-write loop device already attached to the
/// same file. So the disk is attached to a loop device of its own, read-only in the kernel
/// (a block device given directly gets a read-only loop over it too), and that is mounted
/// `ro,noload` (`noload`: no journal replay). Every write the kernel tries is refused by
/// the loop driver.
///
/// The loop device is attached with `LOOP_CONFIGURE` and `LO_FLAGS_AUTOCLEAR` (loop(4)):
/// the kernel detaches it when its last user closes it — this object's descriptor until the
/// mount holds it, then the mount. However the process ends (a signal, SIGKILL, a crash),
/// the loop device goes with the mount: nothing is left attached to the disk.
///
/// ```
///  scratch/
///  └── disk-PID-N/       owned by this process (ScratchFolder)
///      └── root/         the mount point: `root`
/// ```
public final class ReadOnlyDisk {
    public let image: String
    /// The read-only loop device the filesystem is mounted from (`/dev/loopN`).
    public let device: String
    public let root: SystemRoot
    private let mountPoint: String
    private let runner: any CommandRunner
    private let folder: ScratchFolder
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
        let folder: ScratchFolder
        do {
            folder = try ScratchFolder(claiming: scratch + "/disk-\(getpid())-\(Self.nextDisk())")
            try Paths.makeDirectory(folder.path + "/root")
        } catch {
            throw .mount(image: image, reason: "\(error)")
        }
        let mountPoint = folder.path + "/root"
        // Gated: a teardown on SIGTERM runs before the loop device exists or once it is
        // mounted in the folder, never in between.
        let device: String
        do throws(ReadOnlyDisk.Error) {
            device = try SignalTeardown.gate { () throws(ReadOnlyDisk.Error) -> String in
                let loop = try Self.attach(image)
                // The loop device's own descriptor keeps it until the mount holds it.
                defer { close(loop.fd) }
                let result: CommandResult
                do {
                    result = try runner.run("mount", ["-o", "ro,noload", loop.device, mountPoint])
                } catch {
                    throw .mount(image: image, reason: "\(error)")
                }
                guard result.succeeded else {
                    throw .mount(image: image, reason: Self.unmountable(loop.device)
                        ?? Self.lastLine(result) ?? "mount exited \(result.status)")
                }
                return loop.device
            }
        } catch {
            folder.release()
            throw error
        }
        let root: SystemRoot
        do {
            root = try SystemRoot(mountPoint)
        } catch {
            _ = try? runner.run("umount", [mountPoint])
            folder.release()
            throw .mount(image: image, reason: "\(error)")
        }
        self.image = image
        self.device = device
        self.mountPoint = mountPoint
        self.runner = runner
        self.folder = folder
        self.root = root
    }

    deinit { release() }

    /// Unmounts the disk, which frees its loop device, and removes the folder. Safe to
    /// call twice.
    public func release() {
        guard !released else { return }
        released = true
        if let unmounted = try? runner.run("umount", [mountPoint]), !unmounted.succeeded {
            // Still busy (a file left open): detach it from the tree now; the loop device
            // below is freed when the last user goes (autoclear).
            _ = try? runner.run("umount", ["-l", mountPoint])
        }
        folder.release()
    }

    /// A new loop device over `image`, read-only and autoclear, and an open descriptor of
    /// it (`LOOP_CTL_GET_FREE`, then `LOOP_CONFIGURE`; `LOOP_SET_FD` and
    /// `LOOP_SET_STATUS64` on kernels before 5.8). Never one already attached to the file;
    /// read-only in the kernel (`/sys/class/block/loopN/ro` is 1).
    private static func attach(_ image: String) throws(ReadOnlyDisk.Error) -> (device: String, fd: Int32) {
        func failure(_ what: String) -> ReadOnlyDisk.Error {
            .attach(image: image, reason: what + ": " + String(cString: strerror(errno)))
        }
        let backing = retryingEINTR { open(image, O_RDONLY | O_CLOEXEC) }
        guard backing >= 0 else { throw failure("cannot open it") }
        defer { close(backing) }
        let control = retryingEINTR { open("/dev/loop-control", O_RDWR | O_CLOEXEC) }
        guard control >= 0 else { throw failure("cannot open /dev/loop-control") }
        defer { close(control) }
        // Another process may take the free device between the two calls: try the next.
        for _ in 0..<16 {
            let number = ioctl(control, UInt(LOOP_CTL_GET_FREE))
            guard number >= 0 else { throw failure("no free loop device") }
            let device = "/dev/loop\(number)"
            let fd = retryingEINTR { open(device, O_RDONLY | O_CLOEXEC) }
            guard fd >= 0 else { throw failure("cannot open \(device)") }
            var config = loop_config()
            config.fd = UInt32(backing)
            config.info.lo_flags = UInt32(LO_FLAGS_READ_ONLY) | UInt32(LO_FLAGS_AUTOCLEAR)
            withUnsafeMutableBytes(of: &config.info.lo_file_name) { name in
                for (index, byte) in image.utf8.prefix(name.count - 1).enumerated() { name[index] = byte }
            }
            var rc = ioctl(fd, UInt(LOOP_CONFIGURE), &config)
            if rc != 0 && (errno == EINVAL || errno == ENOTTY) {
                rc = ioctl(fd, UInt(LOOP_SET_FD), backing)
                if rc == 0 {
                    var status = config.info
                    status.lo_flags = UInt32(LO_FLAGS_AUTOCLEAR)
                    rc = ioctl(fd, UInt(LOOP_SET_STATUS64), &status)
                    if rc != 0 { _ = ioctl(fd, UInt(LOOP_CLR_FD), 0) }
                }
            }
            if rc != 0 {
                let code = errno
                close(fd)
                if code == EBUSY { continue }
                errno = code
                throw failure("cannot attach \(device)")
            }
            let name = "loop\(number)"
            let readOnly = (try? FileReading.text(atPath: "/sys/class/block/\(name)/ro", limit: 16))?.hasPrefix("1") ?? false
            guard readOnly else {
                close(fd)  // autoclear: the last close detaches it
                throw .attach(image: image, reason: "\(device) is not read-only")
            }
            return (device, fd)
        }
        throw .attach(image: image, reason: "every free loop device was taken by another process first")
    }

    nonisolated(unsafe) private static var disks = 0
    private static func nextDisk() -> Int {
        disks += 1
        return disks
    }

    /// Why a disk that `mount` refused cannot be examined, and what a person can do, when
    /// its signature says (libblkid, read through the read-only loop device): an encrypted
    /// volume, a partition table instead of a filesystem, nothing known at all.
    static func unmountable(_ device: String) -> String? {
        let info: BlockInfo?
        do {
            info = try BlockProbe.identify(device)
        } catch {
            return nil
        }
        guard let info else {
            return "it holds no filesystem or partition table that libblkid knows (blank, damaged or foreign); nothing was changed"
        }
        if info.type == "crypto_LUKS" {
            return "it is encrypted (LUKS): clarity-heal cannot read it without its key. Unlock it first "
                + "(cryptsetup open DISK NAME) and give /dev/mapper/NAME to --disk"
        }
        if info.type == nil, let table = info.partitionTableType {
            return "it holds a \(table) partition table, not a filesystem: give the partition that holds the root "
                + "(losetup --find --show --partscan DISK, then --disk /dev/loopNpM)"
        }
        return nil
    }

    private static func lastLine(_ result: CommandResult) -> String? {
        (result.errorOutput + result.output).split(separator: "\n").last.map(String.init)
    }
}
