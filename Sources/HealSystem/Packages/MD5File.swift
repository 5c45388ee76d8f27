import CMd
import Glibc

/// MD5 digests of files through libmd (`MD5Init`, `MD5Update`, `MD5Final` from <md5.h>),
/// the implementation dpkg itself links for its md5sums.
///
/// `MD5_CTX` is a plain struct with nothing to free, so no owning class is needed; the read
/// buffer is owned by the caller and reused across files.
public enum MD5File {
    public static let digestLength = Int(MD5_DIGEST_LENGTH)

    /// The lowercase hex MD5 digest of a host file's contents, following symbolic links as
    /// dpkg does (a file of an examined root is opened through `SystemRoot.files` and given
    /// to `digest(of:buffer:)`).
    /// - Parameter buffer: scratch space for reads; large buffers mean fewer system calls.
    /// - Throws: `FileError` when the file cannot be opened or read.
    public static func digest(atPath path: String, buffer: UnsafeMutableRawBufferPointer) throws(FileError) -> String {
        try digest(of: FileReading.open(atPath: path), buffer: buffer)
    }

    /// The lowercase hex MD5 digest of an open file's contents, from its current offset.
    public static func digest(of file: OpenFile, buffer: UnsafeMutableRawBufferPointer) throws(FileError) -> String {
        let fd = file.descriptor
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        var context = MD5_CTX()
        MD5Init(&context)
        while true {
            let n = retryingEINTR { read(fd, buffer.baseAddress, buffer.count) }
            if n < 0 { throw .system(path: file.path, call: "read", errno: errno) }
            if n == 0 { break }
            MD5Update(&context, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), n)
        }
        return finish(&context)
    }

    /// The lowercase hex MD5 digest of bytes in memory.
    public static func digest(of bytes: [UInt8]) -> String {
        var context = MD5_CTX()
        MD5Init(&context)
        bytes.withUnsafeBufferPointer { MD5Update(&context, $0.baseAddress, $0.count) }
        return finish(&context)
    }

    /// A digest computed piece by piece, for bytes that are never whole in memory (a file
    /// streamed out of a package).
    public struct Stream {
        private var context = MD5_CTX()

        public init() {
            MD5Init(&context)
        }

        /// Adds the next bytes (`MD5Update`).
        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            MD5Update(&context, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        }

        /// The lowercase hex digest of everything added (`MD5Final`).
        public mutating func finish() -> String {
            MD5File.finish(&context)
        }
    }

    fileprivate static func finish(_ context: inout MD5_CTX) -> String {
        var digest = [UInt8](repeating: 0, count: digestLength)
        MD5Final(&digest, &context)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(digestLength * 2)
        for byte in digest {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
