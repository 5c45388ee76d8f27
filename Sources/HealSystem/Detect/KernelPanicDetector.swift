import Glibc
import HealCore
import Logging

/// Reports `kernel-panic`: pstore kept Panic or Oops records (live, or archived by
/// systemd-pstore or clarity-heal), at least `thresholds.kernelPanics` of them.
///
/// One finding per distinct crash (`PanicSignature.Identity`: kind, reason, module,
/// kernel), naming the reason, the faulting module and the kernel version, with the
/// record paths and their key lines as evidence. Quick: it reads a few small files.
///
/// Records a repair has dealt with are not counted: a strategy that removes the crash's
/// cause (blacklisting the faulting module, booting another kernel) lists the records'
/// SHA-256 in `/var/lib/clarity-heal/pstore/handled` (`HandledPanicRecords`), and a record
/// with a listed digest is skipped wherever it sits. A new crash writes a new record, with
/// new bytes, and is reported again.
public struct KernelPanicDetector: Detector {
    public let name = "pstore"
    public let classes: [FailureClass] = [.kernelPanic]
    public var isQuick: Bool { true }

    public init() {}

    /// One crash: its signature and the records that show it, newest first.
    public struct Crash: Sendable, Hashable {
        public var signature: PanicSignature
        public var records: [PstoreRecord]
    }

    /// What was read: the crashes, and the records that could not be used, each with why.
    public struct Reading: Sendable {
        public var crashes: [Crash]
        /// Crash records counted (each distinct record once).
        public var crashRecordCount: Int
        public var skipped: [Evidence]
        /// Crash records left out because a repair already handled them.
        public var handled: [PstoreRecord] = []
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let reading = Self.read(PstoreArchive(context), logger: context.logger)
        guard reading.crashRecordCount >= context.thresholds.kernelPanics else { return [] }
        return reading.crashes.enumerated().map { index, crash in
            // Unusable records are noted once, on the first finding.
            Self.finding(for: crash, notes: index == 0 ? reading.skipped : [])
        }
    }

    /// Reads the kernel log records of `archive` and groups the crashes by signature,
    /// newest first. Records that are not text, not a log record, or an older part of a
    /// dump without a crash line of its own are skipped with a note and a log message.
    public static func read(_ archive: PstoreArchive,
                            logger: Logger = Logger(label: "clarity-heal.detect")) -> Reading {
        var crashes: [Crash] = []
        var indexByIdentity: [PanicSignature.Identity: Int] = [:]
        var count = 0
        var skipped: [Evidence] = []
        func skip(_ record: PstoreRecord, _ why: String) {
            logger.notice("skipping pstore record", metadata: ["path": "\(record.path)", "reason": "\(why)"])
            skipped.append(Evidence(source: record.path, detail: "skipped: \(why)"))
        }
        let handledDigests = archive.handledDigests()
        var handled: [PstoreRecord] = []
        for record in archive.records() where record.name.isKernelLog {
            if let digest = record.sha256, handledDigests.contains(digest) {
                handled.append(record)
                continue
            }
            let text: String
            switch record.content {
            case .text(let read): text = read
            case .compressed(let byteCount):
                skip(record, "compressed record (\(byteCount) bytes of deflate data the kernel could not decompress), not read")
                continue
            case .unreadable(let reason):
                skip(record, reason)
                continue
            }
            let signature: PanicSignature
            do {
                signature = try PanicSignature(record: text)
            } catch {
                skip(record, error.description)
                continue
            }
            guard signature.isCrash else { continue }
            // Part2 and later hold older log of a dump whose Part1 carries the crash.
            if signature.part > 1 && signature.reason == nil { continue }
            count += 1
            if let index = indexByIdentity[signature.identity] {
                crashes[index].records.append(record)
            } else {
                indexByIdentity[signature.identity] = crashes.count
                crashes.append(Crash(signature: signature, records: [record]))
            }
        }
        return Reading(crashes: crashes, crashRecordCount: count, skipped: skipped, handled: handled)
    }

    static func finding(for crash: Crash, notes: [Evidence]) -> Finding {
        let signature = crash.signature
        var summary = signature.summary
        if crash.records.count > 1 { summary += ", \(crash.records.count) times" }
        if let hint = signature.hint { summary += " (the text points to \(hint.rawValue))" }
        var evidence: [Evidence] = []
        for record in crash.records {
            var origin = "\(record.location.rawValue) record, written \(Self.utc(record.modified))"
            if !record.copies.isEmpty { origin += "; also at " + record.copies.joined(separator: ", ") }
            evidence.append(Evidence(source: record.path, detail: origin))
        }
        if let record = crash.records.first {
            evidence += signature.keyLines.map { Evidence(source: record.path, detail: $0) }
        }
        return Finding(.kernelPanic, summary: summary, evidence: evidence + notes)
    }

    /// `2026-11-29 21:45:32 UTC`.
    static func utc(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "at \(seconds)" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }
}
