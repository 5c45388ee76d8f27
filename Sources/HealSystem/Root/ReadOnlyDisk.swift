import Glibc

/// A disk image or device mounted read-only to be examined as an offline root (`repair
/// --disk`). `noload` keeps ext4 from replaying its journal: the disk's bytes stay exactly
/// as they were.
public final class ReadOnlyDisk {
    public let image: String
    public let root: SystemRoot
    private let mountPoint: String
    private let runner: any CommandRunner
    private var mounted = true

    public enum Error: Swift.Error, CustomStringConvertible {
        case mount(image: String, reason: String)

        public var description: String {
            switch self {
            case .mount(let image, let reason): "cannot mount \(image) read-only: \(reason)"
            }
        }
    }

    /// Mounts `image` read-only on a new folder under `scratch`.
    public init(image: String, scratch: String, runner: any CommandRunner = SpawnCommandRunner()) throws(ReadOnlyDisk.Error) {
        self.image = image
        self.runner = runner
        mountPoint = scratch + "/disk-\(getpid())"
        do {
            try Paths.makeDirectory(mountPoint)
        } catch {
            throw .mount(image: image, reason: "\(error)")
        }
        let isRegularFile = (FileReading.status(atPath: image, followLinks: true)?.st_mode ?? 0) & S_IFMT == S_IFREG
        let options = "ro,noload" + (isRegularFile ? ",loop" : "")
        let result: CommandResult
        do {
            result = try runner.run("mount", ["-o", options, image, mountPoint])
        } catch {
            throw .mount(image: image, reason: "\(error)")
        }
        guard result.succeeded else {
            rmdir(mountPoint)
            throw .mount(image: image, reason: result.errorOutput.split(separator: "\n").last.map(String.init) ?? "mount exited \(result.status)")
        }
        do {
            root = try SystemRoot(mountPoint)
        } catch {
            _ = try? runner.run("umount", [mountPoint])
            throw .mount(image: image, reason: "\(error)")
        }
    }

    deinit { release() }

    /// Unmounts the disk (and detaches its loop device). Safe to call twice.
    public func release() {
        guard mounted else { return }
        mounted = false
        _ = try? runner.run("umount", ["-d", mountPoint])
        rmdir(mountPoint)
    }
}
