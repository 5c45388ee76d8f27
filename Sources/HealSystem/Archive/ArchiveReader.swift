import CArchive
import Glibc

/// One member of an archive (cpio, tar, ar), as libarchive's `archive_entry` reports it.
public struct ArchiveEntry: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case file, directory, symlink, hardlink, characterDevice, blockDevice, fifo, socket
    }

    /// The stored name with a leading `./` removed (`usr/lib/x`; the top folder is `.`).
    public var path: String
    public var kind: Kind
    /// Permission bits (`0o755`), without the file type.
    public var permissions: UInt32
    public var size: Int64
    /// Target of a symbolic link, or the entry a hard link names.
    public var linkTarget: String?

    public init(path: String, kind: Kind, permissions: UInt32, size: Int64, linkTarget: String?) {
        self.path = path
        self.kind = kind
        self.permissions = permissions
        self.size = size
        self.linkTarget = linkTarget
    }

    public var description: String {
        let target = linkTarget.map { " -> \($0)" } ?? ""
        return "\(kind.rawValue) \(String(permissions, radix: 8)) \(size) \(path)\(target)"
    }

    /// `./usr/bin/x` and `/usr/bin/x` → `usr/bin/x`; `./`, `.` and `` → `.`.
    static func normalized(_ stored: String) -> String {
        var path = Substring(stored)
        while path.hasPrefix("./") { path = path.dropFirst(2) }
        while path.hasPrefix("/") { path = path.dropFirst() }
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        return path.isEmpty ? "." : String(path)
    }
}

/// Bytes that stay at one address while archives read them: a read-only `mmap` of a file
/// or a buffer filled by a decompressor. `archive_read_open_memory` keeps a pointer.
final class ArchiveBytes {
    let base: UnsafeRawPointer?
    let count: Int
    private let release: () -> Void

    private init(base: UnsafeRawPointer?, count: Int, release: @escaping () -> Void) {
        self.base = base
        self.count = count
        self.release = release
    }

    deinit { release() }

    /// Maps a host file read-only (a file of an examined root is opened through
    /// `SystemRoot.files` and given to `map(_:)`).
    static func map(path: String) throws(FileError) -> ArchiveBytes {
        try map(FileReading.open(atPath: path))
    }

    /// Maps an open regular file read-only. An empty file maps to zero bytes.
    static func map(_ file: OpenFile) throws(FileError) -> ArchiveBytes {
        guard file.kind == .regular else { throw .notRegular(path: file.path, kind: file.kind) }
        let size = file.size
        if size == 0 { return ArchiveBytes(base: nil, count: 0, release: {}) }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, file.descriptor, 0), mapped != MAP_FAILED else {
            throw .system(path: file.path, call: "mmap", errno: errno)
        }
        return ArchiveBytes(base: UnsafeRawPointer(mapped), count: size) { munmap(mapped, size) }
    }

    /// Takes ownership of a `malloc`ed buffer.
    static func adopting(_ buffer: UnsafeMutableRawPointer?, count: Int) -> ArchiveBytes {
        ArchiveBytes(base: buffer.map(UnsafeRawPointer.init), count: count) { free(buffer) }
    }

    subscript(offset: Int) -> UInt8 {
        base.map { $0.load(fromByteOffset: offset, as: UInt8.self) } ?? 0
    }

    /// Whether the bytes at `offset` start with `prefix`.
    func hasPrefix(_ prefix: [UInt8], at offset: Int) -> Bool {
        guard offset + prefix.count <= count else { return false }
        return prefix.indices.allSatisfy { self[offset + $0] == prefix[$0] }
    }
}

/// Why libarchive stopped: its own message (`archive_error_string`) and the return code.
struct ArchiveFailure: Error, Equatable {
    var message: String
}

/// One `struct archive *` reading from memory, a file, or the current entry of another
/// reader (a .deb's `data.tar.xz` inside its `ar`); owns the handle (`archive_read_free`) and
/// keeps what it reads from alive.
final class ArchiveReader {
    enum Format { case cpio, tar, ar, raw }
    enum Filters { case none, compressed }

    private let handle: OpaquePointer
    /// The mapped bytes, or the outer reader, that this one reads from.
    private let source: AnyObject?
    /// Why the outer reader stopped, when this one reads its entry: libarchive only sees
    /// the callback fail, so the outer reader's own message is kept here.
    private var sourceFailure: ArchiveFailure?

    /// Opens `bytes[offset...]` with `archive_read_open_memory`.
    /// - Parameters:
    ///   - formats: enabled one by one (never `format_all`: its xar reader needs libxml2,
    ///     which the static libarchive link leaves out: see Package.swift).
    ///   - filters: `.compressed` enables the decompressors the kernel has for initrds
    ///     and dpkg for members (gzip, bzip2, xz, lzma, lz4, zstd).
    init(_ bytes: ArchiveBytes, offset: Int = 0, formats: [Format], filters: Filters) throws(ArchiveFailure) {
        handle = try Self.make(formats: formats, filters: filters)
        source = bytes
        let start = bytes.base.map { $0 + offset }
        let rc = archive_read_open_memory(handle, start, bytes.count - offset)
        guard rc == ARCHIVE_OK else { throw failure(rc) }
    }

    /// Reads the open file `fd` from where it stands (`archive_read_open_fd`), in 64 KiB
    /// blocks: only the block being decoded is in memory, however large the file. The
    /// descriptor stays the caller's (libarchive does not close it).
    init(fd: Int32, formats: [Format], filters: Filters) throws(ArchiveFailure) {
        handle = try Self.make(formats: formats, filters: filters)
        source = nil
        let rc = archive_read_open_fd(handle, fd, 65536)
        guard rc == ARCHIVE_OK else { throw failure(rc) }
    }

    /// Reads the data of `outer`'s current entry as an archive of its own, streamed: each
    /// block `outer` decodes (`archive_read_data_block`) is handed to this reader through
    /// `archive_read_open`'s read callback, so neither the member nor its decompressed
    /// contents are ever whole in memory. Use `outer` for nothing else until this reader is
    /// done.
    init(entryOf outer: ArchiveReader, formats: [Format], filters: Filters) throws(ArchiveFailure) {
        handle = try Self.make(formats: formats, filters: filters)
        source = outer
        let rc = archive_read_open(handle, Unmanaged.passUnretained(self).toOpaque(), nil, { _, client, buffer in
            guard let client, let buffer else { return -1 }
            let reader = Unmanaged<ArchiveReader>.fromOpaque(client).takeUnretainedValue()
            guard let outer = reader.source as? ArchiveReader else { return -1 }
            var block: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let rc = archive_read_data_block(outer.handle, &block, &size, &offset)
            if rc == ARCHIVE_EOF { return 0 }
            guard rc == ARCHIVE_OK else {
                reader.sourceFailure = outer.failure(rc)
                return -1
            }
            buffer.pointee = block
            return size
        }, nil)
        guard rc == ARCHIVE_OK else { throw failure(rc) }
    }

    private static func make(formats: [Format], filters: Filters) throws(ArchiveFailure) -> OpaquePointer {
        guard let handle = archive_read_new() else { throw ArchiveFailure(message: "out of memory") }
        for format in formats {
            switch format {
            case .cpio: archive_read_support_format_cpio(handle)
            case .tar: archive_read_support_format_tar(handle)
            case .ar: archive_read_support_format_ar(handle)
            case .raw: archive_read_support_format_raw(handle)
            }
        }
        if filters == .compressed {
            archive_read_support_filter_gzip(handle)
            archive_read_support_filter_bzip2(handle)
            archive_read_support_filter_xz(handle)
            archive_read_support_filter_lzma(handle)
            archive_read_support_filter_lz4(handle)
            archive_read_support_filter_zstd(handle)
        }
        return handle
    }

    deinit { archive_read_free(handle) }

    /// The next header (`archive_read_next_header`), nil at the end of the archive.
    /// Warnings are failures here: for cpio, libarchive warns when it skipped garbage
    /// to find a header, which the kernel would not do.
    func next() throws(ArchiveFailure) -> ArchiveEntry? {
        var entry: OpaquePointer?
        let rc = archive_read_next_header(handle, &entry)
        if rc == ARCHIVE_EOF { return nil }
        guard rc == ARCHIVE_OK, let entry else { throw failure(rc) }
        let type = UInt32(archive_entry_filetype(entry))
        let hardlink = archive_entry_hardlink(entry).map { String(cString: $0) }
        let kind: ArchiveEntry.Kind = switch type {
        case _ where hardlink != nil: .hardlink
        case UInt32(Glibc.S_IFREG): .file
        case UInt32(Glibc.S_IFDIR): .directory
        case UInt32(Glibc.S_IFLNK): .symlink
        case UInt32(Glibc.S_IFCHR): .characterDevice
        case UInt32(Glibc.S_IFBLK): .blockDevice
        case UInt32(Glibc.S_IFIFO): .fifo
        default: .socket
        }
        let symlink = archive_entry_symlink(entry).map { String(cString: $0) }
        return ArchiveEntry(
            path: ArchiveEntry.normalized(archive_entry_pathname(entry).map { String(cString: $0) } ?? ""),
            kind: kind,
            permissions: UInt32(archive_entry_perm(entry)),
            size: archive_entry_size(entry),
            linkTarget: symlink ?? hardlink)
    }

    /// Skips the current entry's data (`archive_read_data_skip`), so truncation shows.
    func skipData() throws(ArchiveFailure) {
        let rc = archive_read_data_skip(handle)
        guard rc == ARCHIVE_OK else { throw failure(rc) }
    }

    /// Reads the current entry's data to its end (`archive_read_data`) into a `malloc`ed
    /// buffer. - Parameter limit: refuse more than this many bytes.
    func readData(limit: Int) throws(ArchiveFailure) -> ArchiveBytes {
        var capacity = 1 << 20
        var count = 0
        guard var buffer = malloc(capacity) else { throw ArchiveFailure(message: "out of memory") }
        while true {
            if count == capacity {
                guard capacity < limit else {
                    free(buffer)
                    throw ArchiveFailure(message: "data larger than \(limit) bytes")
                }
                capacity = min(capacity * 2, limit)
                guard let grown = realloc(buffer, capacity) else {
                    free(buffer)
                    throw ArchiveFailure(message: "out of memory")
                }
                buffer = grown
            }
            let n = archive_read_data(handle, buffer + count, capacity - count)
            if n == 0 { break }
            guard n > 0 else {
                free(buffer)
                throw failure(Int32(n))
            }
            count += n
        }
        return ArchiveBytes.adopting(buffer, count: count)
    }

    /// Streams the current entry's data through `buffer` (`archive_read_data`, which fills
    /// the holes of a sparse entry with zeros), handing each filled part to `consume`.
    /// - Parameters:
    ///   - limit: refuse more than this many bytes (checked as they come, whatever the
    ///     header said).
    ///   - consume: returns false to stop reading this entry (the next `next()` skips the
    ///     rest).
    /// - Returns: the number of bytes handed to `consume`.
    @discardableResult
    func streamData(through buffer: UnsafeMutableRawBufferPointer, limit: Int,
                    _ consume: (UnsafeRawBufferPointer) -> Bool) throws(ArchiveFailure) -> Int {
        var total = 0
        while true {
            let n = archive_read_data(handle, buffer.baseAddress, buffer.count)
            if n == 0 { return total }
            guard n > 0 else { throw failure(Int32(n)) }
            total += n
            guard total <= limit else { throw ArchiveFailure(message: "data larger than \(limit) bytes") }
            guard consume(UnsafeRawBufferPointer(rebasing: buffer[..<n])) else { return total }
        }
    }

    /// Input bytes consumed so far (`archive_filter_bytes(a, -1)`): for a compressed
    /// stream read to its end, the length of the compressed data.
    var consumedBytes: Int { Int(archive_filter_bytes(handle, -1)) }

    /// The outermost decompressor's name (`archive_filter_name(a, 0)`), nil for none.
    var compression: String? {
        guard archive_filter_code(handle, 0) != ARCHIVE_FILTER_NONE,
              let name = archive_filter_name(handle, 0) else { return nil }
        return String(cString: name)
    }

    private func failure(_ rc: Int32) -> ArchiveFailure {
        if let sourceFailure { return sourceFailure }
        if let message = archive_error_string(handle) { return ArchiveFailure(message: String(cString: message)) }
        return ArchiveFailure(message: rc == ARCHIVE_WARN ? "libarchive warning" : "libarchive error \(rc)")
    }
}
