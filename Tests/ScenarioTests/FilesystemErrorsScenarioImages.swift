import Foundation
import TestSupport

/// Small real filesystems for the filesystem and resource scenarios: made with mkfs,
/// broken with debugfs, attached to loop devices (AttachedLoop) and mounted with `mount -o loop`.
enum ScenarioDisk {
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> Tool.Result {
        let result = try Tool.run(tool, arguments)
        guard result.status == 0 else {
            throw Tool.Failure(message: "\(tool) \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr)")
        }
        return result
    }

    /// A sparse file of `megabytes` formatted by `mkfs.ext4 -q -F <arguments>`.
    static func ext4(in directory: TemporaryDirectory, _ name: String, megabytes: Int, _ arguments: [String] = []) throws -> String {
        let path = directory.path + "/" + name
        try run("truncate", ["-s", "\(megabytes)M", path])
        try run("mkfs.ext4", ["-q", "-F"] + arguments + [path])
        return path
    }

    /// A small tree for `mkfs.ext4 -d`: a few files in two folders.
    static func tree(in directory: TemporaryDirectory) throws -> String {
        for (name, text) in [("etc/hostname", "scenario\n"), ("data/a", "alpha\n"), ("data/b", "beta\n"), ("data/c", "gamma\n")] {
            try directory.write("tree/" + name, text)
        }
        return directory.path + "/tree"
    }

    static func uuid() -> String { UUID().uuidString.lowercased() }
}

/// An image mounted with `mount -o loop` on a folder; unmounted when released.
final class ScenarioMount: @unchecked Sendable {
    let path: String
    let image: String
    let options: String

    init(image: String, at path: String, options: String = "loop") throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try ScenarioDisk.run("mount", ["-o", options, image, path])
        self.path = path
        self.image = image
        self.options = options
    }

    /// Unmounts and mounts the image again: every inode the kernel still held is released.
    func remount() throws {
        try ScenarioDisk.run("umount", [path])
        try ScenarioDisk.run("mount", ["-o", options, image, path])
    }

    deinit {
        // Busy (a file still open in it): detached now, and its loop device (autoclear, as
        // `mount -o loop` makes it) freed when the last user goes.
        if (try? Tool.run("umount", [path]))?.status != 0 { _ = try? Tool.run("umount", ["-l", path]) }
    }
}
