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
public struct PstoreArchive: Sendable {
    /// systemd-pstore's `Storage=external` folder.
    public static let systemdArchive = "/var/lib/systemd/pstore"
    /// clarity-heal's own archive (see the diagram above).
    public static let clarityArchive = "/var/lib/clarity-heal/pstore"
    /// The pstore file system's mount point.
    public static let liveDirectory = "/sys/fs/pstore"
    /// A pstore record is at most a few hundred KiB; anything larger is not one.
    public static let recordSizeLimit = 4 << 20

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
        self.liveDirectory = liveDirectory ?? root.host(Self.liveDirectory)
        self.liveIsOutsideRoot = liveDirectory != nil
    }

    /// The archive a detection run looks at: its root and `pstoreDirectory`.
    public init(_ context: DetectionContext) {
        self.init(root: context.root, liveDirectory: context.pstoreDirectory)
    }

    /// The SHA-256 digests of records a repair has dealt with (`HandledPanicRecords`,
    /// `<root>/var/lib/clarity-heal/pstore/handled`); empty when there is no such file.
    public func handledDigests() -> Set<String> {
        guard let text = try? FileReading.text(atPath: root.host(HandledPanicRecords.path), limit: 4 << 20) else { return [] }
        return HandledPanicRecords.digests(in: text)
    }

    /// All records, newest first; records with the same bytes once.
    public func records() -> [PstoreRecord] {
        var found: [(record: PstoreRecord, bytes: [UInt8]?)] = []
        collect(.live, hostFolder: liveDirectory,
                visiblePath: liveIsOutsideRoot ? liveDirectory : Self.liveDirectory, depth: 0, maxDepth: 0,
                into: &found)
        collect(.clarityArchive, hostFolder: root.host(Self.clarityArchive), visiblePath: Self.clarityArchive,
                depth: 0, maxDepth: 1, into: &found)
        collect(.systemdArchive, hostFolder: root.host(Self.systemdArchive), visiblePath: Self.systemdArchive,
                depth: 0, maxDepth: 2, into: &found)

        // First copy in preference order wins; the others become its `copies`.
        var unique: [PstoreRecord] = []
        var indexByBytes: [[UInt8]: Int] = [:]
        for (record, bytes) in found {
            if let bytes, let index = indexByBytes[bytes] {
                unique[index].copies.append(record.path)
                continue
            }
            if let bytes { indexByBytes[bytes] = unique.count }
            unique.append(record)
        }
        return unique.sorted { a, b in
            if a.modified != b.modified { return a.modified > b.modified }
            if a.location != b.location { return a.location < b.location }
            return a.path < b.path
        }
    }

    private func collect(_ location: PstoreRecord.Location, hostFolder: String, visiblePath: String,
                         depth: Int, maxDepth: Int, into found: inout [(record: PstoreRecord, bytes: [UInt8]?)]) {
        for entry in FileReading.directoryEntries(atPath: hostFolder) {
            let hostPath = hostFolder + "/" + entry
            let path = visiblePath + "/" + entry
            // lstat: links are not followed, an archive must not lead out of the root.
            guard let status = FileReading.status(atPath: hostPath) else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFDIR where depth < maxDepth:
                collect(location, hostFolder: hostPath, visiblePath: path, depth: depth + 1, maxDepth: maxDepth,
                        into: &found)
            case S_IFREG:
                guard let name = PstoreRecordName(entry) else { continue }
                let content: PstoreRecord.Content
                var bytes: [UInt8]?
                do {
                    let read = try FileReading.bytes(atPath: hostPath, limit: Self.recordSizeLimit)
                    bytes = read
                    content = name.isCompressed ? .compressed(byteCount: read.count)
                                                : .text(String(decoding: read, as: UTF8.self))
                } catch {
                    content = .unreadable(error.description)
                }
                let record = PstoreRecord(location: location, path: path, hostPath: hostPath, name: name,
                                          modified: Int(status.st_mtim.tv_sec), content: content,
                                          sha256: bytes.map(SHA256.hex))
                found.append((record, bytes))
            default:
                continue
            }
        }
    }
}
