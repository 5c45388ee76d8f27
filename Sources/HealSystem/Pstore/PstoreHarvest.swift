import HealCore

/// Copies the live pstore records no archive holds yet into the root's own archive,
/// `<root>/var/lib/clarity-heal/pstore/<UTC time>/`, bytes unchanged (see `PstoreArchive`).
///
/// A boot that never reaches systemd-pstore (a panic before it, a recovery boot that stops
/// in the initramfs) would otherwise lose them: ramoops keeps a record only until the next
/// crash overwrites it, and EFI variables are cleared by whoever archives them next. The
/// live records are never removed here; that stays systemd-pstore's business.
///
/// Bounded like the scan that feeds it: the newest `PstoreArchive.examinedRecordLimit`
/// records, each at most `recordSizeLimit` bytes; written through the root's confined
/// writes, so a link planted in the archive's path cannot send them elsewhere.
public struct PstoreHarvest {
    public var root: SystemRoot
    public var liveDirectory: String?
    public var clock: any Clock

    public init(root: SystemRoot, liveDirectory: String? = nil, clock: any Clock = SystemClock()) {
        self.root = root
        self.liveDirectory = liveDirectory
        self.clock = clock
    }

    /// - Returns: the archived copies' paths on the root, oldest record first.
    public func run() throws(FileError) -> [String] {
        let records = PstoreArchive(root: root, liveDirectory: liveDirectory).records()
            .filter { $0.location == .live && $0.copies.isEmpty && $0.sha256 != nil }
        guard !records.isEmpty else { return [] }
        let folder = PstoreArchive.clarityArchive + "/" + Self.folderName(clock.now())
        try root.files.makeDirectories(folder, mode: 0o700)
        var written: [String] = []
        for record in records.reversed() {
            let bytes = try FileReading.bytes(atPath: record.hostPath, limit: PstoreArchive.recordSizeLimit)
            let path = folder + "/" + record.name.description
            try root.files.replaceFile(path, bytes: bytes, mode: 0o600)
            written.append(path)
        }
        try root.files.sync(folder)
        return written
    }

    /// `20261129T214532Z`: UTC, sortable, one folder per harvest.
    static func folderName(_ seconds: Int64) -> String {
        // "2026-11-29 21:45:32Z" → "20261129T214532Z"
        String(LedgerText.utc(Int(seconds)).compactMap { $0 == " " ? "T" : ($0.isNumber || $0 == "Z" ? $0 : nil) })
    }
}
