/// One line of the apply journal. The journal exists only while an apply or a rollback is
/// in flight; each record is appended and fsynced before (intent) and after (done) the
/// change it describes, so after a crash the last durable record says how far it got.
///
/// ```
///  <root>/var/lib/clarity-heal/journal
///  ┌────────────────────────────────────────────────────────────────────────────┐
///  │ clarity-heal-journal 1                                                      │ header
///  │ 3a1f09c2 prepare apply fix-1795991916-ab12                                  │ state folder being built;
///  │                                                                             │   the target is untouched
///  │ 77c0e5d1 begin apply fix-1795991916-ab12 3 <sha256 of backup.tar>           │ backup verified, package
///  │                                                                             │   copy durable: from here
///  │                                                                             │   recovery rolls FORWARD
///  │ 0b9e44f8 intent 0                                                           │ step 0 about to change
///  │ 5c2d81aa done 0                                                             │ step 0 durable (file and
///  │ …                                                                           │   folder fsynced)
///  │ 91d0c3b7 commit apply fix-1795991916-ab12                                   │ state record written
///  └────────────────────────────────────────────────────────────────────────────┘
///    field 1: CRC-32 (8 lowercase hex digits) of the rest of the line after the space.
///    A last line without its newline, or with a wrong CRC, is torn: it was never
///    acknowledged, so nothing it announces happened, and it is ignored.
///    A rollback writes the same records with the word `rollback`.
/// ```
public enum JournalRecord: Sendable, Hashable, CustomStringConvertible {
    public enum Operation: String, Sendable, Hashable, Codable { case apply, rollback }

    case prepare(Operation, fixID: String)
    case begin(Operation, fixID: String, steps: Int, backupSHA256: String)
    case intent(step: Int)
    case done(step: Int)
    case commit(Operation, fixID: String)

    public static let header = "clarity-heal-journal 1"

    /// The record's fields, without the checksum.
    public var payload: String {
        switch self {
        case .prepare(let operation, let fix): "prepare \(operation.rawValue) \(fix)"
        case .begin(let operation, let fix, let steps, let sha): "begin \(operation.rawValue) \(fix) \(steps) \(sha)"
        case .intent(let step): "intent \(step)"
        case .done(let step): "done \(step)"
        case .commit(let operation, let fix): "commit \(operation.rawValue) \(fix)"
        }
    }

    /// The full line, checksum first, newline last.
    public var line: String { CRC32.hex(Array(payload.utf8)) + " " + payload + "\n" }

    public var description: String { payload }

    /// Parses one line (without its newline); nil when torn or unknown.
    public static func parse(_ line: Substring) -> JournalRecord? {
        // Split at the space scalars the writer puts between fields, not at Characters: a
        // space followed by a combining mark is one Character and would hide a split.
        let parts = line.unicodeScalars.split(separator: " ", maxSplits: 1).map(Substring.init)
        guard parts.count == 2, parts[0].utf8.count == 8 else { return nil }
        let payload = parts[1]
        guard CRC32.hex(Array(payload.utf8)) == parts[0] else { return nil }
        let fields = payload.unicodeScalars.split(separator: " ").map { String(Substring($0)) }
        guard let verb = fields.first else { return nil }
        switch (verb, fields.count) {
        case ("prepare", 3):
            guard let operation = Operation(rawValue: fields[1]) else { return nil }
            return .prepare(operation, fixID: fields[2])
        case ("begin", 5):
            guard let operation = Operation(rawValue: fields[1]), let steps = count(fields[3]) else { return nil }
            return .begin(operation, fixID: fields[2], steps: steps, backupSHA256: fields[4])
        case ("intent", 2):
            return count(fields[1]).map { .intent(step: $0) }
        case ("done", 2):
            return count(fields[1]).map { .done(step: $0) }
        case ("commit", 3):
            guard let operation = Operation(rawValue: fields[1]) else { return nil }
            return .commit(operation, fixID: fields[2])
        default:
            return nil
        }
    }

    /// A step count or index as `payload` writes it: decimal digits only. A sign is refused:
    /// recovery forms `0..<steps` from it, which a negative count would trap on.
    private static func count(_ field: String) -> Int? {
        guard !field.isEmpty, field.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(field)
    }

    /// The durable records of a journal file's text: after the header, every complete line
    /// with a good checksum, stopping at the first torn one (nothing after a torn record
    /// can have been acknowledged).
    /// - Returns: nil when the header is missing (an empty or torn new journal).
    public static func records(in text: String) -> [JournalRecord]? {
        // Lines end at each "\n" scalar: split at Characters, a "\r\n" (one Character) would
        // not end its line, and a record could carry a newline in a field.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map(Substring.init)
        // The piece after the last newline is incomplete (or empty).
        lines.removeLast()
        guard lines.first == Substring(header) else { return nil }
        var records: [JournalRecord] = []
        for line in lines.dropFirst() {
            guard let record = parse(line) else { break }
            records.append(record)
        }
        return records
    }
}

/// Where an interrupted journal stopped, and what recovery must do about it.
public struct JournalState: Sendable, Hashable {
    public enum Phase: Sendable, Hashable {
        /// Only `prepare`: the target is untouched; discard the half-built state.
        case prepared
        /// `begin` without `commit`: finish the steps not done (roll forward).
        case started(steps: Int, backupSHA256: String, done: Set<Int>)
        /// `commit`: finished; only the journal remains to be put away.
        case committed
    }

    public var operation: JournalRecord.Operation
    public var fixID: String
    public var phase: Phase

    /// Reads the state from the durable records; nil for a journal with no `prepare`.
    public init?(_ records: [JournalRecord]) {
        guard case .prepare(let operation, let fixID)? = records.first else { return nil }
        self.operation = operation
        self.fixID = fixID
        phase = .prepared
        var done: Set<Int> = []
        for record in records.dropFirst() {
            switch record {
            case .begin(_, _, let steps, let sha): phase = .started(steps: steps, backupSHA256: sha, done: [])
            case .done(let step): done.insert(step)
            case .commit: phase = .committed
            case .intent, .prepare: continue
            }
            if case .started(let steps, let sha, _) = phase { phase = .started(steps: steps, backupSHA256: sha, done: done) }
        }
    }
}

/// CRC-32 (IEEE 802.3, the zlib polynomial), enough to tell a torn journal line from a
/// whole one.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let value = String(checksum(bytes), radix: 16)
        return String(repeating: "0", count: 8 - value.count) + value
    }
}
