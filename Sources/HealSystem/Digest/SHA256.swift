import CMd

/// SHA-256 through libmd (`SHA256Init`/`SHA256Update`/`SHA256Final`): the checksums of
/// fix packages and backups.
public enum SHA256 {
    /// The lowercase hex digest of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        var context = SHA2_CTX()
        SHA256Init(&context)
        bytes.withUnsafeBufferPointer { buffer in
            SHA256Update(&context, buffer.baseAddress, buffer.count)
        }
        var digest = [UInt8](repeating: 0, count: 32)
        SHA256Final(&digest, &context)
        return Hex.encode(digest)
    }
}

enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// SHA-256 over data that arrives in pieces (libmd's `SHA256Update`), so files larger
/// than memory are hashed while they stream.
public final class StreamingSHA256 {
    private var context = SHA2_CTX()

    public init() { SHA256Init(&context) }

    public func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        SHA256Update(&context, base.assumingMemoryBound(to: UInt8.self), buffer.count)
    }

    public func finish() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        SHA256Final(&digest, &context)
        return Hex.encode(digest)
    }

    /// The digest of an open file's contents from its current offset, read in 64 KiB pieces.
    public static func digest(of file: OpenFile) throws(FileError) -> String {
        let hasher = StreamingSHA256()
        try file.stream { (piece) throws(FileError) in hasher.update(piece) }
        return hasher.finish()
    }
}
