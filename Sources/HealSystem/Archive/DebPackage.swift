import Glibc

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
///
/// Every read is one streaming pass: the `ar` is read from the file in 64 KiB blocks and
/// `data.tar.*` is decompressed from those blocks as the tar reader asks for more
/// (`ArchiveReader(entryOf:)`), so memory stays the same for a 30 KB package and a 30 MB
/// kernel whatever is taken out of it.
public final class DebPackage {
    /// The package file (a host path, or as the examined root names it).
    public let path: String
    /// Open for the life of the package; every pass rewinds it.
    private let file: OpenFile
    private var fd: Int32 { file.descriptor }

    /// Where apt keeps downloaded packages, as the root sees it.
    public static let cacheDirectory = "/var/cache/apt/archives"

    /// Largest file taken out of a package. The largest file of a Debian 12 package is
    /// under 200 MiB (libLLVM's shared library); a kernel module is a few MiB.
    public static let fileLimit = 256 << 20

    /// Opens the package: a regular file, opened without blocking (a FIFO planted in the
    /// cache must not hang a repair).
    /// - Throws: `DebPackage.Error.unreadable` when it cannot be opened or is not a file.
    public convenience init(path: String) throws(DebPackage.Error) {
        let file: OpenFile
        do {
            file = try FileReading.open(atPath: path)
        } catch {
            throw .unreadable(path: path, reason: error.description)
        }
        self.init(file: file, path: path)
    }

    /// Opens a package of an examined root inside it (apt's cache of an offline root: a
    /// link there stays inside the root).
    /// - Parameter path: the package as the root names it.
    public convenience init(root: SystemRoot, path: String) throws(DebPackage.Error) {
        let file: OpenFile
        do {
            file = try root.files.open(path, limit: .max)
        } catch {
            throw .unreadable(path: path, reason: error.description)
        }
        self.init(file: file, path: path)
    }

    init(file: OpenFile, path: String) {
        self.file = file
        self.path = path
    }

    /// The packages in the root's apt cache whose package name is `name`
    /// (`/var/cache/apt/archives/NAME_VERSION_ARCH.deb`), as the root names them, sorted;
    /// open one with `init(root:path:)`.
    public static func cached(named name: String, in root: SystemRoot) -> [String] {
        root.files.entriesIfPresent(cacheDirectory)
            .filter { $0.hasSuffix(".deb") && $0.hasPrefix(name + "_") }
            .map { cacheDirectory + "/" + $0 }
    }

    /// The names of the `ar` members, in order (`debian-binary`, `control.tar.xz`, …).
    public func members() throws(DebPackage.Error) -> [String] {
        var names: [String] = []
        do throws(ArchiveFailure) {
            let reader = try outerReader()
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
        try walkData { entry, _ throws(ArchiveFailure) in
            entries.append(entry)
            return true
        }
        return entries
    }

    /// The entry `filePath` (`/usr/lib/systemd/systemd` or `usr/lib/systemd/systemd`) of
    /// `data.tar.*` and, for a regular file, its bytes; nil when the package has no such
    /// entry. The pass stops at the entry.
    /// - Parameter limit: a larger file is refused before any of it is read.
    public func entry(_ filePath: String, limit: Int = DebPackage.fileLimit) throws(DebPackage.Error) -> (ArchiveEntry, [UInt8])? {
        let wanted = ArchiveEntry.normalized(filePath)
        var found: (ArchiveEntry, [UInt8])?
        try walkData { entry, reader throws(ArchiveFailure) in
            guard entry.path == wanted else { return true }
            guard entry.kind == .file else {
                found = (entry, [])
                return false
            }
            guard entry.size <= Int64(limit) else {
                throw ArchiveFailure(message: "\(wanted) is \(entry.size) bytes, more than the \(limit) bytes allowed")
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Int(entry.size))
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
            defer { buffer.deallocate() }
            try reader.streamData(through: buffer, limit: limit) { block in
                bytes.append(contentsOf: block)
                return true
            }
            found = (entry, bytes)
            return false
        }
        return found
    }

    /// The bytes of the regular file `filePath` in `data.tar.*`.
    /// - Throws: `.noSuchFile` when the package has no regular file there.
    public func contents(of filePath: String, limit: Int = DebPackage.fileLimit) throws(DebPackage.Error) -> [UInt8] {
        guard let (entry, bytes) = try entry(filePath, limit: limit), entry.kind == .file else {
            throw .noSuchFile(path: path, file: ArchiveEntry.normalized(filePath))
        }
        return bytes
    }

    /// Walks the entries of `data.tar*` in one streaming pass, in archive order. `visit`
    /// may read the entry's data from the reader; it returns false to end the pass.
    func walkData(_ visit: (ArchiveEntry, ArchiveReader) throws(ArchiveFailure) -> Bool) throws(DebPackage.Error) {
        var member: String?
        do throws(ArchiveFailure) {
            let outer = try outerReader()
            while let entry = try outer.next() {
                guard entry.path.hasPrefix("data.tar") else {
                    try outer.skipData()
                    continue
                }
                member = entry.path
                let inner = try ArchiveReader(entryOf: outer, formats: [.tar], filters: .compressed)
                while let entry = try inner.next() {
                    guard try visit(entry, inner) else { return }
                }
                return
            }
            throw ArchiveFailure(message: "no data.tar member")
        } catch {
            throw .corrupt(path: path, member: member, reason: error.message)
        }
    }

    /// A reader of the `ar` from the start of the file.
    private func outerReader() throws(ArchiveFailure) -> ArchiveReader {
        guard lseek(fd, 0, SEEK_SET) == 0 else {
            throw ArchiveFailure(message: "cannot rewind \(path): \(String(cString: strerror(errno)))")
        }
        return try ArchiveReader(fd: fd, formats: [.ar], filters: .none)
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
