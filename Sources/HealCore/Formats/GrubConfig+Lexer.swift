extension GrubConfig {
    /// One word of GRUB script after quote removal: literal text and `$variable`
    /// references, which are only known once the environment is (grubenv, `set`).
    public struct Word: Sendable, Hashable, CustomStringConvertible {
        public enum Part: Sendable, Hashable {
            case text(String)
            case variable(String)
        }

        public var parts: [Part]
        /// Whether any part was quoted: a quoted `{` or `if` is a plain word.
        public var quoted: Bool

        public init(_ parts: [Part], quoted: Bool = false) {
            self.parts = parts
            self.quoted = quoted
        }

        /// The text when the word has no variable references.
        public var literal: String? {
            var result = ""
            for part in parts {
                guard case .text(let text) = part else { return nil }
                result += text
            }
            return result
        }

        /// The word with variables replaced from `environment`; unset ones are empty, as
        /// in GRUB.
        public func expanded(_ environment: [String: String]) -> String {
            parts.map {
                switch $0 {
                case .text(let text): text
                case .variable(let name): environment[name] ?? ""
                }
            }.joined()
        }

        /// The word as written, variables as `${name}`.
        public var description: String {
            parts.map {
                switch $0 {
                case .text(let text): text
                case .variable(let name): "${\(name)}"
                }
            }.joined()
        }

        /// Whether the word is exactly the unquoted keyword `keyword`.
        func isKeyword(_ keyword: String) -> Bool { !quoted && literal == keyword }
    }

    enum Token: Equatable {
        case word(Word)
        /// `;` or a newline: the end of a command.
        case separator
        case open
        case close
    }

    struct Lexed: Equatable {
        var token: Token
        var line: Int
    }

    /// Splits GRUB script into tokens, following grub-core/script/yylex.l: `'…'` is
    /// literal, `"…"` honours `\\ \" \$` and line continuations, an unquoted `\` escapes
    /// one character, `#` starts a comment at the start of a word, `$name`/`${name}` are
    /// variable references, `{` and `}` standing alone are block delimiters.
    static func lex(_ text: String) throws(GrubConfig.Error) -> [Lexed] {
        let chars = Array(text.unicodeScalars)
        var tokens: [Lexed] = []
        var line = 1
        var i = 0
        var parts: [Word.Part] = []
        var current = ""
        var quoted = false
        var inWord = false
        var wordLine = 1

        func flushText() {
            if !current.isEmpty { parts.append(.text(current)); current = "" }
        }
        func endWord() {
            guard inWord else { return }
            flushText()
            let word = Word(parts, quoted: quoted)
            if !quoted, word.literal == "{" {
                tokens.append(Lexed(token: .open, line: wordLine))
            } else if !quoted, word.literal == "}" {
                tokens.append(Lexed(token: .close, line: wordLine))
            } else {
                tokens.append(Lexed(token: .word(word), line: wordLine))
            }
            parts = []
            quoted = false
            inWord = false
        }
        func startWord() {
            if !inWord { inWord = true; wordLine = line }
        }
        func isNameStart(_ c: Unicode.Scalar) -> Bool {
            c == "_" || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z")
        }
        func isNameChar(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || (c >= "0" && c <= "9") }

        // Reads `$…` at i (chars[i] == "$"); appends a variable part or a literal "$".
        func readVariable() throws(GrubConfig.Error) {
            let start = line
            if i + 1 < chars.count, chars[i + 1] == "{" {
                var j = i + 2
                var name = ""
                while j < chars.count, chars[j] != "}" {
                    if chars[j] == "\n" { line += 1 }
                    name.unicodeScalars.append(chars[j])
                    j += 1
                }
                guard j < chars.count else { throw .unterminated(what: "${", line: start) }
                flushText()
                parts.append(.variable(name))
                i = j + 1
            } else if i + 1 < chars.count, isNameStart(chars[i + 1]) || "?#*@0123456789".unicodeScalars.contains(chars[i + 1]) {
                var j = i + 1
                var name = ""
                if isNameStart(chars[j]) {
                    while j < chars.count, isNameChar(chars[j]) { name.unicodeScalars.append(chars[j]); j += 1 }
                } else {
                    name.unicodeScalars.append(chars[j]); j += 1
                }
                flushText()
                parts.append(.variable(name))
                i = j
            } else {
                current += "$"
                i += 1
            }
        }

        while i < chars.count {
            let c = chars[i]
            switch c {
            case "\n":
                endWord()
                tokens.append(Lexed(token: .separator, line: line))
                line += 1
                i += 1
            case ";":
                endWord()
                tokens.append(Lexed(token: .separator, line: line))
                i += 1
            case " ", "\t", "\r":
                endWord()
                i += 1
            case "#" where !inWord:
                while i < chars.count, chars[i] != "\n" { i += 1 }
            case "'":
                startWord()
                quoted = true
                let start = line
                i += 1
                while i < chars.count, chars[i] != "'" {
                    if chars[i] == "\n" { line += 1 }
                    current.unicodeScalars.append(chars[i])
                    i += 1
                }
                guard i < chars.count else { throw .unterminated(what: "'", line: start) }
                i += 1
            case "\"":
                startWord()
                quoted = true
                let start = line
                i += 1
                while i < chars.count, chars[i] != "\"" {
                    let d = chars[i]
                    if d == "\\", i + 1 < chars.count {
                        let e = chars[i + 1]
                        if e == "\n" { line += 1; i += 2; continue }
                        if e == "\\" || e == "\"" || e == "$" {
                            current.unicodeScalars.append(e)
                            i += 2
                            continue
                        }
                        current.unicodeScalars.append(d)
                        i += 1
                    } else if d == "$" {
                        try readVariable()
                    } else {
                        if d == "\n" { line += 1 }
                        current.unicodeScalars.append(d)
                        i += 1
                    }
                }
                guard i < chars.count else { throw .unterminated(what: "\"", line: start) }
                i += 1
            case "\\":
                if i + 1 < chars.count, chars[i + 1] == "\n" {
                    line += 1
                    i += 2
                } else if i + 1 < chars.count {
                    startWord()
                    quoted = true
                    current.unicodeScalars.append(chars[i + 1])
                    i += 2
                } else {
                    i += 1
                }
            case "$":
                startWord()
                try readVariable()
            default:
                startWord()
                current.unicodeScalars.append(c)
                i += 1
            }
        }
        endWord()
        tokens.append(Lexed(token: .separator, line: line))
        return tokens
    }
}
