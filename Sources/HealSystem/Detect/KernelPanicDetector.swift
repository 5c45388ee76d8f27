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

    /// What one record turned out to be.
    private enum Examination {
        case crash(PanicSignature)
        case handled
        case skipped(String)
        case ignored
    }

    /// Reads the kernel log records of `archive` and groups the crashes by signature,
    /// newest first. Records that are not text, not a log record, or an older part of a
    /// dump without a crash line of its own are skipped with a note and a log message, and
    /// so, in one note, are the records beyond `PstoreArchive.examinedRecordLimit`. Each
    /// record's text is parsed and dropped before the next is read.
    public static func read(_ archive: PstoreArchive,
                            logger: Logger = Logger(label: "clarity-heal.detect")) -> Reading {
        let handledDigests = archive.handledDigests()
        let scan = archive.scan(kinds: \.isKernelLog) { record, content -> Examination in
            if let digest = record.sha256, handledDigests.contains(digest) { return .handled }
            switch content {
            case .text(let text):
                let signature: PanicSignature
                do throws(PanicSignature.Error) {
                    signature = try PanicSignature(record: text)
                } catch {
                    return .skipped(error.description)
                }
                guard signature.isCrash else { return .ignored }
                // Part2 and later hold older log of a dump whose Part1 carries the crash.
                if signature.part > 1 && signature.reason == nil { return .ignored }
                return .crash(signature)
            case .compressed(let byteCount):
                return .skipped("compressed record (\(byteCount) bytes of deflate data the kernel could not decompress), not read")
            case .unreadable(let reason):
                return .skipped(reason)
            }
        }

        var crashes: [Crash] = []
        var indexByIdentity: [PanicSignature.Identity: Int] = [:]
        var count = 0
        var skipped: [Evidence] = []
        var handled: [PstoreRecord] = []
        for examined in scan.records {
            let record = examined.record
            switch examined.summary {
            case .handled:
                handled.append(record)
            case .ignored:
                continue
            case .skipped(let why):
                logger.notice("skipping pstore record", metadata: ["path": "\(record.path)", "reason": "\(why)"])
                skipped.append(Evidence(source: record.path, detail: "skipped: \(why)"))
            case .crash(let signature):
                count += 1
                if let index = indexByIdentity[signature.identity] {
                    crashes[index].records.append(record)
                } else {
                    indexByIdentity[signature.identity] = crashes.count
                    crashes.append(Crash(signature: signature, records: [record]))
                }
            }
        }
        if scan.notExamined > 0 {
            let why = "\(scan.notExamined) older kernel log record\(scan.notExamined == 1 ? "" : "s") not examined: only the newest \(PstoreArchive.examinedRecordLimit) are read"
            logger.notice("pstore records not examined", metadata: ["count": "\(scan.notExamined)"])
            skipped.append(Evidence(source: "pstore", detail: "skipped: \(why)"))
        }
        for place in scan.truncatedPlaces {
            logger.notice("pstore folder listed in part", metadata: ["path": "\(place)"])
            skipped.append(Evidence(source: place,
                                    detail: "skipped: more than \(PstoreArchive.directoryEntryLimit) entries; only that many were looked at"))
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
