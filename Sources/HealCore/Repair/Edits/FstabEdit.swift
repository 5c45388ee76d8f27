/// Edits of one line of an fstab(5) that leave every other byte of the file as it was, so
/// a person's diff shows only the repair. Fields are found the way libmount splits
/// them — runs of blanks — and a changed field is spliced in place, so the blanks around it
/// (tabs, aligned columns, trailing spaces) stay as the person wrote them.
///
/// ```
///  LABEL=dtaa\t/data   ext4  defaults   0 2
///  └─ 0 ─────┘ └─ 1 ┘  └ 2 ┘ └── 3 ──┘  4 5      field numbers (`Field`)
/// ```
public enum FstabEdit {
    /// The fields of an fstab line.
    public enum Field: Int, Sendable, CaseIterable {
        case source = 0, target, type, options, freq, passno
    }

    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        case noSuchLine(Int)
        /// Blank, a comment, or fewer than three fields: there is no entry to edit.
        case notAnEntry(line: Int)

        public var description: String {
            switch self {
            case .noSuchLine(let line): "cannot edit /etc/fstab: it has no line \(line)"
            case .notAnEntry(let line): "cannot edit /etc/fstab: line \(line) is not an entry"
            }
        }
    }

    /// The marker that starts every note clarity-heal leaves in a file.
    public static let notePrefix = "# clarity-heal: "

    /// Replaces one field of line `line` with `value` (escaped for fstab: blanks, `#` and
    /// `\` as octal, so a label with a space stays one field).
    /// - Throws: `FstabEdit.Error` when the line is missing or not an entry.
    public static func replacing(_ field: Field, with value: String, line: Int,
                                 in bytes: [UInt8]) throws(FstabEdit.Error) -> [UInt8] {
        var text = TextLines(bytes)
        var (content, words) = try entry(line, in: text)
        let escaped = Array(escape(value).utf8)
        if field.rawValue < words.count {
            content.replaceSubrange(words[field.rawValue], with: escaped)
        } else {
            // Missing trailing fields (options, dump, pass): add what libmount would assume
            // in between, so the new field lands in its column.
            let fillers = ["defaults", "0", "0"]
            var tail: [UInt8] = []
            for missing in words.count..<field.rawValue { tail += [0x20] + Array(fillers[missing - Field.options.rawValue].utf8) }
            content.insert(contentsOf: tail + [0x20] + escaped, at: words[words.count - 1].upperBound)
        }
        text.replace(line: line, with: [content])
        return text.bytes
    }

    /// Appends options to the options field of line `line`, skipping any whose name is
    /// already there (`nofail` twice is harmless but untidy; an existing
    /// `x-systemd.device-timeout=` keeps its value). A line without options gets
    /// `defaults,` + the options, which is what libmount assumed before.
    public static func addingOptions(_ options: [String], line: Int,
                                     in bytes: [UInt8]) throws(FstabEdit.Error) -> [UInt8] {
        let text = TextLines(bytes)
        let (content, words) = try entry(line, in: text)
        let current = words.count > Field.options.rawValue
            ? String(decoding: content[words[Field.options.rawValue]], as: UTF8.self) : "defaults"
        let present = Set(current.split(separator: ",").map { optionName(String($0)) })
        let added = options.filter { !present.contains(optionName($0)) }
        guard !added.isEmpty else { return bytes }
        return try replacing(.options, with: unescape(current) + "," + added.joined(separator: ","), line: line, in: bytes)
    }

    /// Comments line `line` out: a note line `# clarity-heal: <note>` goes before it and the
    /// line itself gets a leading `#`, kept otherwise as written so a person can restore it
    /// by deleting one character.
    public static func commentingOut(line: Int, note: String, in bytes: [UInt8]) throws(FstabEdit.Error) -> [UInt8] {
        var text = TextLines(bytes)
        let (content, _) = try entry(line, in: text)
        let oneLine = note.map { $0 == "\n" || $0 == "\r" ? " " : $0 }
        text.replace(line: line, with: [Array((notePrefix + String(oneLine)).utf8), [UInt8(ascii: "#")] + content])
        return text.bytes
    }

    /// The fields of line `line` as written (escapes not decoded), or nil when it is no entry.
    public static func fields(line: Int, in bytes: [UInt8]) -> [String]? {
        let text = TextLines(bytes)
        guard let (content, words) = try? entry(line, in: text) else { return nil }
        return words.map { String(decoding: content[$0], as: UTF8.self) }
    }

    /// fstab(5)'s escaping: a blank, `#` or `\` inside a field as a 3-digit octal escape.
    public static func escape(_ field: String) -> String {
        var result = ""
        for byte in field.utf8 {
            if TextLines.isBlank(byte) || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "\\") || byte == 0x0a {
                let octal = String(byte, radix: 8)
                result += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            } else {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return result
    }

    /// Decodes the octal escapes `escape` writes (libmount's unmangle).
    public static func unescape(_ field: String) -> String {
        let source = Array(field.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count, let value = UInt8(String(decoding: source[(index + 1)..<(index + 4)], as: UTF8.self), radix: 8) {
                out.append(value)
                index += 4
            } else {
                out.append(source[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `name` of `name=value`.
    static func optionName(_ option: String) -> String {
        option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? option
    }

    /// The line's bytes and its word ranges, when it is an entry (libmount needs at least
    /// source, mount point and type; `#` first means a comment).
    private static func entry(_ line: Int, in text: TextLines) throws(FstabEdit.Error) -> ([UInt8], [Range<Int>]) {
        guard let content = text[line] else { throw .noSuchLine(line) }
        let words = TextLines.words(content)
        guard words.count >= 3, content[words[0].lowerBound] != UInt8(ascii: "#") else { throw .notAnEntry(line: line) }
        return (content, words)
    }
}
