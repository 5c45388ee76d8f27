import ArgumentParser
import HealCore
import HealSystem

/// `--disk IMAGE`: a disk examined read-only instead of `--root` (diagnose, repair).
struct DiskOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A disk image or device holding the root, examined read-only (instead of --root).", valueName: "image"))
    var disk: String?

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
            throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
        }
    }
}
