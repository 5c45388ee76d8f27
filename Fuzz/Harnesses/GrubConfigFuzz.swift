@testable import HealCore

// Fuzzes the grub.cfg reader as `BootConfiguration.load` calls it on a root's
// `boot/grub/grub.cfg`: the text decoded as `FileReading.text` does, then
// `GrubConfig(parsing:)`; and its lexer, `GrubConfig.lex`, on its own.
//
// Properties:
// - the lexer ends (a hang is libFuzzer's -timeout) with a separator, its line numbers
//   never go back and stay within the text's lines;
// - its tokens cover the input: written back as GRUB script (every text part in single
//   quotes, variables as `${name}`, one token per line for separators), they lex to the
//   same tokens; and text without quotes, escapes, `$`, `#` or `;` lexes to exactly its
//   blank-separated words, `{` and `}` alone as block delimiters;
// - a parsed config names only lines of the text, and every assignment's name is a
//   GRUB variable name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGrubConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = fuzzText(fuzzInput(data, size))
    let lineCount = text.unicodeScalars.filter { $0 == "\n" }.count + 1

    if let tokens = try? GrubConfig.lex(text) {
        require(tokens.last?.token == .separator, "the tokens do not end with a separator")
        require(zip(tokens, tokens.dropFirst()).allSatisfy { $0.line <= $1.line }, "token lines go back")
        require(tokens.allSatisfy { (1...lineCount).contains($0.line) }, "a token's line is outside the text")

        let rendered = render(tokens.dropLast())
        guard let relexed = try? GrubConfig.lex(rendered) else {
            require(false, "the tokens written back do not lex: \(rendered.debugDescription)")
            return 0
        }
        require(relexed.count == tokens.count, "the tokens written back lex to \(relexed.count), not \(tokens.count)")
        for (original, again) in zip(tokens, relexed) {
            switch (original.token, again.token) {
            case (.word(let word), .word(let reread)):
                require(word.parts == reread.parts, "word \(word) came back as \(reread)")
                require(!word.quoted || reread.quoted, "quoted word \(word) came back unquoted")
            default:
                require(original.token == again.token, "token \(original.token) came back as \(again.token)")
            }
        }

        if !text.unicodeScalars.contains(where: { "'\"\\$#;".unicodeScalars.contains($0) }) {
            require(tokens.map(\.token) == plainTokens(text), "plain text did not lex to its words")
        }
    }

    if let config = try? GrubConfig(parsing: text) {
        for (_, entry) in config.flattenedEntries {
            require((1...lineCount).contains(entry.line), "menu entry line \(entry.line) is outside the text")
            if let linuxLine = entry.linuxLine {
                require(linuxLine >= entry.line && linuxLine <= lineCount, "linux line \(linuxLine) is outside its entry")
            }
        }
        for assignment in config.assignments {
            require(!assignment.name.isEmpty && assignment.name.unicodeScalars.allSatisfy {
                $0 == "_" || ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9")
            }, "assignment to \(assignment.name.debugDescription)")
            require((1...lineCount).contains(assignment.line), "assignment line \(assignment.line) is outside the text")
        }
    }
    return 0
}

/// GRUB script that lexes to `tokens`: separators as newlines, text parts single-quoted
/// (a quote inside as `'\''`), variables as `${name}`.
private func render(_ tokens: ArraySlice<GrubConfig.Lexed>) -> String {
    var out = ""
    for lexed in tokens {
        switch lexed.token {
        case .separator: out += "\n"
        case .open: out += "{ "
        case .close: out += "} "
        case .word(let word):
            // `''` keeps a quoted word quoted when it has no text to quote ("${x}", "").
            if word.quoted && !word.parts.contains(where: { if case .text = $0 { true } else { false } }) {
                out += "''"
            }
            for part in word.parts {
                switch part {
                case .text(let text):
                    // Scalar by scalar, as the lexer reads: a quote followed by a combining
                    // mark is one Character, which a Character-wise replace would miss.
                    out += "'"
                    for scalar in text.unicodeScalars {
                        if scalar == "'" { out += "'\\''" } else { out.unicodeScalars.append(scalar) }
                    }
                    out += "'"
                case .variable(let name): out += "${" + name + "}"
                }
            }
            out += " "
        }
    }
    return out
}

/// The tokens of text with no quoting, escapes, variables or comments: its words split at
/// blanks, a separator at each newline and at the end.
private func plainTokens(_ text: String) -> [GrubConfig.Token] {
    var tokens: [GrubConfig.Token] = []
    for line in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
        for word in line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
            var literal = ""
            literal.unicodeScalars.append(contentsOf: word)
            switch literal {
            case "{": tokens.append(.open)
            case "}": tokens.append(.close)
            default: tokens.append(.word(GrubConfig.Word([.text(literal)])))
            }
        }
        tokens.append(.separator)
    }
    return tokens
}
