import FoundationEssentials
import Glibc
import HealCore

/// A validated fix on disk: the manifest, the new contents and their checksums (the layout
/// is drawn on `FixManifest`). Written whole into a hidden folder and renamed into place,
/// so a reader never sees half a package.
///
/// A package may come from anywhere (a network, another machine's disk), so opening one
/// trusts nothing in it: the folder is a `ConfinedDirectory` with links refused, so no file
/// of it is reached through a link; only regular files are read, their sizes checked against
/// the manifest before a byte is read; `SHA256SUMS` may list `manifest.json` and the
/// `files/<sha256>` the manifest names, nothing else; every file is hashed as it streams;
/// entries of `files/` the manifest does not name are never read and never copied.
public struct FixPackage: Sendable {
    /// The package folder on this machine (for messages and records).
    public let directory: String
    /// The package folder, every path inside it confined and links refused.
    public let folder: ConfinedDirectory
    public let manifest: FixManifest

    /// Largest `manifest.json` and `SHA256SUMS` accepted.
    static let metadataLimit = 16 << 20
    /// Largest contents file accepted.
    public static let fileLimit = 2 << 30

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case write(path: String, reason: String)
        case read(path: String, reason: String)
        case malformed(path: String, reason: String)
        case checksum(path: String, expected: String, actual: String)
        /// A contents file whose size is not the manifest's, found before reading it.
        case size(path: String, expected: Int, actual: Int)

        public var description: String {
            switch self {
            case .write(let path, let reason): "cannot write the fix package at \(path): \(reason)"
            case .read(let path, let reason): "cannot read the fix package at \(path): \(reason)"
            case .malformed(let path, let reason): "the fix package at \(path) is malformed: \(reason)"
            case .checksum(let path, let expected, let actual):
                "the fix package file \(path) does not match its checksum (expected \(expected), found \(actual))"
            case .size(let path, let expected, let actual):
                "the fix package file \(path) does not match its checksum: it holds \(actual) bytes, the manifest says \(expected)"
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

    /// Writes `manifest` and the contents in `files` (keyed by SHA-256) as `out/<id>/`:
    /// built in `out/.<id>.partial/`, every file durable, then renamed into place.
    public static func write(_ manifest: FixManifest, files: [String: [UInt8]], into out: String)
        throws(FixPackage.Error) -> FixPackage
    {
        let folder: ConfinedDirectory
        do {
            try Paths.makeDirectory(out)
            folder = try ConfinedDirectory(out)
        } catch {
            throw .write(path: out, reason: "\(error)")
        }
        return try write(manifest, files: files, into: folder)
    }

    /// Writes the package into an open folder (a root's `fixes` folder, reached inside it).
    public static func write(_ manifest: FixManifest, files: [String: [UInt8]], into folder: ConfinedDirectory)
        throws(FixPackage.Error) -> FixPackage
    {
        // Apply checks the id; here it only has to name one folder inside `folder`.
        guard !manifest.id.isEmpty, !manifest.id.contains("/"), manifest.id != ".", manifest.id != ".." else {
            throw .write(path: folder.path, reason: "\(manifest.id.debugDescription) cannot name a folder")
        }
        let final = "/" + manifest.id
        let partial = "/." + manifest.id + ".partial"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do throws(FileError) {
            try folder.removeTree(partial)
            try folder.makeDirectories(partial + "/files")
            var sums: [(String, String)] = []
            for (digest, contents) in files.sorted(by: { $0.key < $1.key }) {
                try folder.replaceFile(partial + "/files/" + digest, bytes: contents)
                sums.append((digest, "files/" + digest))
            }
            let json: [UInt8]
            do {
                json = Array(try encoder.encode(manifest)) + [0x0a]
            } catch {
                throw FileError.system(path: partial + "/manifest.json", call: "encode", errno: EINVAL)
            }
            try folder.replaceFile(partial + "/manifest.json", bytes: json)
            sums.insert((SHA256.hex(json), "manifest.json"), at: 0)
            // sha256sum(1)'s format, so a person can check the package with the usual tool.
            let lines = sums.map { "\($0.0)  \($0.1)\n" }.joined()
            try folder.replaceFile(partial + "/SHA256SUMS", bytes: Array(lines.utf8))
            try folder.removeTree(final)
            try folder.rename(partial, to: final)
        } catch {
            throw .write(path: folder.hostPath(final), reason: error.description)
        }
        let written: ConfinedDirectory
        do {
            written = try folder.subdirectory(final, links: .refuse)
        } catch {
            throw .read(path: folder.hostPath(final), reason: error.reason)
        }
        return try open(written)
    }

    /// Opens a package folder given by its host path (`apply /path/to/fix`).
    public static func open(_ directory: String) throws(FixPackage.Error) -> FixPackage {
        let folder: ConfinedDirectory
        do {
            folder = try ConfinedDirectory(directory)
        } catch {
            throw .read(path: directory, reason: error.reason)
        }
        return try open(folder)
    }

    /// Opens a package folder and verifies every checksum before anything reads it.
    public static func open(_ folder: ConfinedDirectory) throws(FixPackage.Error) -> FixPackage {
        let directory = folder.path
        let sumsText = try read(folder, "/SHA256SUMS", limit: metadataLimit)
        var listed: [String: String] = [:]
        for line in String(decoding: sumsText, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].utf8.count == 64, parts[0].utf8.allSatisfy(Self.isHex) else {
                throw .malformed(path: directory + "/SHA256SUMS", reason: "bad line \(line)")
            }
            let name = String(parts[1].drop { $0 == " " || $0 == "*" })
            // Only the manifest and contents files named by their digest: nothing else in
            // the folder is ever read.
            let digest = name.hasPrefix("files/") ? String(name.dropFirst("files/".count)) : ""
            guard name == "manifest.json" || (digest.utf8.count == 64 && digest.utf8.allSatisfy(Self.isHex)) else {
                throw .malformed(path: directory + "/SHA256SUMS", reason: "it lists \(name.debugDescription), which is not part of a fix package")
            }
            if !digest.isEmpty && digest != String(parts[0]) {
                throw .malformed(path: directory + "/SHA256SUMS", reason: "\(name) is listed with another checksum than its name")
            }
            guard listed.updateValue(String(parts[0]), forKey: name) == nil else {
                throw .malformed(path: directory + "/SHA256SUMS", reason: "it lists \(name) twice")
            }
        }
        guard let manifestSum = listed["manifest.json"] else {
            throw .malformed(path: directory, reason: "SHA256SUMS does not cover manifest.json")
        }
        let manifestBytes = try read(folder, "/manifest.json", limit: metadataLimit)
        let actual = SHA256.hex(manifestBytes)
        guard actual == manifestSum else { throw .checksum(path: directory + "/manifest.json", expected: manifestSum, actual: actual) }
        let manifest: FixManifest
        do {
            manifest = try JSONDecoder().decode(FixManifest.self, from: Data(manifestBytes))
        } catch {
            throw .malformed(path: directory + "/manifest.json", reason: "\(error)")
        }
        // Every contents file the manifest names: listed, the size the manifest says
        // (checked before reading), and hashing to its name as it streams.
        var named: Set<String> = []
        for contents in manifest.contentsFiles {
            guard let digest = contents.sha256, listed["files/" + digest] != nil else {
                throw .malformed(path: directory, reason: "no checksummed contents for \(contents.purpose)")
            }
            guard named.insert(digest).inserted else { continue }
            let file = try openContents(folder, digest: digest, size: contents.size)
            let hasher = StreamingSHA256()
            do {
                try file.stream(limit: fileLimit) { (piece) throws(FileError) in hasher.update(piece) }
            } catch {
                throw .read(path: directory + "/files/" + digest, reason: error.reason)
            }
            let found = hasher.finish()
            guard found == digest else { throw .checksum(path: directory + "/files/" + digest, expected: digest, actual: found) }
        }
        for name in listed.keys where name != "manifest.json" && !named.contains(String(name.dropFirst("files/".count))) {
            throw .malformed(path: directory + "/SHA256SUMS", reason: "it lists \(name), which the manifest does not name")
        }
        return FixPackage(directory: directory, folder: folder, manifest: manifest)
    }

    /// Opens the contents file `files/<digest>`: a regular file (never through a link) of
    /// `size` bytes when the manifest gives one, refused before it is read otherwise.
    public func contentsFile(_ digest: String, size: Int?) throws(FixPackage.Error) -> OpenFile {
        try Self.openContents(folder, digest: digest, size: size)
    }

    static func openContents(_ folder: ConfinedDirectory, digest: String, size: Int?) throws(FixPackage.Error) -> OpenFile {
        let path = "/files/" + digest
        let file: OpenFile
        do {
            file = try folder.open(path, limit: size ?? fileLimit, links: .refuse)
        } catch {
            throw .read(path: folder.path + path, reason: error.reason)
        }
        if let size, file.size != size {
            throw .size(path: folder.path + path, expected: size, actual: file.size)
        }
        return file
    }

    static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
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

    /// Largest boot console kept in a package: its last bytes when the boot wrote more.
    public static let consoleLimit = 1 << 20

    /// The console of the boot that validated the fix, when the package keeps one.
    public func bootConsole() throws(FixPackage.Error) -> String? {
        guard let attachment = manifest.bootConsole else { return nil }
        let file = try contentsFile(attachment.sha256, size: attachment.size)
        do {
            return String(decoding: try file.readAll(limit: Self.consoleLimit), as: UTF8.self)
        } catch {
            throw .read(path: directory + "/files/" + attachment.sha256, reason: error.reason)
        }
    }

    /// The new contents of a file the fix writes, read whole (for tests and small files;
    /// apply streams them with `contentsFile`).
    public func contents(of change: FixManifest.Change) throws(FixPackage.Error) -> [UInt8] {
        guard let digest = change.sha256 else { throw .malformed(path: directory, reason: "\(change.path) has no contents") }
        let file = try contentsFile(digest, size: change.size)
        let bytes: [UInt8]
        do {
            bytes = try file.readAll(limit: Self.fileLimit)
        } catch {
            throw .read(path: directory + "/files/" + digest, reason: error.reason)
        }
        let actual = SHA256.hex(bytes)
        guard actual == digest else { throw .checksum(path: directory + "/files/" + digest, expected: digest, actual: actual) }
        return bytes
    }

    private static func read(_ folder: ConfinedDirectory, _ path: String, limit: Int) throws(FixPackage.Error) -> [UInt8] {
        do {
            return try folder.read(path, limit: limit, links: .refuse)
        } catch {
            throw .read(path: folder.path + path, reason: error.reason)
        }
    }
}
