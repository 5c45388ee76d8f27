import HealCore

/// One pstore record file: in the live pstore file system or an archived copy of it.
public struct PstoreRecord: Sendable, Hashable {
    /// Where the record was found, in the order copies are preferred when they repeat.
    public enum Location: String, Sendable, Hashable, CaseIterable, Comparable {
        /// The pstore file system (`/sys/fs/pstore`, or `--pstore DIR`).
        case live
        /// clarity-heal's own archive, `/var/lib/clarity-heal/pstore/<harvest>/`.
        case clarityArchive = "clarity-heal archive"
        /// systemd-pstore's archive, `/var/lib/systemd/pstore/`.
        case systemdArchive = "systemd-pstore archive"

        public static func < (lhs: Location, rhs: Location) -> Bool {
            allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
        }
    }

    /// What could be read of a record, handed to `PstoreArchive.scan`'s examiner and
    /// never kept with the record (a machine may hold thousands).
    public enum Content: Sendable, Hashable {
        /// The log: its header line and its last `PstoreArchive.textLimit` bytes.
        case text(String)
        /// A `.enc.z` record (the kernel failed to decompress it) that could not be
        /// inflated either (`CompressedRecord`): its size and why. One that inflates is
        /// `.text`.
        case compressed(byteCount: Int, problem: String)
        /// The file could not be read (the `FileError` description).
        case unreadable(String)
    }

    public var location: Location
    /// The path as the examined system sees it (`/var/lib/systemd/pstore/dmesg-ramoops-0`);
    /// for a live folder given outside the root (`--pstore DIR`), the host path.
    public var path: String
    /// The path on this machine.
    public var hostPath: String
    public var name: PstoreRecordName
    /// Modification time in seconds since the epoch: for a live ramoops or EFI record the
    /// time the kernel wrote it.
    public var modified: Int
    /// Where the same bytes were found as well (archived copies of a live record).
    public var copies: [String]
    /// SHA-256 of the record's bytes, when they could be read: what
    /// `HandledPanicRecords` lists once a repair dealt with the crash.
    public var sha256: String?

    public init(location: Location, path: String, hostPath: String, name: PstoreRecordName,
                modified: Int, copies: [String] = [], sha256: String? = nil) {
        self.location = location
        self.path = path
        self.hostPath = hostPath
        self.name = name
        self.modified = modified
        self.copies = copies
        self.sha256 = sha256
    }
}

/// A pstore file name: `<type>-<backend>-<id>`, plus `.enc.z` when the kernel could not
/// decompress the record (fs/pstore/inode.c `pstore_mkfile`).
///
/// `dmesg-ramoops-0`, `dmesg-efi-177249561401001`, `console-ramoops-0`, `pmsg-ramoops-0`,
/// `dmesg-efi_pstore-…` and `dmesg-erst-…` (newer kernels).
public struct PstoreRecordName: Sendable, Hashable, CustomStringConvertible {
    /// `dmesg`, `console`, `ftrace`, `pmsg`, `mce`, …
    public var type: String
    /// `ramoops`, `efi`, `efi_pstore`, `erst`, …
    public var backend: String
    public var id: String
    public var isCompressed: Bool

    public static let compressedSuffix = ".enc.z"

    /// Nil for names that are not records (systemd-pstore's joined `dmesg.txt`).
    public init?(_ fileName: String) {
        var base = Substring(fileName)
        isCompressed = base.hasSuffix(Self.compressedSuffix)
        if isCompressed { base = base.dropLast(Self.compressedSuffix.count) }
        let parts = base.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, let first = parts.first, let last = parts.last,
              !first.isEmpty, first.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "_") }),
              !last.isEmpty, last.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        type = String(first)
        backend = parts.dropFirst().dropLast().joined(separator: "-")
        id = String(last)
        guard !backend.isEmpty else { return nil }
    }

    /// Whether the record holds kernel log text (the only kind a crash signature comes from).
    public var isKernelLog: Bool { type == "dmesg" }

    public var description: String {
        "\(type)-\(backend)-\(id)" + (isCompressed ? Self.compressedSuffix : "")
    }
}
