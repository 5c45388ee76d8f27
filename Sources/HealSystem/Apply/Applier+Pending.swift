import Glibc
import HealCore

/// An apply or rollback a crash (or a killed process) left in the journal, and what the
/// next command that writes to the root will do with it. Commands that only read report
/// it and leave it alone: recovery writes, and a root's state is not trusted by a command
/// that was asked only to look.
public struct PendingRecovery: Sendable, Hashable, Codable {
    public enum Action: String, Sendable, Hashable, Codable {
        /// Only `prepare`: the target was not touched; the half-built state is removed.
        case discard
        /// `begin` without `commit`: the steps not marked done are done.
        case rollForward = "roll-forward"
        /// `begin` of a block-level apply whose e2fsck did not finish: the device is put
        /// back with e2undo.
        case undo
        /// `commit`: finished; only the journal is put away.
        case close
        /// Nothing was announced (a torn header): the journal is removed.
        case remove
        /// The journal cannot be read as one: recovery will stop and ask for a person.
        case unreadable
    }

    /// The journal's host path.
    public var journal: String
    public var action: Action
    public var operation: JournalRecord.Operation?
    public var fixID: String?
    /// Steps announced by `begin`, and how many are marked done.
    public var steps: Int?
    public var stepsDone: Int?
    /// Why the journal cannot be read, for `unreadable`.
    public var reason: String?

    /// One line for a person.
    public var sentence: String {
        let what = operation.map { "an interrupted \($0.rawValue) of \(fixID ?? "?")" } ?? "an apply journal"
        let next = "the next apply, rollback, boot or verify"
        switch action {
        case .discard: return "\(what) is pending: \(next) discards it (it had not changed the root)"
        case .rollForward: return "\(what) is pending (\(stepsDone ?? 0) of \(steps ?? 0) steps done): \(next) finishes it"
        case .undo: return "\(what) is pending: \(next) puts its device back with e2undo"
        case .close: return "\(what) is pending: it had finished; \(next) puts its journal away"
        case .remove: return "\(what) with nothing in it is pending: \(next) removes it"
        case .unreadable: return "\(what) at \(journal) cannot be read (\(reason ?? "?")): \(next) stops on it"
        }
    }
}

extension Applier {
    /// The operation recovery would finish on this root, read from its journal; nil when
    /// there is none. Writes nothing, and never fails: a journal that cannot be read is
    /// reported as `unreadable`.
    public func pendingRecovery() -> PendingRecovery? {
        let path = root.host(StateDirectory.path + ApplyLayout.journal)
        func unreadable(_ reason: String) -> PendingRecovery {
            PendingRecovery(journal: path, action: .unreadable, reason: reason)
        }
        let state: StateDirectory
        do {
            guard let existing = try existingState() else { return nil }
            state = existing
        } catch {
            // A state folder that is not clarity-heal's own is never recovered from: say so
            // only when something there calls itself a journal.
            guard root.files.statusIfPresent(StateDirectory.path + ApplyLayout.journal) != nil else { return nil }
            return unreadable("\(error)")
        }
        guard let st = state.files.statusIfPresent(ApplyLayout.journal, links: .refuse) else { return nil }
        // Only a regular file is opened: a FIFO planted there would block the read.
        guard (st.st_mode & S_IFMT) == S_IFREG else { return unreadable("not a regular file") }
        let records: [JournalRecord]
        do {
            records = try ApplyJournal.records(in: state) ?? []
        } catch {
            return unreadable("\(error)")
        }
        guard let journal = JournalState(records) else { return PendingRecovery(journal: path, action: .remove) }
        var pending = PendingRecovery(journal: path, action: .discard, operation: journal.operation, fixID: journal.fixID)
        switch journal.phase {
        case .prepared:
            pending.action = .discard
        case .committed:
            pending.action = .close
        case .started(let steps, _, let done):
            pending.steps = steps
            pending.stepsDone = done.count
            let blockApply = journal.operation == .apply && filesystemPlan(journal.fixID) != nil
            pending.action = blockApply && !done.contains(0) ? .undo : .rollForward
        }
        return pending
    }
}
