import Glibc
import HealCore

/// Every pstore record a root still has, wherever it sits, each content once, newest first.
///
/// Records are looked for in three places (the kernel's Documentation/admin-guide/ramoops.rst,
/// systemd-pstore.service(8)):
///
/// ```
///  live pstore file system            /sys/fs/pstore/          (or --pstore DIR)
///  ├── dmesg-ramoops-0                  cleared by systemd-pstore once archived
///  └── dmesg-efi-177249561401001
///
///  clarity-heal's archive             /var/lib/clarity-heal/pstore/
///  ├── handled                          SHA-256 of records already repaired (not a record)
///  ├── 20261129T214532Z/                one folder per harvest: UTC time (or any id)
///  │   ├── dmesg-ramoops-0              the records as the kernel named them,
///  │   └── dmesg-ramoops-1              bytes unchanged; the boot path copies them
///  └── 20261201T080102Z/                here before anything clears pstore
///      └── dmesg-efi-177249561401001.enc.z
///
///  systemd-pstore's archive (252)     /var/lib/systemd/pstore/
///  ├── dmesg-ramoops-0                  ramoops records copied flat, mode 0600
///  ├── dmesg.txt                        all ramoops records joined: not a record,
///  │                                    never counted (it repeats the files)
///  └── 1772495614/                      EFI records: id without its last 6 digits
///      ├── dmesg-efi-177249561401001
///      └── dmesg.txt                    joined again: skipped
///  newer systemd: <timestamp>/<count>/dmesg-efi_pstore-… (two levels, also read)
/// ```
///
/// The same record often sits in several places (pstore not yet cleared, or archived by
/// both tools): identical bytes are reported once, from the preferred place (live, then
/// clarity-heal's archive, then systemd's), with the other paths in `copies`.
///
/// Bounded whatever the folders hold, since it runs on every boot (`detect --quick`): the
/// folders are listed without keeping their names, only the newest `examinedRecordLimit`
/// record files are read (the others are counted in `Scan.notExamined`), each read with
/// `recordSizeLimit` (a compressed one inflated to at most `CompressedRecord.inflatedLimit`),
/// one at a time, and only the tail of its log (`textLimit`) is handed on as text: no more
/// than one record's bytes are ever in memory.
public struct PstoreArchive: Sendable {
    /// systemd-pstore's `Storage=external` folder.
    public static let systemdArchive = "/var/lib/systemd/pstore"
    /// clarity-heal's own archive (see the diagram above).
    public static let clarityArchive = "/var/lib/clarity-heal/pstore"
    /// The pstore file system's mount point.
    public static let liveDirectory = "/sys/fs/pstore"
    /// A pstore record is at most a few hundred KiB; anything larger is not one.
    public static let recordSizeLimit = 4 << 20
    /// Record files read per run, newest first. A dump of 10 KiB (the kernel's default
    /// `kmsg_bytes`) is ten 1 KiB parts on EFI, so this is a dozen dumps even there; a
    /// machine that kept thousands of records is reported from its newest.
    public static let examinedRecordLimit = 128
    /// Directory entries looked at per place: a folder that holds more is not a pstore
    /// archive any tool wrote, and listing it must not hold up the boot.
    public static let directoryEntryLimit = 65_536
    /// The log text of a record handed on: its header line and the last this many bytes.
    /// A dump's newest lines, the crash among them, come last (kmsg_dump copies the tail
    /// of the log, fs/pstore/platform.c), and a crash's lines, trace included, take a few
    /// KiB; parsing cuts the text into lines, so this bounds that too.
    public static let textLimit = 64 << 10

    public let root: SystemRoot
    /// Host path of the live pstore folder.
    public let liveDirectory: String
    /// Whether `liveDirectory` lies outside the root (given as `--pstore DIR`).
    private let liveIsOutsideRoot: Bool

    /// - Parameters:
    ///   - root: the system whose archives are read.
    ///   - liveDirectory: a host path to read live records from instead of
    ///     `<root>/sys/fs/pstore`.
    public init(root: SystemRoot, liveDirectory: String? = nil) {
        self.root = root
        // The folders are walked by host path without following a link (lstat); their own
        // path is first resolved inside the root, so that host path passes no link either.
        self.liveDirectory = liveDirectory ?? root.host(root.canonical(Self.liveDirectory))
        self.liveIsOutsideRoot = liveDirectory != nil
    }

    /// The archive a detection run looks at: its root and `pstoreDirectory`.
    public init(_ context: DetectionContext) {
        self.init(root: context.root, liveDirectory: context.pstoreDirectory)
    }

    /// The SHA-256 digests of records a repair has dealt with (`HandledPanicRecords`,
    /// `<root>/var/lib/clarity-heal/pstore/handled`); empty when there is no such file.
    public func handledDigests() -> Set<String> {
        guard let text = try? root.files.text(HandledPanicRecords.path, limit: 4 << 20) else { return [] }
        return HandledPanicRecords.digests(in: text)
    }

    /// What a scan found: each distinct record examined, with what `examine` made of it,
    /// newest first, and how many record files were left unread.
    public struct Scan<Summary> {
        public struct Examined {
            public var record: PstoreRecord
            public var summary: Summary
        }

        public var records: [Examined]
        /// Record files beyond `examinedRecordLimit`, older than every one examined.
        public var notExamined: Int
        /// Places with more than `directoryEntryLimit` entries, listed only that far.
        public var truncatedPlaces: [String]
    }

    /// Reads the newest records (at most `limit` files) and hands each distinct one, with
    /// what could be read of it, to `examine`, one at a time; its text is dropped before
    /// the next is read.
    /// - Parameters:
    ///   - kinds: which record names to consider at all (`\.isKernelLog` for crashes).
    ///   - examine: called once per distinct record, in preference order (live first).
    public func scan<Summary>(kinds: (PstoreRecordName) -> Bool = { _ in true }, limit: Int = examinedRecordLimit,
                              _ examine: (PstoreRecord, PstoreRecord.Content) -> Summary) -> Scan<Summary> {
        var newest = NewestRecords(limit: max(0, limit))
        var truncated: [String] = []
        let places: [(PstoreRecord.Location, String, String, Int)] = [
            (.live, liveDirectory, liveIsOutsideRoot ? liveDirectory : Self.liveDirectory, 0),
            (.clarityArchive, root.host(root.canonical(Self.clarityArchive)), Self.clarityArchive, 1),
            (.systemdArchive, root.host(root.canonical(Self.systemdArchive)), Self.systemdArchive, 2),
        ]
        for (location, host, visible, depth) in places {
            var budget = Self.directoryEntryLimit
            collect(location, hostFolder: host, visiblePath: visible, depth: 0, maxDepth: depth, kinds: kinds,
                    budget: &budget, into: &newest)
            if budget < 0 { truncated.append(visible) }
        }

        // First copy in preference order wins; the others become its `copies`.
        var examined: [Scan<Summary>.Examined] = []
        var indexByDigest: [String: Int] = [:]
        newest.finish()
        for candidate in newest.records.sorted(by: { ($0.location, -$0.modified, $0.path) < ($1.location, -$1.modified, $1.path) }) {
            var record = candidate
            let content: PstoreRecord.Content
            do {
                let bytes = try FileReading.bytes(atPath: record.hostPath, limit: Self.recordSizeLimit)
                let digest = SHA256.hex(bytes)
                if let index = indexByDigest[digest] {
                    examined[index].record.copies.append(record.path)
                    continue
                }
                indexByDigest[digest] = examined.count
                record.sha256 = digest
                content = Self.content(bytes, name: record.name)
            } catch {
                content = .unreadable(error.description)
            }
            examined.append(.init(record: record, summary: examine(record, content)))
        }
        examined.sort { a, b in
            if a.record.modified != b.record.modified { return a.record.modified > b.record.modified }
            if a.record.location != b.record.location { return a.record.location < b.record.location }
            return a.record.path < b.record.path
        }
        return Scan(records: examined, notExamined: newest.dropped, truncatedPlaces: truncated)
    }

    /// The records `scan` examines (newest first, each content once), without their texts.
    public func records(kinds: (PstoreRecordName) -> Bool = { _ in true }) -> [PstoreRecord] {
        scan(kinds: kinds) { _, _ in () }.records.map(\.record)
    }

    /// What a record's bytes hold: its log text, inflated first for a `.enc.z` record.
    static func content(_ bytes: [UInt8], name: PstoreRecordName) -> PstoreRecord.Content {
        guard name.isCompressed else { return .text(logText(bytes)) }
        do throws(CompressedRecord.Error) {
            return .text(logText(try CompressedRecord.inflate(bytes)))
        } catch {
            return .compressed(byteCount: bytes.count, problem: error.description)
        }
    }

    /// The text of one record `scan` returned, read again: for the parts of a dump, which
    /// are joined once every part is known (`KernelPanicDetector`). Nil when the record
    /// is no longer readable text.
    public func text(of record: PstoreRecord) -> String? {
        guard let bytes = try? FileReading.bytes(atPath: record.hostPath, limit: Self.recordSizeLimit),
              case .text(let text) = Self.content(bytes, name: record.name) else { return nil }
        return text
    }

    /// The text handed on for a record: the header line (`Panic#1 Part1`) and, for a record
    /// longer than `textLimit`, only its last `textLimit` bytes from a line start.
    static func logText(_ bytes: [UInt8]) -> String {
        guard bytes.count > textLimit + 1 else { return String(decoding: bytes, as: UTF8.self) }
        let headerEnd = bytes.prefix(256).firstIndex(of: 0x0a) ?? 0
        var start = bytes.count - textLimit
        while start < bytes.count, bytes[start - 1] != 0x0a { start += 1 }
        return String(decoding: bytes[..<headerEnd], as: UTF8.self) + "\n" + String(decoding: bytes[start...], as: UTF8.self)
    }

    private func collect(_ location: PstoreRecord.Location, hostFolder: String, visiblePath: String,
                         depth: Int, maxDepth: Int, kinds: (PstoreRecordName) -> Bool,
                         budget: inout Int, into newest: inout NewestRecords) {
        FileReading.forEachDirectoryEntry(atPath: hostFolder) { entry in
            budget -= 1
            guard budget >= 0 else { return false }
            let hostPath = hostFolder + "/" + entry
            let path = visiblePath + "/" + entry
            // lstat: links are not followed, an archive must not lead out of the root.
            guard let status = FileReading.status(atPath: hostPath) else { return true }
            switch status.st_mode & S_IFMT {
            case S_IFDIR where depth < maxDepth:
                collect(location, hostFolder: hostPath, visiblePath: path, depth: depth + 1, maxDepth: maxDepth,
                        kinds: kinds, budget: &budget, into: &newest)
                return budget >= 0
            case S_IFREG:
                guard let name = PstoreRecordName(entry), kinds(name) else { return true }
                newest.add(PstoreRecord(location: location, path: path, hostPath: hostPath, name: name,
                                        modified: Int(status.st_mtim.tv_sec)))
                return true
            default:
                return true
            }
        }
    }
}

/// The newest `limit` records of a listing of any length, in memory proportional to
/// `limit`: kept unsorted up to twice the limit, then sorted and cut back.
private struct NewestRecords {
    let limit: Int
    private(set) var records: [PstoreRecord] = []
    private(set) var dropped = 0

    init(limit: Int) {
        self.limit = limit
    }

    mutating func add(_ record: PstoreRecord) {
        records.append(record)
        if records.count > 2 * limit { finish() }
    }

    /// Sorts newest first (then by place and path, as `scan` orders its answer) and keeps
    /// `limit`; called again once the listing is over.
    mutating func finish() {
        records.sort { a, b in
            if a.modified != b.modified { return a.modified > b.modified }
            if a.location != b.location { return a.location < b.location }
            return a.path < b.path
        }
        guard records.count > limit else { return }
        dropped += records.count - limit
        records.removeLast(records.count - limit)
    }
}
