/// A Debian binary package (`.deb`), read with libarchive: an `ar` archive whose
/// `data.tar.*` member holds the files it installs.
///
/// ```
///  !<arch>\n
///  ┌────────────────┬──────────────────────┬───────────────────────────────┐
///  │ debian-binary  │ control.tar.{xz,zst} │ data.tar.{xz,zst,gz,bz2,}     │
///  │ "2.0\n"        │ control, md5sums…    │ ./usr/bin/…  (paths from ./)  │
///  └────────────────┴──────────────────────┴───────────────────────────────┘
/// ```
public final class DebPackage {
    /// The package file on this machine.
    public let path: String
    private let bytes: ArchiveBytes

    /// Where apt keeps downloaded packages, as the root sees it.
    public static let cacheDirectory = "/var/cache/apt/archives"

    /// Largest data member accepted, compressed.
    public static let memberLimit = 1 << 30

    /// Maps the package read-only.
    /// - Throws: `DebPackage.Error.unreadable` when it cannot be opened.
    public init(path: String) throws(DebPackage.Error) {
        self.path = path
        do {
            bytes = try ArchiveBytes.map(path: path)
        } catch {
            throw .unreadable(path: path, reason: error.description)
        }
    }

    /// Maps a package of an examined root read-only, opened inside it.
    /// - Parameter path: the package as the root names it.
    public init(root: SystemRoot, path: String) throws(DebPackage.Error) {
        self.path = path
        do {
            bytes = try ArchiveBytes.map(root.files.open(path, limit: Self.packageLimit))
        } catch {
            throw .unreadable(path: path, reason: error.description)
        }
    }

    /// Largest package file accepted (linux-image packages are ~100 MB).
    public static let packageLimit = 2 << 30

    /// The packages in the root's apt cache whose package name is `name`
    /// (`<root>/var/cache/apt/archives/NAME_VERSION_ARCH.deb`), host paths, sorted.
    public static func cached(named name: String, in root: SystemRoot) -> [String] {
        let folder = root.host(cacheDirectory)
        return FileReading.directoryEntries(atPath: folder)
            .filter { $0.hasSuffix(".deb") && $0.hasPrefix(name + "_") }
            .map { folder + "/" + $0 }
    }

    /// The names of the `ar` members, in order (`debian-binary`, `control.tar.xz`, …).
    public func members() throws(DebPackage.Error) -> [String] {
        var names: [String] = []
        do throws(ArchiveFailure) {
            let reader = try ArchiveReader(bytes, formats: [.ar], filters: .none)
            while let member = try reader.next() {
                names.append(member.path)
                try reader.skipData()
            }
        } catch {
            throw .corrupt(path: path, member: nil, reason: error.message)
        }
        return names
    }

    /// Every entry of `data.tar.*`; paths are relative to the root the package installs
    /// into (`usr/bin/ls`; the top folder is `.`), as `dpkg-deb -c` lists them without `./`.
    public func entries() throws(DebPackage.Error) -> [ArchiveEntry] {
        var entries: [ArchiveEntry] = []
        try walkData { entry, reader throws(ArchiveFailure) in
            try reader.skipData()
            entries.append(entry)
        }
        return entries
    }

    /// The bytes of the regular file `filePath` (`/usr/lib/systemd/systemd` or
    /// `usr/lib/systemd/systemd`) in `data.tar.*`.
    /// - Throws: `.noSuchFile` when the package has no regular file there.
    public func contents(of filePath: String, limit: Int = 256 << 20) throws(DebPackage.Error) -> [UInt8] {
        let wanted = ArchiveEntry.normalized(filePath)
        var found: [UInt8]?
        try walkData { entry, reader throws(ArchiveFailure) in
            guard entry.path == wanted, entry.kind == .file, found == nil else {
                try reader.skipData()
                return
            }
            let data = try reader.readData(limit: limit)
            found = (0..<data.count).map { data[$0] }
        }
        guard let found else { throw .noSuchFile(path: path, file: wanted) }
        return found
    }

    /// Finds `data.tar*`, decompresses it into memory and walks its tar entries.
    private func walkData(_ visit: (ArchiveEntry, ArchiveReader) throws(ArchiveFailure) -> Void) throws(DebPackage.Error) {
        var member: String?
        do throws(ArchiveFailure) {
            let outer = try ArchiveReader(bytes, formats: [.ar], filters: .none)
            var data: ArchiveBytes?
            while let entry = try outer.next() {
                if entry.path.hasPrefix("data.tar") {
                    member = entry.path
                    data = try outer.readData(limit: Self.memberLimit)
                    break
                }
                try outer.skipData()
            }
            guard let data else { throw ArchiveFailure(message: "no data.tar member") }
            let inner = try ArchiveReader(data, formats: [.tar], filters: .compressed)
            while let entry = try inner.next() {
                try visit(entry, inner)
            }
        } catch {
            throw .corrupt(path: path, member: member, reason: error.message)
        }
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case corrupt(path: String, member: String?, reason: String)
        case noSuchFile(path: String, file: String)

        public var description: String {
            switch self {
            case .unreadable(_, let reason): reason
            case .corrupt(let path, let member, let reason):
                "cannot read package \(path)\(member.map { " member \($0)" } ?? ""): \(reason)"
            case .noSuchFile(let path, let file): "package \(path) has no file \(file)"
            }
        }
    }
}
