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

    /// One crash: its signature, the records that show it, newest first, and where it
    /// leads (`PanicRoute`).
    public struct Crash: Sendable, Hashable {
        public var signature: PanicSignature
        public var records: [PstoreRecord]
        public var route: PanicRoute

        public init(signature: PanicSignature, records: [PstoreRecord], installedKernels: Set<String>? = nil) {
            self.signature = signature
            self.records = records
            route = PanicRoute.route(signature, installedKernels: installedKernels)
        }
    }

    /// The kernel releases a root has modules for: the folders of `/lib/modules` and
    /// `/usr/lib/modules`; nil when it has neither (a bare root: nothing to compare with).
    public static func installedKernels(_ root: SystemRoot) -> Set<String>? {
        var releases: Set<String> = []
        var found = false
        for folder in ["/lib/modules", "/usr/lib/modules"] {
            let host = root.host(root.canonical(folder))
            guard let status = FileReading.status(atPath: host), status.st_mode & S_IFMT == S_IFDIR else { continue }
            found = true
            var budget = 4096
            FileReading.forEachDirectoryEntry(atPath: host) { entry in
                budget -= 1
                if entry != "." && entry != ".." { releases.insert(entry) }
                return budget > 0
            }
        }
        return found ? releases : nil
    }

    /// The route of the crash `finding` reports, read again from the root's records.
    public static func route(of finding: Finding, root: SystemRoot, pstoreDirectory: String? = nil) -> PanicRoute? {
        guard finding.failureClass == .kernelPanic else { return nil }
        let crashes = read(PstoreArchive(root: root, liveDirectory: pstoreDirectory)).crashes
        return crashes.first { Self.finding(for: $0, notes: []).summary == finding.summary }?.route
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

    /// The records that may be parts of one dump: same folder, backend, reason and dump
    /// count, and for EFI the same time (its id is `(time*100 + part)*1000 + count`,
    /// fs/pstore efi-pstore.c). Records of two dumps that share all of this repeat a part
    /// number, and are then read one by one.
    struct DumpKey: Hashable {
        var folder: Substring
        var backend: String
        var kind: PanicSignature.Kind
        var count: Int
        var efiTime: Substring?

        init(_ record: PstoreRecord, kind: PanicSignature.Kind, count: Int) {
            folder = record.path.lastIndex(of: "/").map { record.path[..<$0] } ?? ""
            backend = record.name.backend
            self.kind = kind
            self.count = count
            efiTime = record.name.backend.hasPrefix("efi") && record.name.id.count > 5 ? record.name.id.dropLast(5) : nil
        }
    }

    /// Reads the kernel log records of `archive` and groups the crashes by signature,
    /// newest first. The parts of one dump (EFI and ERST split a dump into records of a
    /// few KiB) are joined, highest part first, into one crash (`PanicSignature.joinParts`),
    /// bounded by `PstoreArchive.textLimit`. Records that are not text, not a log record,
    /// or an older part of a dump without a crash line of its own are skipped with a note
    /// and a log message, and so, in one note, are the records beyond
    /// `PstoreArchive.examinedRecordLimit`. Each record's text is parsed and dropped
    /// before the next is read; the parts of a dump are read again to join them.
    public static func read(_ archive: PstoreArchive,
                            logger: Logger = Logger(label: "clarity-heal.detect")) -> Reading {
        let handledDigests = archive.handledDigests()
        let installed = installedKernels(archive.root)
        var headers: [PstoreRecord: DumpKey] = [:]
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
                headers[record] = DumpKey(record, kind: signature.kind, count: signature.dumpCount)
                guard signature.isCrash else { return .ignored }
                // Part2 and later hold older log of a dump whose Part1 carries the crash.
                if signature.part > 1 && signature.reason == nil { return .ignored }
                return .crash(signature)
            case .compressed(let byteCount, let problem):
                return .skipped("compressed record (\(byteCount) bytes) that cannot be inflated: \(problem)")
            case .unreadable(let reason):
                return .skipped(reason)
            }
        }
        let dumps = joinedDumps(scan.records.map(\.record), headers: headers, archive: archive)

        var crashes: [Crash] = []
        var indexByIdentity: [PanicSignature.Identity: Int] = [:]
        var count = 0
        var skipped: [Evidence] = []
        var handled: [PstoreRecord] = []
        func add(_ signature: PanicSignature, _ records: [PstoreRecord]) {
            count += 1
            if let index = indexByIdentity[signature.identity] {
                crashes[index].records += records
            } else {
                indexByIdentity[signature.identity] = crashes.count
                crashes.append(Crash(signature: signature, records: records, installedKernels: installed))
            }
        }
        for examined in scan.records {
            let record = examined.record
            if let key = headers[record], let dump = dumps[key] {
                // The dump is counted once, where its newest record comes in the scan.
                if dump.records.first == record, dump.signature.isCrash { add(dump.signature, dump.records) }
                continue
            }
            switch examined.summary {
            case .handled:
                handled.append(record)
            case .ignored:
                continue
            case .skipped(let why):
                logger.notice("skipping pstore record", metadata: ["path": "\(record.path)", "reason": "\(why)"])
                skipped.append(Evidence(source: record.path, detail: "skipped: \(why)"))
            case .crash(let signature):
                add(signature, [record])
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

    /// The dumps of more than one part, joined and parsed: per key, the signature of the
    /// joined text and its records, Part1 first.
    private static func joinedDumps(_ records: [PstoreRecord], headers: [PstoreRecord: DumpKey],
                                    archive: PstoreArchive) -> [DumpKey: (signature: PanicSignature, records: [PstoreRecord])] {
        var byKey: [DumpKey: [PstoreRecord]] = [:]
        for record in records { if let key = headers[record] { byKey[key, default: []].append(record) } }
        var dumps: [DumpKey: (signature: PanicSignature, records: [PstoreRecord])] = [:]
        for (key, group) in byKey where group.count > 1 {
            var parts: [(part: Int, record: PstoreRecord, text: String)] = []
            for record in group {
                guard let text = archive.text(of: record),
                      let header = PanicSignature.recordHeader(of: text) else { continue }
                parts.append((header.part, record, text))
            }
            guard let joined = PanicSignature.joinParts(parts.map(\.text), limit: PstoreArchive.textLimit),
                  let signature = try? PanicSignature(record: joined) else { continue }
            dumps[key] = (signature, parts.sorted { $0.part < $1.part }.map(\.record))
        }
        return dumps
    }

    static func finding(for crash: Crash, notes: [Evidence]) -> Finding {
        let signature = crash.signature
        var summary = signature.summary
        if crash.records.count > 1 { summary += ", \(crash.records.count) times" }
        switch crash.route.decision {
        case .repair:
            if let hint = signature.hint { summary += " (the text points to \(hint.rawValue))" }
        case .needsPerson: summary += " (hardware: needs a person)"
        case .foreignKernel: summary += " (a kernel this root does not have: not acted on)"
        }
        var evidence: [Evidence] = []
        for record in crash.records {
            var origin = "\(record.location.rawValue) record, written \(Self.utc(record.modified))"
            if !record.copies.isEmpty { origin += "; also at " + record.copies.joined(separator: ", ") }
            evidence.append(Evidence(source: record.path, detail: origin))
        }
        if let record = crash.records.first {
            evidence += signature.keyLines.map { Evidence(source: record.path, detail: $0) }
        }
        evidence.append(Evidence(source: "routing", detail: crash.route.summary))
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
