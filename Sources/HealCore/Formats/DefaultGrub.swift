/// `/etc/default/grub` (and `/etc/default/grub.d/*.cfg`): the shell fragment grub-mkconfig
/// sources before it writes grub.cfg. Only `NAME=value` assignments are read; commands
/// such as `GRUB_DISTRIBUTOR=`lsb_release …`` keep their text unevaluated.
///
/// Quoting follows POSIX sh: `'…'` literal, `"…"` with `\$ \` \" \\ \newline` escapes and
/// `$NAME`/`${NAME}` expansion, unquoted `\x` escapes one character. Expansion uses the
/// values assigned before (so `GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX quiet"` in a
/// grub.d drop-in works as it does for grub-mkconfig).
public struct DefaultGrub: Sendable, Hashable {
    /// The value of each variable after the last assignment.
    public var values: [String: String]
    /// The 1-based line of each variable's last assignment.
    public var lines: [String: Int]

    public init(values: [String: String] = [:], lines: [String: Int] = [:]) {
        self.values = values
        self.lines = lines
    }

    public subscript(name: String) -> String? { values[name] }

    /// `GRUB_DEFAULT`; GRUB's own default when unset is `0`.
    public var grubDefault: String { values["GRUB_DEFAULT"] ?? "0" }

    /// The command line 10_linux gives normal entries:
    /// `${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}` split at blanks.
    public var normalCommandLine: [String] {
        ((values["GRUB_CMDLINE_LINUX"] ?? "") + " " + (values["GRUB_CMDLINE_LINUX_DEFAULT"] ?? ""))
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        case unterminatedQuote(line: Int)

        public var description: String {
            switch self {
            case .unterminatedQuote(let line): "cannot parse /etc/default/grub line \(line): unterminated quote"
            }
        }
    }

    /// Parses one file; assignments add to (and may read) `inheriting`'s values.
    /// - Throws: `DefaultGrub.Error` when a quote is never closed (sh would fail too).
    public init(parsing text: String, inheriting base: DefaultGrub = DefaultGrub()) throws(DefaultGrub.Error) {
        self = base
        let chars = Array(text.unicodeScalars)
        var i = 0
        var line = 1
        while i < chars.count {
            // One command: words up to an unquoted newline or ';'.
            let commandLine = line
            var words: [String] = []
            var word = ""
            var inWord = false
            commandLoop: while i < chars.count {
                let c = chars[i]
                switch c {
                case "\n", ";":
                    if c == "\n" { line += 1 }
                    i += 1
                    break commandLoop
                case " ", "\t", "\r":
                    if inWord { words.append(word); word = ""; inWord = false }
                    i += 1
                case "#" where !inWord:
                    while i < chars.count, chars[i] != "\n" { i += 1 }
                case "'":
                    inWord = true
                    let start = line
                    i += 1
                    while i < chars.count, chars[i] != "'" {
                        if chars[i] == "\n" { line += 1 }
                        word.unicodeScalars.append(chars[i]); i += 1
                    }
                    guard i < chars.count else { throw .unterminatedQuote(line: start) }
                    i += 1
                case "\"":
                    inWord = true
                    let start = line
                    i += 1
                    while i < chars.count, chars[i] != "\"" {
                        if chars[i] == "\\", i + 1 < chars.count, "$`\"\\\n".unicodeScalars.contains(chars[i + 1]) {
                            if chars[i + 1] == "\n" { line += 1 } else { word.unicodeScalars.append(chars[i + 1]) }
                            i += 2
                        } else if chars[i] == "$" {
                            word += expand(chars, &i)
                        } else {
                            if chars[i] == "\n" { line += 1 }
                            word.unicodeScalars.append(chars[i]); i += 1
                        }
                    }
                    guard i < chars.count else { throw .unterminatedQuote(line: start) }
                    i += 1
                case "`":
                    // Command substitution: kept as written, never run.
                    inWord = true
                    let start = line
                    word.unicodeScalars.append(c)
                    i += 1
                    while i < chars.count, chars[i] != "`" {
                        if chars[i] == "\n" { line += 1 }
                        word.unicodeScalars.append(chars[i]); i += 1
                    }
                    guard i < chars.count else { throw .unterminatedQuote(line: start) }
                    word.unicodeScalars.append("`")
                    i += 1
                case "\\":
                    if i + 1 < chars.count {
                        if chars[i + 1] == "\n" { line += 1 } else { inWord = true; word.unicodeScalars.append(chars[i + 1]) }
                        i += 2
                    } else {
                        i += 1
                    }
                case "$":
                    inWord = true
                    word += expand(chars, &i)
                default:
                    inWord = true
                    word.unicodeScalars.append(c)
                    i += 1
                }
            }
            if inWord { words.append(word) }
            if words.first == "export" { words.removeFirst() }
            // Only a command made of assignments sets variables (`A=1 cmd` is an environment
            // for cmd, not an assignment).
            guard !words.isEmpty, words.allSatisfy({ Self.assignmentName($0) != nil }) else { continue }
            for assignment in words {
                guard let name = Self.assignmentName(assignment) else { continue }
                values[name] = String(assignment.dropFirst(name.count + 1))
                lines[name] = commandLine
            }
        }
    }

    private static func assignmentName(_ word: String) -> String? {
        guard let eq = word.firstIndex(of: "="), eq != word.startIndex else { return nil }
        let name = word[..<eq]
        guard let first = name.unicodeScalars.first, !(first >= "0" && first <= "9"),
              name.unicodeScalars.allSatisfy({ $0 == "_" || ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") })
        else { return nil }
        return String(name)
    }

    /// Expands `$NAME` or `${NAME}` at `i`; `$(…)` and a lone `$` stay as written.
    private func expand(_ chars: [Unicode.Scalar], _ i: inout Int) -> String {
        func isName(_ c: Unicode.Scalar) -> Bool {
            c == "_" || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
        }
        if i + 1 < chars.count, chars[i + 1] == "{" {
            var j = i + 2
            var name = ""
            while j < chars.count, isName(chars[j]) { name.unicodeScalars.append(chars[j]); j += 1 }
            if j < chars.count, chars[j] == "}" {
                i = j + 1
                return values[name] ?? ""
            }
        } else if i + 1 < chars.count, isName(chars[i + 1]) {
            var j = i + 1
            var name = ""
            while j < chars.count, isName(chars[j]) { name.unicodeScalars.append(chars[j]); j += 1 }
            i = j
            return values[name] ?? ""
        }
        i += 1
        return "$"
    }
}
