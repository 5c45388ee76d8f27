import HealCore

/// Where apply keeps its state: paths inside the state folder (`StateDirectory`,
/// `<root>/var/lib/clarity-heal`), always reached through it with links refused.
///
/// ```
///  <root>/var/lib/clarity-heal/
///  ├── journal                    only while an apply or rollback is in flight (JournalRecord)
///  ├── applied/
///  │   ├── .<fix-id>.partial/     being prepared; removed by recovery
///  │   └── <fix-id>/
///  │       ├── package/           verified copy of the fix package (manifest.json, files/, SHA256SUMS)
///  │       ├── plan.json          ApplyPlan: the steps, paths as the root names them
///  │       ├── backup.tar         pax tar of everything the fix replaces or removes (BackupArchive)
///  │       ├── backup-index.json  BackupIndex: what stood at each path, absent ones too
///  │       ├── SHA256SUMS         backup.tar, backup-index.json, plan.json
///  │       └── state.json         AppliedFix: applied | rolled-back
///  ├── staged/<fix-id>/           a verified package waiting for the next boot (Applier.stage)
///  └── refused/<fix-id>/          a staged fix the boot refused, kept for a person
/// ```
public enum ApplyLayout {
    public static let journal = "/journal"
    public static let applied = "/applied"
    public static let staged = "/staged"
    public static let refused = "/refused"
    public static func applied(_ fixID: String) -> String { applied + "/" + fixID }
    public static func partial(_ fixID: String) -> String { applied + "/." + fixID + ".partial" }
    public static func staged(_ fixID: String) -> String { staged + "/" + fixID }
    public static func backup(_ fixID: String) -> String { applied(fixID) + "/backup.tar" }
    public static func package(_ fixID: String) -> String { applied(fixID) + "/package" }
}

/// The record of a fix on a root (`state.json`), written as the last step of an apply and
/// of a rollback.
public struct AppliedFix: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable { case applied, rolledBack = "rolled-back" }

    public var fixID: String
    public var failureClass: FailureClass
    public var strategy: String
    public var state: State
    /// Seconds since the epoch.
    public var appliedAt: Int
    public var rolledBackAt: Int?
    /// Increases with every apply on this root: the last applied fix has the largest.
    public var order: Int
    public var backup: String
    public var backupSHA256: String
    public var needsReboot: Bool
    public var rebootPaths: [String]
    public var paths: [String]
}

/// What `apply` did.
public struct ApplyResult: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable { case applied, alreadyApplied = "already-applied" }

    public struct Change: Sendable, Hashable, Codable {
        public var path: String
        public var action: String
        /// What stood there before: file, symlink, directory or absent.
        public var before: String
    }

    public struct Reboot: Sendable, Hashable, Codable {
        public var needed: Bool
        public var paths: [String]
    }

    public var fixID: String
    public var failureClass: FailureClass
    public var status: Status
    public var changes: [Change]
    public var backup: String
    public var backupSHA256: String
    public var reboot: Reboot
    /// What the recovery that ran first did, when a journal was left.
    public var recovered: RecoveryReport?
}

/// What `rollback` did.
public struct RollbackResult: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable { case rolledBack = "rolled-back", alreadyRolledBack = "already-rolled-back" }

    public var fixID: String
    public var status: Status
    public var restored: [String]
    public var removed: [String]
    public var backup: String
    public var backupSHA256: String
    public var reboot: ApplyResult.Reboot
    public var recovered: RecoveryReport?
}

/// What recovery found and did with an interrupted journal.
public struct RecoveryReport: Sendable, Hashable, Codable {
    public enum Action: String, Sendable, Hashable, Codable {
        /// Interrupted before the target was touched: the half-built state was removed.
        case discarded
        /// Interrupted after the backup was verified: the remaining steps were done.
        case rolledForward = "rolled-forward"
        /// Already committed: only the journal was put away.
        case closed
        /// Interrupted while a block-level repair was changing the device: the device was
        /// put back with `e2undo` (the apply did not happen).
        case undone
    }

    public var fixID: String
    public var operation: JournalRecord.Operation
    public var action: Action
    /// Steps redone.
    public var redone: [Int]
}

/// A package staged for the next boot.
public struct StagedFix: Sendable, Hashable, Codable {
    public var fixID: String
    public var directory: String
    public var needsReboot: Bool
}
