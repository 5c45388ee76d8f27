/// What a repair changed in a clone, read from the environment's layer: the exact set of
/// writes the real system will receive.
public struct Changeset: Sendable, Hashable, Codable {
    public enum Change: Sendable, Hashable, Codable {
        /// A regular file written or created, with its final contents and metadata.
        case file(contents: [UInt8], mode: UInt32, owner: UInt32, group: UInt32)
        /// A symbolic link created or replaced.
        case symlink(target: String, owner: UInt32, group: UInt32)
        /// A directory created (or whose metadata changed).
        case directory(mode: UInt32, owner: UInt32, group: UInt32)
        /// Removed: an overlay whiteout, or absent from a copy.
        case removed
    }

    /// Changes keyed by absolute path, as the examined system sees it.
    public var changes: [String: Change]

    public init(changes: [String: Change] = [:]) {
        self.changes = changes
    }

    public var isEmpty: Bool { changes.isEmpty }

    /// Paths in a stable order, parents before children.
    public var paths: [String] { changes.keys.sorted() }

    /// Paths of files, links and removals: everything but folders, which overlayfs copies up
    /// as parents of a changed file even when they did not change themselves.
    public var modifiedPaths: [String] {
        paths.filter { path in
            if case .directory = changes[path] { return false }
            return true
        }
    }

    /// Paths changed that no operation declared (a strategy that did more than it said).
    /// - Parameter canonical: maps a declared path to the path the change is recorded under
    ///   (on a merged-/usr system `/lib/modules/…` is written as `/usr/lib/modules/…`).
    public func undeclared(by operations: [RepairOperation], canonical: (String) -> String = { $0 }) -> [String] {
        let declared = operations.flatMap(\.declaredPaths).flatMap { path in
            let resolved = canonical(path)
            // Keep a trailing slash: it marks a declared folder prefix.
            return [path, path.hasSuffix("/") && !resolved.hasSuffix("/") ? resolved + "/" : resolved]
        }
        return modifiedPaths.filter { path in
            !declared.contains { $0.hasSuffix("/") ? path.hasPrefix($0) : path == $0 }
        }
    }
}

extension Changeset {
    /// The operations that reproduce this changeset on another copy of the same root:
    /// folders first (parents before children), then files and links, removals last and
    /// deepest first.
    public var asOperations: [RepairOperation] {
        var folders: [RepairOperation] = [], writes: [RepairOperation] = [], removals: [RepairOperation] = []
        for path in paths {
            guard let change = changes[path] else { continue }
            switch change {
            case .directory(let mode, _, _):
                folders.append(.makeDirectory(path: path, mode: mode))
            case .file(let contents, let mode, _, _):
                writes.append(.writeFile(path: path, contents: contents, mode: mode))
            case .symlink(let target, _, _):
                writes.append(.makeSymlink(path: path, target: target))
            case .removed:
                removals.append(.removeFile(path: path))
            }
        }
        return folders + writes + removals.reversed()
    }
}
