import Glibc
import HealCore

/// The journal file (format drawn on `JournalRecord`) in the state folder: appended one
/// record at a time, each record synced before the caller acts on it.
final class ApplyJournal {
    private let file: OpenFile

    private init(file: OpenFile) {
        self.file = file
    }

    var path: String { file.path }

    /// Creates a new journal holding only the header, durably.
    static func create(in state: StateDirectory) throws(Applier.Error) -> ApplyJournal {
        do {
            let file = try state.files.create(ApplyLayout.journal, mode: 0o600)
            let journal = ApplyJournal(file: file)
            try journal.write(JournalRecord.header + "\n")
            try state.files.sync("/")
            return journal
        } catch {
            throw .file(error, in: state)
        }
    }

    /// Opens an interrupted journal to continue it.
    static func reopen(in state: StateDirectory) throws(Applier.Error) -> ApplyJournal {
        do {
            return ApplyJournal(file: try state.files.openForAppend(ApplyLayout.journal, create: false))
        } catch {
            throw .file(error, in: state)
        }
    }

    /// Appends a record and makes it durable; a crash point follows.
    func append(_ record: JournalRecord) throws(Applier.Error) {
        do {
            try write(record.line)
        } catch {
            throw .io(path: file.path, reason: error.reason)
        }
        CrashPoint.reached()
    }

    private func write(_ text: String) throws(FileError) {
        try file.write(Array(text.utf8))
        guard fdatasync(file.descriptor) == 0 else { throw .system(path: file.path, call: "fdatasync", errno: errno) }
    }

    /// The durable records of the journal: nil when there is none; empty when only a torn
    /// header was written.
    static func records(in state: StateDirectory) throws(Applier.Error) -> [JournalRecord]? {
        let text: String
        do {
            guard let bytes = try state.files.readIfPresent(ApplyLayout.journal, limit: 16 << 20, links: .refuse) else { return nil }
            text = String(decoding: bytes, as: UTF8.self)
        } catch {
            throw .file(error, in: state)
        }
        // A torn header (a crash while creating the journal): nothing was announced.
        return JournalRecord.records(in: text) ?? []
    }

    /// Removes the journal: the operation is over.
    static func remove(in state: StateDirectory) throws(Applier.Error) {
        do {
            try state.files.remove(ApplyLayout.journal)
        } catch {
            throw .file(error, in: state)
        }
    }
}
