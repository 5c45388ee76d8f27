import Glibc

/// An open file descriptor with exactly one owner: closed when the owner is released.
///
/// Made by `ConfinedDirectory` (which resolved it inside a root and checked what it is), so
/// code that holds one reads the object that was checked, not whatever a path names later.
public final class OpenFile: @unchecked Sendable {
    /// The descriptor; valid for the life of this object.
    public let descriptor: Int32
    /// The path as the caller named it (for messages; never reopened).
    public let path: String
    /// `fstat` of the descriptor when it was opened.
    public let status: stat
    /// Whether `status.st_size` is the size (not on /proc and /sys).
    let sizeKnown: Bool

    init(descriptor: Int32, path: String, status: stat, sizeKnown: Bool = true) {
        self.descriptor = descriptor
        self.path = path
        self.status = status
        self.sizeKnown = sizeKnown
    }

    deinit { close(descriptor) }

    /// The kind of object the descriptor refers to.
    public var kind: FileKind { FileKind(mode: status.st_mode) }

    /// The size `fstat` reported when it was opened.
    public var size: Int { Int(status.st_size) }

    /// A path the kernel resolves to this very descriptor (`/proc/self/fd/N`), for C
    /// libraries that only take a path (libmount's fstab parser, libkmod's module folder).
    /// Valid while this object lives.
    public var procPath: String { "/proc/self/fd/\(descriptor)" }

    /// Reads to the end in 64 KiB pieces, handing each to `body`.
    /// - Parameter limit: refuse once more than this many bytes came (a file may grow
    ///   after `fstat`, and /proc and /sys files report size 0).
    public func stream(limit: Int = .max, _ body: (UnsafeRawBufferPointer) throws(FileError) -> Void) throws(FileError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let n = retryingEINTR { read(descriptor, buffer.baseAddress, buffer.count) }
            if n < 0 { throw .system(path: path, call: "read", errno: errno) }
            if n == 0 { return }
            total += n
            if total > limit { throw .tooLarge(path: path, limit: limit) }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// Reads the whole file, at most `limit` bytes.
    public func readAll(limit: Int) throws(FileError) -> [UInt8] {
        if sizeKnown && size > limit { throw .tooLarge(path: path, limit: limit) }
        var result: [UInt8] = []
        result.reserveCapacity(sizeKnown ? min(size, limit) : 4096)
        try stream(limit: limit) { (piece) throws(FileError) in result.append(contentsOf: piece) }
        return result
    }

    /// Writes all of `bytes` at the current offset.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(FileError) {
        var offset = 0
        while offset < bytes.count {
            let n = retryingEINTR { Glibc.write(descriptor, bytes.baseAddress.map { $0 + offset }, bytes.count - offset) }
            if n < 0 { throw .system(path: path, call: "write", errno: errno) }
            offset += n
        }
    }

    /// Writes all of `bytes` at the current offset.
    public func write(_ bytes: [UInt8]) throws(FileError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { raw in retryingEINTR { Glibc.write(descriptor, raw.baseAddress, raw.count) } }
            if n < 0 { throw .system(path: path, call: "write", errno: errno) }
            offset += n
        }
    }

    /// Makes the file's contents durable (`fsync`).
    public func sync() throws(FileError) {
        guard fsync(descriptor) == 0 else { throw .system(path: path, call: "fsync", errno: errno) }
    }
}
