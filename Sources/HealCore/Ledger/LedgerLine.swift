/// The ledger's line format: one JSON object per line, closed by a checksum of the line.
///
/// ```
///  <root>/var/lib/clarity-heal/ledger.jsonl     append-only, O_APPEND, one write(2) and
///                                               one fsync per record, flock(LOCK_EX)
///  ┌───────────────────────────────────────────────────────────────────────────────┐
///  │{"seq":1,"time":1718000000,"kind":"detection","class":"fstab-invalid-entry",    │
///  │ "outcome":"findings","detail":{"findings":"1"},"crc":"9a3c51f0"}\n            │
///  │{"seq":2,"time":1718000042,"kind":"repair","fix":"fix-…","class":"…",          │
///  │ "strategy":"fstab-set-type","outcome":"validated","detail":{…},"crc":"…"}\n   │
///  │{"seq":3,"time":17180001                    ◄── torn: a crash mid-write left no │
///  │                                                 "\n"; readers ignore it, the   │
///  │                                                 next append (under the lock)   │
///  │                                                 truncates it away, then writes │
///  │{"seq":3,"time":1718000107,"kind":"apply",…,"crc":"…"}\n     ◄── in its place     │
///  └───────────────────────────────────────────────────────────────────────────────┘
///
///  one line:   <body>,"crc":"<8 hex>"}\n
///              └─┬──┘        └──┬───┘
///                │              CRC-32 (IEEE 802.3, as zlib/gzip) of the bytes of <body>
///                {"seq":N,"time":T,"kind":K[,"fix":F][,"class":C][,"strategy":S],
///                 "outcome":O,"detail":{key:value,… sorted by key}
///                (an object left open: the crc member closes it)
/// ```
///
/// Keys come in a fixed order so `less` shows seq, time and kind first; the line is plain
/// JSON, so `jq` reads the file as it is. The checksum covers the exact bytes written, so a
/// garbled or half-written line is told apart from a record without re-encoding anything.
public enum LedgerLine {
    private static let crcPrefix = Array(",\"crc\":\"".utf8)

    /// Bytes of `,"crc":"xxxxxxxx"}`: the fixed-size tail of every line (without "\n").
    static let tailLength = crcPrefix.count + 8 + 2

    /// The line for `record`, ending in "\n".
    public static func encode(_ record: LedgerRecord) -> [UInt8] {
        var body = "{\"seq\":\(record.seq),\"time\":\(record.time),\"kind\":" + quoted(record.kind.rawValue)
        if let fix = record.fix { body += ",\"fix\":" + quoted(fix) }
        if let slug = record.failureClass { body += ",\"class\":" + quoted(slug) }
        if let strategy = record.strategy { body += ",\"strategy\":" + quoted(strategy) }
        body += ",\"outcome\":" + quoted(record.outcome.rawValue) + ",\"detail\":{"
        body += record.detail.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + quoted($0.value) }
            .joined(separator: ",")
        body += "}"
        let bytes = Array(body.utf8)
        return bytes + Array(",\"crc\":\"\(hex(crc32(bytes)))\"}\n".utf8)
    }

    /// Why a line is not a record.
    public enum Defect: Sendable, Hashable, CustomStringConvertible {
        case noChecksum
        case checksumMismatch(written: String, computed: String)
        case undecodable(String)

        public var description: String {
            switch self {
            case .noChecksum: "no checksum at the end of the line"
            case .checksumMismatch(let written, let computed): "the line says crc \(written) but its bytes give \(computed)"
            case .undecodable(let reason): "checksum matches but the record cannot be read: \(reason)"
            }
        }
    }

    /// Checks the checksum of one line (without its "\n"). Returns the defect, or nil when
    /// the line is intact and can be decoded as JSON.
    public static func check(_ line: ArraySlice<UInt8>) -> Defect? {
        guard line.count > tailLength else { return .noChecksum }
        let tailStart = line.endIndex - tailLength
        let tail = line[tailStart...]
        let prefix = crcPrefix
        guard tail.prefix(prefix.count).elementsEqual(prefix), tail.suffix(2).elementsEqual(Array("\"}".utf8)) else {
            return .noChecksum
        }
        let written = String(decoding: tail.dropFirst(prefix.count).dropLast(2), as: UTF8.self)
        let actual = hex(crc32(line[..<tailStart]))
        return written == actual ? nil : .checksumMismatch(written: written, computed: actual)
    }

    /// Splits a ledger file into lines. A last line without "\n" is `torn`: a write that a
    /// crash cut short (or one still in flight for a reader without the lock).
    public static func split(_ bytes: [UInt8]) -> (lines: [ArraySlice<UInt8>], torn: ArraySlice<UInt8>?) {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        for index in bytes.indices where bytes[index] == 0x0a {
            lines.append(bytes[start..<index])
            start = index + 1
        }
        let rest = bytes[start...]
        return (lines, rest.isEmpty ? nil : rest)
    }

    // MARK: - JSON text

    /// A JSON string literal (RFC 8259 §7): quote, backslash and control characters
    /// escaped; everything else, including non-ASCII, as UTF-8.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                let digits = hex(UInt32(scalar.value))
                out += "\\u" + digits.suffix(4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: - CRC-32

    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 as zlib's `crc32()` computes it (reflected, polynomial 0x04c11db7).
    public static func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xffff_ffff
        for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xffff_ffff
    }

    static func hex(_ value: UInt32) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { out[7 - i] = digits[Int((value >> (UInt32(i) * 4)) & 0xf)] }
        return String(decoding: out, as: UTF8.self)
    }
}
