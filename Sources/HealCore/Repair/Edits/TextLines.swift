/// A text file as lines of bytes, for edits that must leave every line they do not touch
/// byte-identical: line terminators, `\r`, tabs, trailing blanks and a missing final
/// newline are all kept as they were.
///
/// ```
///  "a\tb\n#c\r\nlast"  →  lines  ["a\tb", "#c\r", "last"]   terminated [true, true, false]
/// ```
///
/// Lines are numbered from 1, as in editors and in libmount's parser errors.
public struct TextLines: Sendable, Hashable {
    /// The bytes of each line without its `\n` (a `\r` before it stays in the line).
    public var lines: [[UInt8]]
    /// Whether line i ended with `\n`; only the last line can be unterminated.
    public var terminated: [Bool]

    public init(_ bytes: [UInt8]) {
        lines = []
        terminated = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == Self.newline {
            lines.append(Array(bytes[start..<index]))
            terminated.append(true)
            start = index + 1
        }
        if start < bytes.count {
            lines.append(Array(bytes[start...]))
            terminated.append(false)
        }
    }

    public var count: Int { lines.count }

    /// The file again: joined with the terminators each line had.
    public var bytes: [UInt8] {
        var result: [UInt8] = []
        for (line, ends) in zip(lines, terminated) {
            result += line
            if ends { result.append(Self.newline) }
        }
        return result
    }

    /// Line `number` (1-based), or nil when there is no such line.
    public subscript(number: Int) -> [UInt8]? {
        guard number >= 1, number <= lines.count else { return nil }
        return lines[number - 1]
    }

    /// Replaces line `number` by `replacement` lines; the last of them takes the old line's
    /// terminator, the others end with `\n`.
    public mutating func replace(line number: Int, with replacement: [[UInt8]]) {
        guard number >= 1, number <= lines.count, !replacement.isEmpty else { return }
        let ends = terminated[number - 1]
        lines.replaceSubrange((number - 1)...(number - 1), with: replacement)
        terminated.replaceSubrange((number - 1)...(number - 1),
                                   with: Array(repeating: true, count: replacement.count - 1) + [ends])
    }

    static let newline = UInt8(ascii: "\n")

    /// isspace(3) in the C locale without the newline: what separates fields in fstab,
    /// grub.cfg and sh.
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0b || byte == 0x0c || byte == 0x0d
    }

    /// The byte ranges of the blank-separated words of `line`.
    static func words(_ line: [UInt8]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var index = 0
        while index < line.count {
            while index < line.count, isBlank(line[index]) { index += 1 }
            guard index < line.count else { break }
            let start = index
            while index < line.count, !isBlank(line[index]) { index += 1 }
            result.append(start..<index)
        }
        return result
    }
}
