/// What stood at each path of a fix before it was applied: the table of contents of the
/// backup (`backup.tar` holds the bytes). Paths that did not exist are listed too, so a
/// rollback knows to remove what the fix created.
public struct BackupIndex: Sendable, Hashable, Codable {
    public struct Entry: Sendable, Hashable, Codable {
        public enum Kind: String, Sendable, Hashable, Codable { case file, symlink, directory, absent }

        /// The path inside the root (as the plan resolved it).
        public var path: String
        public var kind: Kind
        public var mode: UInt32?
        public var owner: UInt32?
        public var group: UInt32?
        /// SHA-256 of the contents, for files.
        public var sha256: String?
        public var size: Int64?
        public var target: String?
        /// Whether the archive holds the folder's contents too (a folder the fix removes),
        /// or only its metadata (a folder the fix keeps).
        public var tree: Bool

        public init(path: String, kind: Kind, mode: UInt32? = nil, owner: UInt32? = nil, group: UInt32? = nil,
                    sha256: String? = nil, size: Int64? = nil, target: String? = nil, tree: Bool = false) {
            self.path = path
            self.kind = kind
            self.mode = mode
            self.owner = owner
            self.group = group
            self.sha256 = sha256
            self.size = size
            self.target = target
            self.tree = tree
        }
    }

    public var fixID: String
    /// One entry per step of the apply plan, in step order.
    public var entries: [Entry]

    public init(fixID: String, entries: [Entry]) {
        self.fixID = fixID
        self.entries = entries
    }
}

/// The steps that undo an applied fix: the apply plan's paths in reverse order, each put
/// back as the backup holds it, or removed when it did not exist before.
public struct RollbackPlan: Sendable, Hashable, Codable {
    public struct Step: Sendable, Hashable, Codable, CustomStringConvertible {
        public enum Action: String, Sendable, Hashable, Codable {
            /// Put the backed-up file, link or folder tree back (write-temp, rename).
            case restore
            /// Give an existing folder its old mode, owner and times back.
            case restoreMetadata = "restore-metadata"
            /// Remove what the fix created (a folder only when empty).
            case remove
        }

        public var index: Int
        public var action: Action
        public var path: String

        public var description: String { "\(action.rawValue) \(path)" }
    }

    public var fixID: String
    public var steps: [Step]

    public init(fixID: String, steps: [Step]) {
        self.fixID = fixID
        self.steps = steps
    }

    /// The rollback for `index`: the reverse of apply's order, so removed trees come back
    /// before their children are touched and created folders go last, deepest first.
    public static func make(_ index: BackupIndex) -> RollbackPlan {
        var steps: [Step] = []
        for entry in index.entries.reversed() {
            let action: Step.Action = switch entry.kind {
            case .absent: .remove
            case .directory where !entry.tree: .restoreMetadata
            default: .restore
            }
            steps.append(Step(index: steps.count, action: action, path: entry.path))
        }
        return RollbackPlan(fixID: index.fixID, steps: steps)
    }
}
