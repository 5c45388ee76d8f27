import FoundationEssentials
import Glibc
import HealCore
import Logging

/// The record of every detection, repair, apply, verification and rollback on one root:
/// `<root>/var/lib/clarity-heal/ledger.jsonl`, one checksummed JSON line per record (the
/// format is drawn on `LedgerLine`).
///
/// Crash safety without rewriting the file: each record is one `write(2)` on an `O_APPEND`
/// descriptor followed by `fsync`, so power loss leaves at worst a last line without its
/// "\n" — which readers ignore, and which the next append cuts off (it was never
/// acknowledged) before writing, so every record starts on a fresh line. A garbled line
/// anywhere else fails its CRC and is skipped with a note; nothing in the file is ever
/// fatal to reading it.
/// Appenders hold `flock(LOCK_EX)` on the file, so two processes never interleave and
/// `seq` is assigned from the file itself; readers hold `LOCK_SH`.
public final class Ledger {
    /// Where the ledger lives inside a root.
    public static let relativePath = "/var/lib/clarity-heal/ledger.jsonl"

    public let root: SystemRoot
    /// Host path of the ledger file (for messages).
    public let path: String
    /// The ledger inside the state folder (`StateDirectory`).
    static let name = "/ledger.jsonl"
    private let clock: any Clock
    private let logger: Logger

    /// - Parameters:
    ///   - clock: the clock that stamps appended records (tests drive it).
    public init(root: SystemRoot, logger: Logger = Logger(label: "clarity-heal.ledger"),
                clock: any Clock = SystemClock()) {
        self.root = root
        self.path = root.host(Self.relativePath)
        self.clock = clock
        self.logger = logger
    }

    /// What reading the ledger found.
    public struct Reading: Sendable, Hashable {
        /// The intact records, in file order (which is `seq` order).
        public var records: [LedgerRecord]
        /// Lines that are not records: torn fragments closed by a later append, garbage.
        public var skipped: [Skipped]
        /// Whether the file ends in an unfinished line (a crash mid-append); it is ignored.
        public var tornTail: Bool

        public init(records: [LedgerRecord] = [], skipped: [Skipped] = [], tornTail: Bool = false) {
            self.records = records
            self.skipped = skipped
            self.tornTail = tornTail
        }

        /// The records about one fix, oldest first.
        public func records(of fix: String) -> [LedgerRecord] { records.filter { $0.fix == fix } }
    }

    /// A line that was not a record.
    public struct Skipped: Sendable, Hashable, Codable {
        /// 1-based line number in the file.
        public var line: Int
        public var reason: String

        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
    }

    /// Appends `record` with the next `seq` and the clock's time, durably: the call returns
    /// after `fsync` of the file (and of its folder when it was created).
    /// - Returns: the record as written.
    /// - Throws: `Ledger.Error` naming the step and errno; the ledger is unchanged or ends
    ///   in a torn line that readers ignore.
    @discardableResult
    public func append(_ record: LedgerRecord) throws(Ledger.Error) -> LedgerRecord {
        // The state folder is made when missing, and used only when it is clarity-heal's
        // own: a hostile root cannot redirect the ledger through a link.
        let file: OpenFile
        do {
            let state = try StateDirectory.make(root)
            file = try state.files.openForAppend(Self.name, readable: true)
        } catch let error as StateDirectory.Error {
            throw .untrusted(error.description)
        } catch let error as FileError {
            throw .append(path: path, step: error.callAndErrno.call, errno: error.callAndErrno.errno)
        } catch {
            throw .append(path: path, step: "\(error)", errno: EIO)
        }
        let fd = file.descriptor
        guard retryingEINTR({ flock(fd, LOCK_EX) }) == 0 else { throw .append(path: path, step: "flock", errno: errno) }
        let bytes: [UInt8]
        do {
            bytes = try readAll(fd)
        } catch {
            throw .append(path: path, step: "read", errno: error.errno)
        }
        let existing = parse(bytes, log: false)
        var written = record
        written.seq = (existing.records.map(\.seq).max() ?? 0) + 1
        written.time = Int(clock.now())
        if existing.tornTail {
            // The fragment of a write a crash cut short was never acknowledged (its fsync did
            // not return), and it may even be complete but for its "\n": closing it would
            // bring back a record with a seq this one is about to take. Cut it off, so the
            // record starts on a fresh line and the file is whole lines again.
            let keep = bytes.lastIndex(of: 0x0a).map { $0 + 1 } ?? 0
            guard retryingEINTR({ ftruncate(fd, off_t(keep)) }) == 0 else {
                throw .append(path: path, step: "ftruncate", errno: errno)
            }
            logger.notice("dropped a torn ledger line", metadata: ["path": "\(path)", "bytes": "\(bytes.count - keep)"])
        }
        try writeAll(fd, LedgerLine.encode(written))
        guard retryingEINTR({ fsync(fd) }) == 0 else { throw .append(path: path, step: "fsync", errno: errno) }
        return written
    }

    /// Every intact record; torn and garbled lines are skipped and reported, never fatal.
    /// A missing ledger reads as empty.
    /// - Throws: `Ledger.Error` only when the file exists and cannot be read.
    public func records() throws(Ledger.Error) -> Ledger.Reading {
        let file: OpenFile
        do {
            guard let state = try StateDirectory.open(root),
                  let opened = try Self.openIfPresent(state) else { return Reading() }
            file = opened
        } catch let error as StateDirectory.Error {
            throw .untrusted(error.description)
        } catch let error as FileError {
            // The read found what it cannot read; errno's words, like every ledger error.
            throw .read(path: path, step: "read", errno: error.callAndErrno.errno)
        } catch {
            throw .read(path: path, step: "\(error)", errno: EIO)
        }
        let fd = file.descriptor
        // Shared: an append in flight is either complete or not yet begun.
        guard retryingEINTR({ flock(fd, LOCK_SH) }) == 0 else { throw .read(path: path, step: "flock", errno: errno) }
        do {
            return parse(try readAll(fd), log: true)
        } catch {
            throw .read(path: path, step: "read", errno: error.errno)
        }
    }

    /// The ledger file, nil when there is none (only a regular file, never through a link).
    private static func openIfPresent(_ state: StateDirectory) throws -> OpenFile? {
        do {
            return try state.files.open(name, limit: .max, links: .refuse)
        } catch {
            if case .missing = error { return nil }
            throw error
        }
    }

    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case append(path: String, step: String, errno: Int32)
        case read(path: String, step: String, errno: Int32)
        /// The state folder is not clarity-heal's own (`StateDirectory.Error`).
        case untrusted(String)

        public var description: String {
            switch self {
            case .append(let path, let step, let code):
                "cannot append to the ledger \(path): \(step): \(String(cString: strerror(code)))"
            case .read(let path, let step, let code):
                "cannot read the ledger \(path): \(step): \(String(cString: strerror(code)))"
            case .untrusted(let reason): reason
            }
        }
    }

    // MARK: - Parsing

    private func parse(_ bytes: [UInt8], log: Bool) -> Reading {
        let (lines, torn) = LedgerLine.split(bytes)
        var reading = Reading(tornTail: torn != nil)
        let decoder = JSONDecoder()
        for (index, line) in lines.enumerated() {
            // An empty line is what a torn fragment's terminator leaves when the fragment
            // was empty (never by our writes, but harmless).
            if line.isEmpty { continue }
            if let defect = LedgerLine.check(line) {
                reading.skipped.append(Skipped(line: index + 1, reason: defect.description))
                continue
            }
            do {
                let record = try decoder.decode(LedgerRecord.self, from: Data(line))
                guard record.seq > 0 else {
                    reading.skipped.append(Skipped(line: index + 1, reason: "seq \(record.seq) is not positive"))
                    continue
                }
                reading.records.append(record)
            } catch {
                let defect = LedgerLine.Defect.undecodable("\(error)")
                reading.skipped.append(Skipped(line: index + 1, reason: defect.description))
            }
        }
        if log {
            for skipped in reading.skipped {
                logger.notice("skipped ledger line", metadata: ["path": "\(path)", "line": "\(skipped.line)",
                                                                 "reason": "\(skipped.reason)"])
            }
            if reading.tornTail {
                logger.notice("ignored torn last ledger line", metadata: ["path": "\(path)"])
            }
        }
        return reading
    }

    // MARK: - System calls

    private struct ReadFailure: Swift.Error { var errno: Int32 }

    /// Largest ledger read: years of records on a real machine are a few MiB; a planted
    /// huge file must not exhaust memory.
    static let sizeLimit = 64 << 20

    private func readAll(_ fd: Int32) throws(ReadFailure) -> [UInt8] {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ReadFailure(errno: errno) }
        guard Int(st.st_size) <= Self.sizeLimit else { throw ReadFailure(errno: EFBIG) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { buffer in
                retryingEINTR { pread(fd, buffer.baseAddress, buffer.count, offset) }
            }
            if n < 0 { throw ReadFailure(errno: errno) }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            offset += off_t(n)
            if result.count > Self.sizeLimit { throw ReadFailure(errno: EFBIG) }
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Ledger.Error) {
        var done = 0
        // One write(2) in practice; a short write (a full disk, a signal) continues where it
        // stopped, still under the lock, so the line stays contiguous.
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                retryingEINTR { write(fd, buffer.baseAddress.map { $0 + done }, buffer.count - done) }
            }
            guard n > 0 else { throw .append(path: path, step: "write", errno: n < 0 ? errno : EIO) }
            done += n
        }
    }

}
