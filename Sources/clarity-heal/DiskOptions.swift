import ArgumentParser
import HealCore
import HealSystem

/// `--disk IMAGE`: a disk examined read-only instead of `--root` (diagnose, repair).
struct DiskOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A disk image or device holding the root, examined read-only (instead of --root).", valueName: "image"))
    var disk: String?

    @Option(name: .long, help: ArgumentHelp("A root whose /boot/vmlinuz-* and /lib/modules may boot the template guest, tried before this system's (for a disk whose own root cannot be read).", valueName: "dir"))
    var kernelRoot: String?

    /// A disk that cannot be mounted, but whose backup superblock names an ext filesystem:
    /// `repair` repairs it in a template guest.
    struct Unmountable: Error {
        var disk: String
        var mountError: String
        var backup: ExtBackupSuperblock
    }

    /// Where a template guest's kernel may come from: `--kernel-root`, then this system.
    func kernelRoots() throws -> [(root: SystemRoot, source: String)] {
        var roots: [(root: SystemRoot, source: String)] = []
        if let kernelRoot { roots.append((try SystemRoot(kernelRoot), "--kernel-root \(kernelRoot)")) }
        roots.append((try SystemRoot("/"), "this system"))
        return roots
    }

    /// Checks `--disk` against the global options: not with `--root`, and it must exist.
    func validate(_ global: GlobalOptions) throws {
        if disk != nil && global.root != "/" {
            throw ValidationError("give either --root or --disk, not both")
        }
        if let disk, FileReading.status(atPath: disk, followLinks: true) == nil {
            throw ValidationError("cannot use --disk \(disk): it does not exist")
        }
        if disk == nil { _ = try global.systemRoot() }
    }

    /// The root to examine: the disk mounted read-only under `scratch` (added to
    /// `devices`, and kept in `mounted` for the caller to release), or `--root`.
    func root(_ global: GlobalOptions, scratch: String, devices: inout [String],
              mounted: inout ReadOnlyDisk?) throws -> SystemRoot {
        guard let disk else { return try global.systemRoot() }
        do {
            let disk = try ReadOnlyDisk(image: disk, scratch: scratch)
            mounted = disk
            devices.append(disk.image)
            return disk.root
        } catch {
            // Only a disk libblkid names nothing on: a LUKS volume or a partition table keeps
            // its own message.
            if case .mount = error, (try? BlockProbe.identify(disk)) == .some(nil), let backup = ExtBackupSuperblock.find(disk) {
                throw Unmountable(disk: disk, mountError: "\(error)", backup: backup)
            }
            throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
        }
    }
}
