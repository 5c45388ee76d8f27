import Foundation

/// The healthy Debian machines of other shapes that `scripts/make-shapes` builds and caches
/// in `.cache/shapes/<name>/`: a separate /boot, a btrfs root, swap, network mounts, BLS
/// entries, two kernels, a saved GRUB default, fstab tags, mounts the boot does not wait for.
public enum Shapes {
    public static var cache: String { TestRoot.repository + "/.cache/shapes" }

    /// Every variant, in the order `scripts/make-shapes` builds them.
    public static let names = [
        "separate-boot", "btrfs-root", "swap", "network-mounts", "bls-grub", "systemd-boot", "two-kernels",
        "grub-saved-id", "grub-saved-path", "fstab-tags", "extra-mounts",
    ]

    /// The variant `name`, read from its env file.
    public static func shape(_ name: String) throws -> Shape {
        try Shape(name: name)
    }
}

/// One cached variant: the layers of its root and the images that belong to it.
public struct Shape: Sendable, CustomStringConvertible {
    public let name: String
    /// `.cache/shapes/<name>`.
    public let folder: String
    /// The env file's values (see scripts/make-shapes).
    public let values: [String: String]

    init(name: String) throws {
        self.name = name
        folder = Shapes.cache + "/" + name
        let text: String
        do {
            text = try String(contentsOfFile: folder + "/env", encoding: .utf8)
        } catch {
            throw Tool.Failure(message: "shape \(name) is not built (run scripts/make-shapes): \(error)")
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            var value = Substring(parts[1])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            values[String(parts[0])] = String(value)
        }
        self.values = values
    }

    public var description: String { name }

    /// Words of a value (`IMAGES`, `KERNELS`).
    public func words(_ key: String) -> [String] {
        (values[key] ?? "").split(separator: " ").map(String.init)
    }

    /// `image=/mount/point` pairs of a value (`MOUNTS`, `ESP`), the image as a host path.
    public func pairs(_ key: String) -> [(image: String, mountPoint: String)] {
        words(key).compactMap { word in
            let parts = word.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (folder + "/" + parts[0], String(parts[1])) : nil
        }
    }

    /// The images passed with `--device`, as host paths.
    public var images: [String] { words("IMAGES").map { folder + "/" + $0 } }
    /// A partitioned disk image, when the machine has one.
    public var disk: String? { values["DISK"].flatMap { $0.isEmpty ? nil : folder + "/" + $0 } }
    /// Every image file of the machine (to hash before and after).
    public var allImages: [String] { images + (disk.map { [$0] } ?? []) + pairs("ESP").map(\.image) }
    public var kernels: [String] { words("KERNELS") }
    /// The kernel the boot loader starts by default.
    public var defaultKernel: String { values["DEFAULT_KERNEL"] ?? "" }

    /// The machine as its booted system sees it, on a throwaway copy: an overlay of the
    /// cached layers, its other filesystems mounted read-only where fstab mounts them (or,
    /// for a FAT partition this kernel cannot mount, its files copied there), its
    /// partitioned disk attached read-only. With `mounted: false`, the root alone, as an
    /// offline root looks before anything is mounted on it.
    public func examine(mounted: Bool = true) throws -> ExaminedShape {
        try ExaminedShape(self, mounted: mounted)
    }
}

/// A writable copy of a shape with its filesystems in place; everything is unmounted and
/// detached when released.
public final class ExaminedShape: @unchecked Sendable {
    public let shape: Shape
    public let copy: OverlayCopy
    /// `--device` arguments: the images and the partitions of the disk.
    public private(set) var devices: [String] = []
    /// Read-only loop devices attached (whole-file, or a disk with its partitions).
    private var loops: [String] = []
    private var mountPoints: [String] = []

    init(_ shape: Shape, mounted: Bool) throws {
        self.shape = shape
        copy = try OverlayCopy(lower: shape.values["LOWERDIR"] ?? "")
        devices = shape.images
        do {
            if mounted { try mountFilesystems() }
            if let disk = shape.disk { devices += try attachDisk(disk) }
        } catch {
            release()
            throw error
        }
    }

    /// The root path, for `--root`.
    public var root: String { copy.path }

    /// `--root ROOT --device …` for a command.
    public var arguments: [String] { ["--root", root] + devices.flatMap { ["--device", $0] } }

    private func mountFilesystems() throws {
        for (image, mountPoint) in shape.pairs("MOUNTS") {
            let loop = try attach(image, partitions: false)
            // noload: no journal replay; the loop device refuses writes anyway.
            try run("/bin/mount", ["-o", "ro,noload", loop, copy.at(mountPoint)])
            mountPoints.append(copy.at(mountPoint))
        }
        for (image, mountPoint) in shape.pairs("ESP") {
            // mtools expands `::/*` itself.
            try run("/usr/bin/mcopy", ["-s", "-p", "-m", "-i", image, "::/*", copy.at(mountPoint) + "/"])
        }
    }

    /// Attaches the disk read-only with its partitions and returns their nodes. Nothing
    /// here runs udev: partx asks the kernel for the partitions, devtmpfs makes the nodes.
    private func attachDisk(_ image: String) throws -> [String] {
        let loop = try attach(image, partitions: true)
        _ = try Tool.run("/usr/bin/partx", ["-a", loop])
        let name = (loop as NSString).lastPathComponent
        let listed = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/block/\(name)")) ?? []
        let partitions = listed.filter { $0.hasPrefix(name + "p") }.sorted().map { "/dev/" + $0 }
        guard !partitions.isEmpty else { throw Tool.Failure(message: "no partitions of \(image) on \(loop)") }
        return partitions
    }

    private func attach(_ image: String, partitions: Bool) throws -> String {
        let result = try Tool.run("/sbin/losetup", ["--read-only", "--find", "--show"] + (partitions ? ["-P"] : []) + [image])
        let loop = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, loop.hasPrefix("/dev/loop") else {
            throw Tool.Failure(message: "losetup \(image) failed: \(result.stderr)")
        }
        loops.append(loop)
        return loop
    }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let result = try Tool.run(tool, arguments)
        guard result.status == 0 else {
            throw Tool.Failure(message: "\(tool) \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
    }

    private func release() {
        for mountPoint in mountPoints.reversed() { _ = try? Tool.run("/bin/umount", [mountPoint]) }
        mountPoints = []
        for loop in loops.reversed() {
            _ = try? Tool.run("/usr/bin/partx", ["-d", loop])
            _ = try? Tool.run("/sbin/losetup", ["-d", loop])
        }
        loops = []
    }

    deinit { release() }
}
