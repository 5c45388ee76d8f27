import Glibc
import HealCore

/// The journal file (format drawn on `JournalRecord`): appended one record at a time with
/// `O_APPEND`, each record fsynced before the caller acts on it.
final class ApplyJournal {
    let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Creates a new journal holding only the header, durably.
    static func create(at path: String) throws(Applier.Error) -> ApplyJournal {
        let fd = retryingEINTR { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw .errno(path) }
        let journal = ApplyJournal(path: path, fd: fd)
        try journal.write(JournalRecord.header + "\n")
        try DurableFiles.fsyncParent(of: path)
        return journal
    }

    /// Opens an interrupted journal to continue it.
    static func reopen(at path: String) throws(Applier.Error) -> ApplyJournal {
        let fd = retryingEINTR { open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw .errno(path) }
        return ApplyJournal(path: path, fd: fd)
    }

    /// Appends a record and makes it durable; a crash point follows.
    func append(_ record: JournalRecord) throws(Applier.Error) {
        try write(record.line)
        CrashPoint.reached()
    }

    private func write(_ text: String) throws(Applier.Error) {
        let bytes = Array(text.utf8)
        try DurableFiles.writeAll(fd, bytes: bytes, path: path)
        guard fdatasync(fd) == 0 else { throw .errno(path) }
    }

    /// The durable records of the journal at `path`: nil when there is none; empty when
    /// only a torn header was written.
    static func records(at path: String) throws(Applier.Error) -> [JournalRecord]? {
        guard FileReading.status(atPath: path) != nil else { return nil }
        let text: String
        do {
            text = try FileReading.text(atPath: path, limit: 16 << 20)
        } catch {
            throw .io(path: path, reason: "\(error)")
        }
        // A torn header (a crash while creating the journal): nothing was announced.
        return JournalRecord.records(in: text) ?? []
    }

    /// Removes the journal: the operation is over.
    static func remove(at path: String) throws(Applier.Error) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .errno(path) }
        try DurableFiles.fsyncParent(of: path)
    }
}
