import Foundation
import TestSupport

/// Small real images made by the distro's mkfs tools, for the libblkid suites.
enum DeviceFixture {
    /// Creates a sparse file of `megabytes` at `name` inside `directory`.
    static func blankImage(_ directory: TemporaryDirectory, _ name: String, megabytes: Int = 64) throws -> String {
        let path = directory.path + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw Tool.Failure(message: "cannot create \(path)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(megabytes) << 20)
        try handle.close()
        return path
    }

    /// Runs a tool and fails the test setup when it fails.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], input: String? = nil) throws -> String {
        let result = try Tool.run(tool, arguments, input: input.map { Data($0.utf8) })
        guard result.status == 0 else {
            throw Tool.Failure(message: "\(tool) \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr)")
        }
        return result.stdout
    }

    /// `blkid -p -o export FILE` as a dictionary, without DEVNAME; nil when blkid found
    /// nothing (exit 2).
    static func blkidExport(_ path: String) throws -> (status: Int32, values: [String: String]) {
        let result = try Tool.run("blkid", ["-p", "-o", "export", path])
        var values: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 && parts[0] != "DEVNAME" { values[String(parts[0])] = unescapeShell(String(parts[1])) }
        }
        return (result.status, values)
    }

    /// `-o export` escapes shell-special characters with a backslash (`old\\ fs`).
    private static func unescapeShell(_ value: String) -> String {
        var result = "", escaped = false
        for character in value {
            if !escaped && character == "\\" { escaped = true; continue }
            result.append(character)
            escaped = false
        }
        return result
    }

    /// A fresh UUID, so images never collide with another suite's loop devices.
    static func uuid() -> String { UUID().uuidString.lowercased() }
}
