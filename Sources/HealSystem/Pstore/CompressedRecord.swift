import CZlib

/// A pstore record the kernel could not decompress (`*.enc.z`): still the bytes pstore
/// compressed, read here with zlib.
///
/// pstore compresses with deflate: raw deflate through the crypto API up to 6.5
/// (crypto/deflate.c, `-DEFLATE_DEF_WINBITS`), and through the zlib library since 6.6
/// (fs/pstore/platform.c, `-DEF_WBITS`), so a kernel's own record has no header. A
/// record another tool wrote, or rewrote, may carry a zlib or gzip header; the first
/// bytes say which.
///
/// Untrusted: the output is bounded (`inflatedLimit`), so a small bomb cannot fill memory.
enum CompressedRecord {
    /// A dump is at most `kmsg_bytes` of log (a few hundred KiB at most); anything larger
    /// is not a record.
    static let inflatedLimit = 4 << 20

    enum Error: Swift.Error, Equatable, CustomStringConvertible {
        /// zlib's code and message.
        case corrupt(code: Int32, message: String)
        /// Inflating went past `limit` bytes.
        case tooLarge(limit: Int)
        /// The stream stopped before its end.
        case truncated

        var description: String {
            switch self {
            case .corrupt(let code, let message): "not deflate data (zlib \(code): \(message))"
            case .tooLarge(let limit): "inflates to more than \(limit) bytes"
            case .truncated: "the deflate stream ends early"
            }
        }
    }

    /// zlib's window bits for the format the bytes start with: 15 for a zlib header (CMF
    /// names deflate, the check bits hold, RFC 1950), 31 for gzip, -15 for raw deflate.
    static func windowBits(_ bytes: [UInt8]) -> Int32 {
        guard bytes.count >= 2 else { return -15 }
        if bytes[0] == 0x1f && bytes[1] == 0x8b { return 31 }
        if bytes[0] & 0x0f == 8, bytes[0] >> 4 <= 7, (UInt16(bytes[0]) << 8 | UInt16(bytes[1])) % 31 == 0 { return 15 }
        return -15
    }

    /// The inflated bytes.
    /// - Throws: `CompressedRecord.Error` for data that is not deflate, ends early, or
    ///   inflates to more than `limit` bytes.
    static func inflate(_ bytes: [UInt8], limit: Int = inflatedLimit) throws(Error) -> [UInt8] {
        var stream = z_stream()
        let initialized = heal_inflate_init2(&stream, windowBits(bytes))
        guard initialized == Z_OK else { throw .corrupt(code: initialized, message: "inflateInit2 failed") }
        defer { inflateEnd(&stream) }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var input = bytes
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            while true {
                let (code, produced) = chunk.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    let code = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return (code, buffer.count - Int(stream.avail_out))
                }
                if output.count + produced > limit { return Z_MEM_ERROR }
                output += chunk[..<produced]
                if code == Z_STREAM_END { return Z_STREAM_END }
                if code != Z_OK { return code }
                // No progress with input left means the stream is cut short.
                if produced == 0 && stream.avail_in == 0 { return Z_BUF_ERROR }
            }
        }
        switch status {
        case Z_STREAM_END: return output
        case Z_MEM_ERROR: throw .tooLarge(limit: limit)
        case Z_BUF_ERROR: throw .truncated
        default:
            let message = stream.msg.map { String(cString: $0) } ?? "error"
            throw .corrupt(code: status, message: message)
        }
    }
}
