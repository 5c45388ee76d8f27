import FoundationEssentials
import Glibc
import HealCore

/// A validated fix on disk: the manifest, the new contents and their checksums (the layout
/// is drawn on `FixManifest`). Written whole into a hidden folder and renamed into place,
/// so a reader never sees half a package.
public struct FixPackage: Sendable {
    public let directory: String
    public let manifest: FixManifest

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case write(path: String, reason: String)
        case read(path: String, reason: String)
        case malformed(path: String, reason: String)
        case checksum(path: String, expected: String, actual: String)

        public var description: String {
            switch self {
            case .write(let path, let reason): "cannot write the fix package at \(path): \(reason)"
            case .read(let path, let reason): "cannot read the fix package at \(path): \(reason)"
            case .malformed(let path, let reason): "the fix package at \(path) is malformed: \(reason)"
            case .checksum(let path, let expected, let actual):
                "the fix package file \(path) does not match its checksum (expected \(expected), found \(actual))"
            }
        }
    }

    /// The manifest entries and the contents files for a changeset.
    public static func changes(of changeset: Changeset) -> (entries: [FixManifest.Change], files: [String: [UInt8]]) {
        var entries: [FixManifest.Change] = []
        var files: [String: [UInt8]] = [:]
        for path in changeset.paths {
            guard let change = changeset.changes[path] else { continue }
            switch change {
            case .file(let contents, let mode, let owner, let group):
                let digest = SHA256.hex(contents)
                files[digest] = contents
                entries.append(.init(path: path, kind: .file, mode: mode, owner: owner, group: group,
                                     sha256: digest, size: contents.count))
            case .symlink(let target, let owner, let group):
                entries.append(.init(path: path, kind: .symlink, owner: owner, group: group, target: target))
            case .directory(let mode, let owner, let group):
                entries.append(.init(path: path, kind: .directory, mode: mode, owner: owner, group: group))
            case .removed:
                entries.append(.init(path: path, kind: .removed))
            }
        }
        return (entries, files)
    }

    /// Writes `manifest` and the contents in `files` (keyed by SHA-256) as `out/<id>/`.
    public static func write(_ manifest: FixManifest, files: [String: [UInt8]], into out: String)
        throws(FixPackage.Error) -> FixPackage
    {
        let final = out + "/" + manifest.id
        let partial = out + "/." + manifest.id + ".partial"
        do {
            try Paths.removeTree(partial)
            try Paths.makeDirectory(partial + "/files")
        } catch {
            throw .write(path: partial, reason: "\(error)")
        }
        var sums: [(String, String)] = []
        for (digest, contents) in files.sorted(by: { $0.key < $1.key }) {
            try writeFile(partial + "/files/" + digest, contents)
            sums.append((digest, "files/" + digest))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json: [UInt8]
        do {
            json = Array(try encoder.encode(manifest)) + [0x0a]
        } catch {
            throw .write(path: partial + "/manifest.json", reason: "\(error)")
        }
        try writeFile(partial + "/manifest.json", json)
        sums.insert((SHA256.hex(json), "manifest.json"), at: 0)
        // sha256sum(1)'s format, so a person can check the package with the usual tool.
        let lines = sums.map { "\($0.0)  \($0.1)\n" }.joined()
        try writeFile(partial + "/SHA256SUMS", Array(lines.utf8))
        guard rename(partial, final) == 0 else {
            throw .write(path: final, reason: String(cString: strerror(errno)))
        }
        return FixPackage(directory: final, manifest: manifest)
    }

    /// Opens a package and verifies every checksum before anything reads it.
    public static func open(_ directory: String) throws(FixPackage.Error) -> FixPackage {
        let sumsText = try read(directory + "/SHA256SUMS")
        var listed: [String: String] = [:]
        for line in String(decoding: sumsText, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { throw .malformed(path: directory + "/SHA256SUMS", reason: "bad line \(line)") }
            let name = parts[1].drop { $0 == " " || $0 == "*" }
            guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
                throw .malformed(path: directory + "/SHA256SUMS", reason: "path \(name) leaves the package")
            }
            listed[String(name)] = String(parts[0])
        }
        for (name, expected) in listed {
            let actual = SHA256.hex(try read(directory + "/" + name))
            guard actual == expected else { throw .checksum(path: directory + "/" + name, expected: expected, actual: actual) }
        }
        guard listed["manifest.json"] != nil else {
            throw .malformed(path: directory, reason: "SHA256SUMS does not cover manifest.json")
        }
        let manifest: FixManifest
        do {
            manifest = try JSONDecoder().decode(FixManifest.self, from: Data(try read(directory + "/manifest.json")))
        } catch let error as FixPackage.Error {
            throw error
        } catch {
            throw .malformed(path: directory + "/manifest.json", reason: "\(error)")
        }
        for change in manifest.changes where change.kind == .file {
            guard let digest = change.sha256, listed["files/" + digest] != nil else {
                throw .malformed(path: directory, reason: "no checksummed contents for \(change.path)")
            }
        }
        return FixPackage(directory: directory, manifest: manifest)
    }

    /// The changes the package carries, contents read and checksum-verified: what apply
    /// writes, and what a test applies to a copy (`Changeset.asOperations`).
    public func changeset() throws(FixPackage.Error) -> Changeset {
        var changeset = Changeset()
        for change in manifest.changes {
            let owner = change.owner ?? 0, group = change.group ?? 0
            switch change.kind {
            case .file:
                changeset.changes[change.path] = .file(contents: try contents(of: change), mode: change.mode ?? 0o644,
                                                       owner: owner, group: group)
            case .symlink:
                guard let target = change.target else { throw .malformed(path: directory, reason: "\(change.path) has no link target") }
                changeset.changes[change.path] = .symlink(target: target, owner: owner, group: group)
            case .directory:
                changeset.changes[change.path] = .directory(mode: change.mode ?? 0o755, owner: owner, group: group)
            case .removed:
                changeset.changes[change.path] = .removed
            }
        }
        return changeset
    }

    /// The new contents of a file the fix writes.
    public func contents(of change: FixManifest.Change) throws(FixPackage.Error) -> [UInt8] {
        guard let digest = change.sha256 else { throw .malformed(path: directory, reason: "\(change.path) has no contents") }
        let bytes = try Self.read(directory + "/files/" + digest)
        let actual = SHA256.hex(bytes)
        guard actual == digest else { throw .checksum(path: directory + "/files/" + digest, expected: digest, actual: actual) }
        return bytes
    }

    private static func read(_ path: String) throws(FixPackage.Error) -> [UInt8] {
        do {
            return try FileReading.bytes(atPath: path, limit: 1 << 30)
        } catch {
            throw .read(path: path, reason: "\(error)")
        }
    }

    private static func writeFile(_ path: String, _ bytes: [UInt8]) throws(FixPackage.Error) {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .write(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .write(path: path, reason: String(cString: strerror(errno)))
            }
            written += n
        }
        guard fsync(fd) == 0 else { throw .write(path: path, reason: String(cString: strerror(errno))) }
    }
}
