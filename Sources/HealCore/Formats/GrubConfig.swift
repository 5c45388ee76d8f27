/// The parts of a `grub.cfg` that decide what boots: the menu (entries and submenus, with
/// their kernel and initrd lines) and the assignments made outside entries
/// (`set default=…`, `set timeout=…`), each with the `if` branches it sits in.
///
/// It reads GRUB script as grub-mkconfig writes it (util/grub.d/00_header.in, 10_linux.in)
/// and as people edit it; it does not run it. Statements inside `function` bodies are
/// skipped, since they only act when called.
public struct GrubConfig: Sendable, Hashable {
    /// A `menuentry` block.
    public struct MenuEntry: Sendable, Hashable {
        public var title: String
        /// `--id ID` or `$menuentry_id_option 'ID'`.
        public var id: String?
        /// The arguments of the first `linux`/`linuxefi`/`linux16`/`kernel` line: the kernel
        /// path, then the command line.
        public var linux: [Word]
        /// The arguments of the first `initrd`/`initrdefi`/`initrd16` line (several images
        /// are allowed, microcode first).
        public var initrds: [Word]
        /// Line of the `menuentry` keyword.
        public var line: Int
        /// Line of the `linux` command, when there is one.
        public var linuxLine: Int?

        public init(title: String, id: String?, linux: [Word], initrds: [Word], line: Int, linuxLine: Int?) {
            self.title = title
            self.id = id
            self.linux = linux
            self.initrds = initrds
            self.line = line
            self.linuxLine = linuxLine
        }
    }

    /// A menu item: an entry or a submenu of items.
    public indirect enum MenuItem: Sendable, Hashable {
        case entry(MenuEntry)
        case submenu(title: String, id: String?, items: [MenuItem], line: Int)

        public var title: String {
            switch self {
            case .entry(let entry): entry.title
            case .submenu(let title, _, _, _): title
            }
        }

        public var id: String? {
            switch self {
            case .entry(let entry): entry.id
            case .submenu(_, let id, _, _): id
            }
        }
    }

    /// One branch of an `if`: the test's words, and whether the statement sits where the
    /// test is false (`else`, or an earlier test of an `elif` chain).
    public struct Condition: Sendable, Hashable, CustomStringConvertible {
        public var test: [Word]
        public var negated: Bool

        public var description: String {
            (negated ? "not " : "") + test.map(\.description).joined(separator: " ")
        }

        /// Whether the test reads `variable`.
        public func mentions(_ variable: String) -> Bool {
            test.contains { $0.parts.contains(.variable(variable)) }
        }
    }

    /// `set NAME=VALUE` or `NAME=VALUE` outside menu entries and functions.
    public struct Assignment: Sendable, Hashable {
        public var name: String
        public var value: Word
        public var line: Int
        /// The enclosing `if` branches, outermost first; empty when unconditional.
        public var conditions: [Condition]
    }

    public var menu: [MenuItem]
    public var assignments: [Assignment]
    /// Whether the config calls `blscfg` (Fedora/RHEL): GRUB then adds one entry per BLS
    /// file in /boot/loader/entries.
    public var usesLoaderEntries: Bool

    public init(menu: [MenuItem], assignments: [Assignment], usesLoaderEntries: Bool) {
        self.menu = menu
        self.assignments = assignments
        self.usesLoaderEntries = usesLoaderEntries
    }

    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        case unterminated(what: String, line: Int)
        case unexpected(token: String, line: Int)
        case unclosed(block: String, line: Int)
        /// Blocks and `elif` branches nested deeper than `GrubConfig.maximumDepth`.
        case tooDeep(line: Int)
        case binary

        public var description: String {
            switch self {
            case .unterminated(let what, let line):
                "cannot parse grub.cfg line \(line): \(what) is never closed"
            case .unexpected(let token, let line):
                "cannot parse grub.cfg line \(line): unexpected \(token)"
            case .unclosed(let block, let line):
                "cannot parse grub.cfg line \(line): \(block) has no matching end"
            case .tooDeep(let line):
                "cannot parse grub.cfg line \(line): blocks nested more than \(GrubConfig.maximumDepth) deep"
            case .binary:
                "cannot parse grub.cfg: it contains NUL bytes, not text"
            }
        }
    }

    /// The entries in menu order with the path to each: indices through submenus.
    public var flattenedEntries: [(path: [Int], entry: MenuEntry)] {
        func walk(_ items: [MenuItem], _ prefix: [Int]) -> [(path: [Int], entry: MenuEntry)] {
            var result: [(path: [Int], entry: MenuEntry)] = []
            for (index, item) in items.enumerated() {
                switch item {
                case .entry(let entry): result.append((prefix + [index], entry))
                case .submenu(_, _, let children, _): result += walk(children, prefix + [index])
                }
            }
            return result
        }
        return walk(menu, [])
    }
}

// MARK: - Parsing

extension GrubConfig {
    /// The deepest nesting of blocks and `elif` branches read. A generated grub.cfg nests
    /// two or three; GRUB's own parser (bison, `YYMAXDEPTH` 10000) gives up at 1666 nested
    /// `if`s, 1665 `elif`s or 1999 nested `submenu`s ("memory exhausted" from
    /// `grub-script-check`). The bound keeps this recursive parser within an 8 MB stack on
    /// hostile input, in a debug build too.
    public static let maximumDepth = 1000

    /// Parses grub.cfg text.
    /// - Throws: `GrubConfig.Error` for text GRUB could not parse either (an unclosed
    ///   quote or block, a stray `}` or `fi`) and for binary data.
    public init(parsing text: String) throws(GrubConfig.Error) {
        guard !text.unicodeScalars.contains("\0") else { throw .binary }
        var parser = Parser(tokens: try Self.lex(text))
        try parser.parseBlock(until: [])
        menu = parser.menuStack.first ?? []
        assignments = parser.assignments
        usesLoaderEntries = parser.usesLoaderEntries
    }

    private struct Parser {
        var tokens: [Lexed]
        var position = 0
        var assignments: [Assignment] = []
        var usesLoaderEntries = false
        /// Items of the menu being filled, innermost last.
        var menuStack: [[MenuItem]] = [[]]
        var conditions: [Condition] = []
        /// Inside a function body: statements there do not run when the file is read.
        var functionDepth = 0
        /// The entry being read, when inside a `menuentry` block.
        var entry: MenuEntry?
        /// Open `{` blocks: a `}` at depth 0 is a stray one.
        var braceDepth = 0
        /// Blocks and `elif` branches around the statement being read.
        var depth = 0

        init(tokens: [Lexed]) { self.tokens = tokens }

        var atEnd: Bool { position >= tokens.count }

        /// Reads the next command's words up to a separator, `{` or `}` (not consumed).
        mutating func readCommand() -> (words: [Word], line: Int) {
            var words: [Word] = []
            let line = tokens[position].line
            while position < tokens.count, case .word(let word) = tokens[position].token {
                words.append(word)
                position += 1
            }
            return (words, line)
        }

        mutating func skipSeparators() {
            while position < tokens.count, tokens[position].token == .separator { position += 1 }
        }

        /// Parses statements until one whose first word is in `terminators` (returned, not
        /// consumed), a `}` (not consumed), or the end.
        @discardableResult
        mutating func parseBlock(until terminators: Set<String>) throws(GrubConfig.Error) -> String? {
            depth += 1
            defer { depth -= 1 }
            guard depth <= GrubConfig.maximumDepth else {
                throw .tooDeep(line: position < tokens.count ? tokens[position].line : tokens.last?.line ?? 1)
            }
            while true {
                skipSeparators()
                guard !atEnd else { return nil }
                let lexed = tokens[position]
                switch lexed.token {
                case .close:
                    if braceDepth == 0 {
                        throw .unexpected(token: "}", line: lexed.line)
                    }
                    return nil
                case .open:
                    // A bare `{ … }` group.
                    position += 1
                    braceDepth += 1
                    try parseBlock(until: [])
                    try expectClose(block: "{", line: lexed.line)
                    continue
                case .separator:
                    continue
                case .word(let first):
                    if let keyword = first.literal, !first.quoted, terminators.contains(keyword) {
                        return keyword
                    }
                    try parseStatement()
                }
            }
        }

        mutating func expectClose(block: String, line: Int) throws(GrubConfig.Error) {
            guard position < tokens.count, tokens[position].token == .close else {
                throw .unclosed(block: block, line: line)
            }
            position += 1
            braceDepth -= 1
        }

        mutating func expectOpen(block: String, line: Int) throws(GrubConfig.Error) {
            guard position < tokens.count, tokens[position].token == .open else {
                throw .unexpected(token: "\(block) without {", line: line)
            }
            position += 1
            braceDepth += 1
        }

        /// Drops a leading `then`/`do`/`else` written on the same line as a command.
        mutating func dropLeading(_ keyword: String) {
            if position < tokens.count, case .word(let word) = tokens[position].token, word.isKeyword(keyword) {
                position += 1
            }
        }

        mutating func parseStatement() throws(GrubConfig.Error) {
            let (words, line) = readCommand()
            guard let head = words.first else { return }
            let keyword = head.quoted ? nil : head.literal
            switch keyword {
            case "if":
                try parseIf(test: Array(words.dropFirst()), line: line)
            case "while", "until", "for":
                skipSeparators()
                dropLeading("do")
                if try parseBlock(until: ["done"]) == nil { throw .unclosed(block: keyword ?? "", line: line) }
                position += 1
            case "function":
                try expectOpen(block: "function", line: line)
                functionDepth += 1
                try parseBlock(until: [])
                functionDepth -= 1
                try expectClose(block: "function", line: line)
            case "menuentry", "submenu":
                try parseMenu(kind: keyword ?? "", words: Array(words.dropFirst()), line: line)
            case "then", "else", "elif", "fi", "do", "done":
                throw .unexpected(token: "\"\(keyword ?? "")\"", line: line)
            default:
                record(words, line: line)
            }
        }

        mutating func parseIf(test: [Word], line: Int) throws(GrubConfig.Error) {
            // Each `elif` counts one level deeper: GRUB's grammar nests it, and each branch
            // carries the negations of those before it, so a long chain costs quadratic time.
            let outerDepth = depth
            defer { depth = outerDepth }
            var test = test
            var earlier: [Condition] = []
            while true {
                skipSeparators()
                dropLeading("then")
                let saved = conditions
                conditions = saved + earlier + [Condition(test: test, negated: false)]
                let ended = try parseBlock(until: ["elif", "else", "fi"])
                conditions = saved
                earlier.append(Condition(test: test, negated: true))
                switch ended {
                case "elif":
                    position += 1
                    depth += 1
                    test = readCommand().words
                case "else":
                    position += 1
                    conditions = saved + earlier
                    let last = try parseBlock(until: ["fi"])
                    conditions = saved
                    guard last == "fi" else { throw .unclosed(block: "if", line: line) }
                    position += 1
                    return
                case "fi":
                    position += 1
                    return
                default:
                    throw .unclosed(block: "if", line: line)
                }
            }
        }

        mutating func parseMenu(kind: String, words: [Word], line: Int) throws(GrubConfig.Error) {
            try expectOpen(block: kind, line: line)
            let (title, id) = Self.titleAndID(words)
            if kind == "submenu" {
                menuStack.append([])
                let outer = entry
                entry = nil
                try parseBlock(until: [])
                entry = outer
                try expectClose(block: "submenu", line: line)
                let items = menuStack.removeLast()
                appendItem(.submenu(title: title, id: id, items: items, line: line))
            } else {
                let outer = entry
                entry = MenuEntry(title: title, id: id, linux: [], initrds: [], line: line, linuxLine: nil)
                try parseBlock(until: [])
                try expectClose(block: "menuentry", line: line)
                if let finished = entry { appendItem(.entry(finished)) }
                entry = outer
            }
        }

        mutating func appendItem(_ item: MenuItem) {
            // Entries defined inside functions or entries are not part of the menu read now.
            guard functionDepth == 0 else { return }
            menuStack[menuStack.count - 1].append(item)
        }

        /// The title (first argument that is not an option) and `--id`.
        static func titleAndID(_ words: [Word]) -> (String, String?) {
            // Options of grub-core/commands/menuentry.c that take an argument.
            let withArgument: Set<String> = ["--class", "--users", "--hotkey", "--id", "--source"]
            var title: String?
            var id: String?
            var index = 0
            while index < words.count {
                let word = words[index]
                let text = word.parts == [.variable("menuentry_id_option")] ? "--id" : word.literal
                if let text, text.hasPrefix("--"), !word.quoted || word.parts == [.variable("menuentry_id_option")] {
                    if let eq = text.firstIndex(of: "=") {
                        if text[..<eq] == "--id" { id = String(text[text.index(after: eq)...]) }
                    } else if withArgument.contains(text), index + 1 < words.count {
                        if text == "--id" { id = words[index + 1].description }
                        index += 1
                    }
                } else if title == nil {
                    title = word.description
                }
                index += 1
            }
            return (title ?? "", id)
        }

        mutating func record(_ words: [Word], line: Int) {
            guard let head = words.first else { return }
            if let entry, functionDepth == 0 {
                guard let command = head.literal, !head.quoted else { return }
                var updated = entry
                if ["linux", "linuxefi", "linux16", "kernel"].contains(command), updated.linuxLine == nil {
                    updated.linux = Array(words.dropFirst())
                    updated.linuxLine = line
                } else if ["initrd", "initrdefi", "initrd16"].contains(command), updated.initrds.isEmpty {
                    updated.initrds = Array(words.dropFirst())
                }
                self.entry = updated
                return
            }
            guard functionDepth == 0 else { return }
            if head.isKeyword("blscfg") {
                usesLoaderEntries = true
                return
            }
            // `set NAME=VALUE…` or `NAME=VALUE`: the name is the literal text before the
            // first '='.
            let candidates = head.isKeyword("set") ? Array(words.dropFirst()) : [head]
            for word in candidates {
                guard case .text(let first)? = word.parts.first, let eq = first.firstIndex(of: "="),
                      eq != first.startIndex else { continue }
                let name = String(first[..<eq])
                guard name.unicodeScalars.allSatisfy({
                    $0 == "_" || ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9")
                }) else { continue }
                var parts = word.parts
                let rest = String(first[first.index(after: eq)...])
                parts[0] = .text(rest)
                if rest.isEmpty { parts.removeFirst() }
                assignments.append(Assignment(name: name, value: Word(parts, quoted: word.quoted),
                                              line: line, conditions: conditions))
            }
        }
    }
}
