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
    /// Host path of the ledger file.
    public let path: String
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
        let directory = root.host("/var/lib/clarity-heal")
        try makeDirectories(directory)
        let existed = FileReading.status(atPath: path) != nil
        let fd = retryingEINTR { open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw .append(path: path, step: "open", errno: errno) }
        defer { close(fd) }
        if !existed { try syncDirectory(directory) }
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
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return Reading() }
            throw .read(path: path, step: "open", errno: errno)
        }
        defer { close(fd) }
        // Shared: an append in flight is either complete or not yet begun.
        guard retryingEINTR({ flock(fd, LOCK_SH) }) == 0 else { throw .read(path: path, step: "flock", errno: errno) }
        do {
            return parse(try readAll(fd), log: true)
        } catch {
            throw .read(path: path, step: "read", errno: error.errno)
        }
    }

    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case append(path: String, step: String, errno: Int32)
        case read(path: String, step: String, errno: Int32)

        public var description: String {
            switch self {
            case .append(let path, let step, let code):
                "cannot append to the ledger \(path): \(step): \(String(cString: strerror(code)))"
            case .read(let path, let step, let code):
                "cannot read the ledger \(path): \(step): \(String(cString: strerror(code)))"
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

    private func readAll(_ fd: Int32) throws(ReadFailure) -> [UInt8] {
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

    /// `mkdir -p`, each new folder made durable in its parent.
    private func makeDirectories(_ directory: String) throws(Ledger.Error) {
        if let st = FileReading.status(atPath: directory, followLinks: true), (st.st_mode & S_IFMT) == S_IFDIR { return }
        let parent = Self.parent(of: directory)
        if parent != directory { try makeDirectories(parent) }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw .append(path: path, step: "mkdir \(directory)", errno: errno)
        }
        try syncDirectory(parent)
    }

    private func syncDirectory(_ directory: String) throws(Ledger.Error) {
        let fd = retryingEINTR { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw .append(path: path, step: "open \(directory)", errno: errno) }
        defer { close(fd) }
        guard retryingEINTR({ fsync(fd) }) == 0 else { throw .append(path: path, step: "fsync \(directory)", errno: errno) }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
