import Glibc

/// An initramfs image read the way the kernel unpacks it (`init/initramfs.c`,
/// `unpack_to_rootfs`), with libarchive doing the cpio and decompression work.
///
/// ```
///  offset 0                                                                    end
///  ┌──────────────────────┬───────┬──────────────────────┬───────┬──────────────────┐
///  │ cpio newc (070701…)  │ NULs  │ cpio newc            │ NULs  │ compressed data  │
///  │ … TRAILER!!!         │       │ … TRAILER!!!         │       │ gzip/zstd/xz/lz4 │
///  └──────────────────────┴───────┴──────────────────────┴───────┴──────────────────┘
///    early (microcode…)             early                          main: decompresses to
///                                                                  cpio … TRAILER!!! [NULs
///                                                                  cpio … TRAILER!!!]
/// ```
/// libarchive stops at the first `TRAILER!!!` (its archive_read_support_format_cpio.c
/// returns ARCHIVE_EOF there), so each segment is
/// opened on its own: an uncompressed cpio is read in place and the walk continues at
/// the bytes libarchive consumed; NUL padding is skipped byte by byte as the kernel
/// does; anything else must be a compressed stream, which is decompressed whole and
/// walked the same way (the kernel accepts several cpio archives inside one stream).
public final class Initramfs {
    /// One piece of the concatenation.
    public struct Segment: Sendable, Hashable {
        /// Byte offset in the image file.
        public var offset: Int
        /// Bytes of the image file the segment occupies.
        public var length: Int
        /// libarchive's filter name (`gzip`, `zstd`, `xz`, `lz4`), nil for plain cpio.
        public var compression: String?
        /// Entries in the segment (several cpio archives inside one compressed stream
        /// count together).
        public var entryCount: Int
    }

    /// What a full read found.
    public struct Listing: Sendable {
        public var segments: [Segment]
        /// Every entry in image order; a later entry with the same path replaces an
        /// earlier one when the kernel unpacks.
        public var entries: [ArchiveEntry]

        /// The entry the kernel would leave at `path` (the last one wins).
        public func entry(at path: String) -> ArchiveEntry? {
            let wanted = ArchiveEntry.normalized(path)
            return entries.last { $0.path == wanted }
        }
    }

    /// The image's path on this machine.
    public let path: String
    private let bytes: ArchiveBytes

    /// Largest decompressed segment accepted (a corrupt or hostile image must not
    /// exhaust memory).
    public static let decompressedLimit = 2 << 30

    /// Maps an image of an examined root read-only, opened inside it.
    /// - Parameter path: the image as the root names it (`/boot/initrd.img-6.1.0-…`).
    /// - Throws: `Initramfs.Error.missing`, `.empty` or `.unreadable`.
    public convenience init(root: SystemRoot, path: String) throws(Initramfs.Error) {
        let file: OpenFile
        do {
            file = try root.files.open(path, limit: Self.imageLimit)
        } catch {
            throw Self.error(error, path: path)
        }
        try self.init(file: file, path: path)
    }

    /// Maps a host file read-only (tests, and images outside any root).
    /// - Throws: `Initramfs.Error.missing`, `.empty` or `.unreadable`.
    public convenience init(path: String) throws(Initramfs.Error) {
        let file: OpenFile
        do {
            file = try FileReading.open(atPath: path, limit: Self.imageLimit)
        } catch {
            throw Self.error(error, path: path)
        }
        try self.init(file: file, path: path)
    }

    /// Maps an open image read-only.
    public init(file: OpenFile, path: String) throws(Initramfs.Error) {
        self.path = path
        do {
            bytes = try ArchiveBytes.map(file)
        } catch {
            throw Self.error(error, path: path)
        }
        guard bytes.count > 0 else { throw .empty(path: path) }
    }

    /// Largest image file accepted (the biggest real ones, with firmware, are ~200 MB).
    public static let imageLimit = 1 << 30

    private static func error(_ error: FileError, path: String) -> Initramfs.Error {
        if case .missing = error { return .missing(path: path) }
        return .unreadable(path: path, reason: error.reason)
    }

    /// Size of the image in bytes.
    public var size: Int { bytes.count }

    /// Reads every segment and lists every entry, checking each entry's data is present.
    /// - Throws: `Initramfs.Error.corrupt` with the offset and libarchive's message.
    public func list() throws(Initramfs.Error) -> Listing {
        var entries: [ArchiveEntry] = []
        let segments = try walk { entry, reader throws(ArchiveFailure) in
            try reader.skipData()
            entries.append(entry)
            return false
        }
        return Listing(segments: segments, entries: entries)
    }

    /// Every entry in image order (`list().entries`).
    public func entries() throws(Initramfs.Error) -> [ArchiveEntry] {
        try list().entries
    }

    /// The bytes of the regular file at `entryPath` (`init`, `conf/initramfs.conf`); the
    /// last entry of that path wins, as when the kernel unpacks.
    /// - Throws: `.noSuchEntry` when there is no regular file there; `.corrupt`.
    public func contents(of entryPath: String, limit: Int = 256 << 20) throws(Initramfs.Error) -> [UInt8] {
        let wanted = ArchiveEntry.normalized(entryPath)
        var found: [UInt8]?
        _ = try walk { entry, reader throws(ArchiveFailure) in
            guard entry.path == wanted else {
                try reader.skipData()
                return false
            }
            guard entry.kind == .file else {
                found = nil
                try reader.skipData()
                return false
            }
            let data = try reader.readData(limit: limit)
            found = (0..<data.count).map { data[$0] }
            return false
        }
        guard let found else { throw .noSuchEntry(path: path, entry: wanted) }
        return found
    }

    // MARK: - The walk

    /// Calls `visit` for every entry of every segment, in image order.
    private func walk(_ visit: (ArchiveEntry, ArchiveReader) throws(ArchiveFailure) -> Bool) throws(Initramfs.Error) -> [Segment] {
        var segments: [Segment] = []
        var offset = 0
        while offset < bytes.count {
            if bytes[offset] == 0 {
                offset += 1
                continue
            }
            if bytes.hasPrefix(Self.cpioMagic, at: offset) {
                let start = offset
                var count = 0
                offset += try walkCpio(bytes, at: offset, imageOffset: offset, count: &count, visit)
                segments.append(Segment(offset: start, length: offset - start, compression: nil, entryCount: count))
                continue
            }
            // Compressed: decompress the whole stream, then walk the cpio archives in it.
            let decompressed: ArchiveBytes
            let consumed: Int
            let compression: String
            do throws(ArchiveFailure) {
                let reader = try ArchiveReader(bytes, offset: offset, formats: [.raw], filters: .compressed)
                guard try reader.next() != nil, let name = reader.compression else {
                    throw ArchiveFailure(message: "no cpio header and no known compression")
                }
                compression = name
                decompressed = try reader.readData(limit: Self.decompressedLimit)
                consumed = reader.consumedBytes
            } catch {
                let reason = error.message == "Unrecognized archive format"
                    ? "no cpio header and no known compression" : error.message
                throw .corrupt(path: path, offset: offset, reason: reason)
            }
            var count = 0
            var inner = 0
            while inner < decompressed.count {
                if decompressed[inner] == 0 {
                    inner += 1
                    continue
                }
                guard decompressed.hasPrefix(Self.cpioMagic, at: inner) else {
                    // The kernel's message for the same case.
                    throw .corrupt(path: path, offset: offset,
                                   reason: "junk within compressed archive (decompressed byte \(inner))")
                }
                inner += try walkCpio(decompressed, at: inner, imageOffset: offset, count: &count, visit)
            }
            guard consumed > 0 else {
                throw .corrupt(path: path, offset: offset, reason: "\(compression) stream consumed no input")
            }
            segments.append(Segment(offset: offset, length: consumed, compression: compression, entryCount: count))
            offset += consumed
        }
        return segments
    }

    /// Walks one cpio archive up to its `TRAILER!!!`; returns the bytes consumed.
    private func walkCpio(_ source: ArchiveBytes, at start: Int, imageOffset: Int, count: inout Int,
                          _ visit: (ArchiveEntry, ArchiveReader) throws(ArchiveFailure) -> Bool) throws(Initramfs.Error) -> Int {
        do throws(ArchiveFailure) {
            let reader = try ArchiveReader(source, offset: start, formats: [.cpio], filters: .none)
            while let entry = try reader.next() {
                count += 1
                if try visit(entry, reader) { break }
            }
            let consumed = reader.consumedBytes
            guard consumed > 0 else { throw ArchiveFailure(message: "empty cpio archive") }
            return consumed
        } catch {
            throw .corrupt(path: path, offset: imageOffset, reason: error.message)
        }
    }

    /// `070701` (newc) and `070702` (newc with CRC) share these five bytes.
    private static let cpioMagic: [UInt8] = Array("07070".utf8)

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case missing(path: String)
        case empty(path: String)
        case unreadable(path: String, reason: String)
        /// Truncated, garbage, or an unknown compression, at `offset` in the image.
        case corrupt(path: String, offset: Int, reason: String)
        case noSuchEntry(path: String, entry: String)

        public var description: String {
            switch self {
            case .missing(let path): "initramfs \(path) does not exist"
            case .empty(let path): "initramfs \(path) is empty"
            case .unreadable(let path, let reason): "cannot read initramfs \(path): \(reason)"
            case .corrupt(let path, let offset, let reason): "cannot unpack initramfs \(path) at byte \(offset): \(reason)"
            case .noSuchEntry(let path, let entry): "initramfs \(path) has no file \(entry)"
            }
        }
    }
}
