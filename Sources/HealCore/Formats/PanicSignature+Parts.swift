extension PanicSignature {
    /// The header of a record's text (`Panic#1 Part3` → panic, 1, 3); nil when its first
    /// line that is not blank is no header.
    public static func recordHeader(of text: String) -> (kind: Kind, count: Int, part: Int)? {
        // The header is the first line; only its start is looked at.
        let start = text.utf8.prefix(256)
        let line = Substring(String(decoding: start, as: UTF8.self))
            .split(separator: "\n", omittingEmptySubsequences: true)
            .first { !$0.allSatisfy(\.isWhitespace) }
        return line.flatMap { header($0.trimmingTrailingWhitespace.drop(while: \.isWhitespace)) }
    }

    /// Joins the parts of one dump into the text of one record.
    ///
    /// A backend with small records (EFI variables of 1 KiB, ERST) splits one dump into
    /// parts, each with its own header; Part1 holds the newest lines, the highest part
    /// the oldest (fs/pstore/platform.c `pstore_dump` walks the log backwards):
    ///
    /// ```
    ///  dmesg-efi-167442556003001   Panic#1 Part3   <0>[105.480762]  device_resume+0x105…   oldest
    ///  dmesg-efi-167442556002001   Panic#1 Part2   <4>[105.480900] RIP: 0010:cpuidle_…
    ///  dmesg-efi-167442556001001   Panic#1 Part1   <4>[105.480943] RSP: 0018:… … Kernel Offset   newest
    ///                     joined:  Panic#1 Part1\n  + Part3's log + Part2's log + Part1's log
    /// ```
    ///
    /// - Parameters:
    ///   - texts: the records' texts, in any order; each starts with its header.
    ///   - limit: at most this many bytes of log: the newest parts are kept whole, the
    ///     older ones dropped once the next would not fit (the crash is at the end).
    /// - Returns: nil unless the texts are distinct parts of one dump (same reason and
    ///   count, no part twice) that include Part1.
    public static func joinParts(_ texts: [String], limit: Int) -> String? {
        var parts: [(part: Int, body: Substring)] = []
        var dump: (kind: Kind, count: Int)?
        for text in texts {
            guard let header = recordHeader(of: text) else { return nil }
            if let dump, dump != (header.kind, header.count) { return nil }
            dump = (header.kind, header.count)
            guard !parts.contains(where: { $0.part == header.part }) else { return nil }
            let body = text.firstIndex(of: "\n").map { text[text.index(after: $0)...] } ?? ""
            parts.append((header.part, body))
        }
        guard let dump, parts.contains(where: { $0.part == 1 }), parts.count > 1 else { return nil }
        parts.sort { $0.part < $1.part }
        var kept: [Substring] = []
        var size = 0
        for part in parts {
            guard part.part == 1 || size + part.body.utf8.count <= limit else { break }
            size += part.body.utf8.count
            kept.append(part.body)
        }
        var joined = "\(dump.kind.headerWord)#\(dump.count) Part1\n"
        for body in kept.reversed() {
            joined += body
            if !body.hasSuffix("\n") { joined += "\n" }
        }
        return joined
    }
}

extension PanicSignature.Kind {
    /// The word of the header (`kmsg_dump_reason_str`).
    public var headerWord: String {
        switch self {
        case .panic: "Panic"
        case .oops: "Oops"
        case .emergency: "Emergency"
        case .shutdown: "Shutdown"
        case .unknown: "Unknown"
        }
    }
}
