/// Edits of the boot loader's configuration text — grub.cfg, BLS entries, /etc/default/grub
/// — that change one value where it is written and keep every other byte.
///
/// ```
///  grub.cfg         linux\t/boot/vmlinuz-… root=UUID=OLD ro quiet        ← kernel lines
///  BLS entry        options root=UUID=OLD ro                             ← options lines
///  default/grub     GRUB_CMDLINE_LINUX="root=UUID=OLD console=ttyS0"     ← assignments
///  grub.cfg         set default="0"           default/grub  GRUB_DEFAULT=0
/// ```
public enum BootConfigEdit {
    /// The grub.cfg commands that load a kernel; their words after the path are the
    /// kernel command line (grub-core/loader/i386/linux.c and friends).
    public static let kernelCommands: Set<String> = ["linux", "linuxefi", "linux16", "kernel", "multiboot2"]
    /// The grub.cfg commands that load initrds.
    public static let initrdCommands: Set<String> = ["initrd", "initrdefi", "initrd16", "module2"]

    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        case noSuchLine(Int)
        case noAssignment(name: String, line: Int)

        public var description: String {
            switch self {
            case .noSuchLine(let line): "cannot edit the boot configuration: it has no line \(line)"
            case .noAssignment(let name, let line): "cannot edit the boot configuration: line \(line) does not assign \(name)"
            }
        }
    }

    /// What an edit changed: the new text and the 1-based numbers of the lines it rewrote.
    public struct Result: Sendable, Hashable {
        public var bytes: [UInt8]
        public var lines: [Int]
    }

    /// Replaces every kernel argument `name=old` with `name=new` on the kernel lines of a
    /// grub.cfg (`linux`, `linuxefi`, …), in every entry that carries that exact value.
    public static func replacingKernelArgument(_ name: String, value old: String, with new: String,
                                               inGrubConfig bytes: [UInt8]) -> Result {
        replacingArgument(name, old, new, in: bytes) { line in
            guard let first = TextLines.words(line).first else { return false }
            return kernelCommands.contains(String(decoding: line[first], as: UTF8.self))
        }
    }

    /// The same on the `options` lines of a BLS entry.
    public static func replacingKernelArgument(_ name: String, value old: String, with new: String,
                                               inLoaderEntry bytes: [UInt8]) -> Result {
        replacingArgument(name, old, new, in: bytes) { line in
            guard let first = TextLines.words(line).first else { return false }
            return String(decoding: line[first], as: UTF8.self) == "options"
        }
    }

    /// The same inside the `GRUB_CMDLINE_LINUX=` and `GRUB_CMDLINE_LINUX_DEFAULT=` (and
    /// `GRUB_CMDLINE_LINUX_RECOVERY=`) assignments of /etc/default/grub, quoted or not.
    public static func replacingKernelArgument(_ name: String, value old: String, with new: String,
                                               inDefaultGrub bytes: [UInt8]) -> Result {
        // A bare value starts right after `GRUB_CMDLINE_LINUX=`.
        replacingArgument(name, old, new, in: bytes, alsoAfter: [UInt8(ascii: "=")]) { line in
            guard let first = TextLines.words(line).first else { return false }
            var word = String(decoding: line[first.lowerBound...], as: UTF8.self)
            if word.hasPrefix("export") { word = String(word.dropFirst("export".count).drop { $0 == " " || $0 == "\t" }) }
            return word.hasPrefix("GRUB_CMDLINE_LINUX=") || word.hasPrefix("GRUB_CMDLINE_LINUX_DEFAULT=")
                || word.hasPrefix("GRUB_CMDLINE_LINUX_RECOVERY=")
        }
    }

    /// Replaces the word `old` (a kernel or initrd path) with `new` on the kernel and initrd
    /// lines of a grub.cfg.
    public static func replacingBootPath(_ old: String, with new: String, inGrubConfig bytes: [UInt8]) -> Result {
        var text = TextLines(bytes)
        var changed: [Int] = []
        let target = Array(old.utf8)
        for number in 1...max(text.count, 1) {
            guard var line = text[number] else { continue }
            let words = TextLines.words(line)
            guard let first = words.first else { continue }
            let command = String(decoding: line[first], as: UTF8.self)
            guard kernelCommands.contains(command) || initrdCommands.contains(command) else { continue }
            // Kernel lines: only the path (the command line can name paths too, as
            // `init=`, which are not boot files). Initrd lines: every image.
            let candidates = kernelCommands.contains(command) ? Array(words.dropFirst().prefix(1)) : Array(words.dropFirst())
            var edited = false
            for range in candidates.reversed() where Array(line[range]) == target {
                line.replaceSubrange(range, with: Array(new.utf8))
                edited = true
            }
            if edited {
                text.replace(line: number, with: [line])
                changed.append(number)
            }
        }
        return Result(bytes: text.bytes, lines: changed)
    }

    /// Sets the value of the assignment `name=` on line `line` (`set default="0"` in
    /// grub.cfg, `GRUB_DEFAULT=0` in /etc/default/grub): the old value — quoted or bare —
    /// is replaced by `value` in double quotes, escaped for both GRUB script and sh.
    /// - Throws: `BootConfigEdit.Error` when the line is missing or assigns no `name`.
    public static func settingAssignment(_ name: String, to value: String, line: Int,
                                         in bytes: [UInt8]) throws(BootConfigEdit.Error) -> [UInt8] {
        var text = TextLines(bytes)
        guard var content = text[line] else { throw .noSuchLine(line) }
        let key = Array((name + "=").utf8)
        // The assignment starts a word: at the line's start, after blanks, or after `set`.
        guard let start = TextLines.words(content).first(where: { content[$0].starts(with: key) })?.lowerBound else {
            throw .noAssignment(name: name, line: line)
        }
        let valueStart = start + key.count
        var end = valueStart
        // The value runs to the first unquoted blank, `;` or end of line.
        var quote: UInt8?
        while end < content.count {
            let byte = content[end]
            if let open = quote {
                if byte == UInt8(ascii: "\\"), open == UInt8(ascii: "\""), end + 1 < content.count { end += 2; continue }
                if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                quote = byte
            } else if TextLines.isBlank(byte) || byte == UInt8(ascii: ";") {
                break
            } else if byte == UInt8(ascii: "\\"), end + 1 < content.count {
                end += 1
            }
            end += 1
        }
        content.replaceSubrange(valueStart..<end, with: Array(quoted(value).utf8))
        text.replace(line: line, with: [content])
        return text.bytes
    }

    /// `value` in double quotes with `\`, `"`, `$` and `` ` `` escaped: read back as the same
    /// string by GRUB's script lexer and by sh.
    public static func quoted(_ value: String) -> String {
        var result = "\""
        for character in value {
            if character == "\\" || character == "\"" || character == "$" || character == "`" { result.append("\\") }
            result.append(character)
        }
        return result + "\""
    }

    /// Replaces `name=old` by `name=new` on the lines `selects` accepts. An argument is a
    /// whole word: it starts the line or follows a blank or a quote, and ends at a blank,
    /// a quote or the end of the line.
    private static func replacingArgument(_ name: String, _ old: String, _ new: String, in bytes: [UInt8],
                                          alsoAfter: Set<UInt8> = [], selects: ([UInt8]) -> Bool) -> Result {
        var text = TextLines(bytes)
        let needle = Array((name + "=" + old).utf8)
        let replacement = Array((name + "=" + new).utf8)
        var changed: [Int] = []
        for number in 1...max(text.count, 1) {
            guard var line = text[number], selects(line) else { continue }
            var index = 0
            var edited = false
            while index + needle.count <= line.count {
                let before = index == 0 ? nil : line[index - 1]
                let afterIndex = index + needle.count
                let after = afterIndex < line.count ? line[afterIndex] : nil
                if line[index..<afterIndex].elementsEqual(needle), isBoundary(before) || before.map(alsoAfter.contains) == true, isBoundary(after) {
                    line.replaceSubrange(index..<afterIndex, with: replacement)
                    index += replacement.count
                    edited = true
                } else {
                    index += 1
                }
            }
            if edited {
                text.replace(line: number, with: [line])
                changed.append(number)
            }
        }
        return Result(bytes: text.bytes, lines: changed)
    }

    private static func isBoundary(_ byte: UInt8?) -> Bool {
        guard let byte else { return true }
        return TextLines.isBlank(byte) || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
    }
}
