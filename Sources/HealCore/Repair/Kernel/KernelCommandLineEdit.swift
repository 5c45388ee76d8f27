/// Text edits of the places a kernel command line is configured: a `linux` line of
/// grub.cfg and the `GRUB_CMDLINE_LINUX` assignment of `/etc/default/grub`. Pure: each takes
/// the file's text and returns the new text, unchanged when the edit is already there (so
/// a plan computed twice is the same plan).
public enum KernelCommandLineEdit {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case noSuchLine(source: String, line: Int)
        case notALinuxLine(source: String, line: Int, text: String)

        public var description: String {
            switch self {
            case .noSuchLine(let source, let line): "\(source) has no line \(line)"
            case .notALinuxLine(let source, let line, let text): "\(source) line \(line) is not a linux line: \(text)"
            }
        }
    }

    /// Adds `values` to the comma-separated parameter `name` of a command line
    /// (`module_blacklist=a,b`): merged into the first such word when there is one, else
    /// appended as a new word. Other words and their spacing are kept.
    public static func adding(_ values: [String], toParameter name: String, in commandLine: String) -> String {
        let words = commandLine.split(separator: " ", omittingEmptySubsequences: true)
        if let word = words.first(where: { $0.hasPrefix(name + "=") }) {
            let present = word.dropFirst(name.count + 1).split(separator: ",").map(String.init)
            let missing = values.filter { !present.contains($0) }
            guard !missing.isEmpty else { return commandLine }
            let merged = name + "=" + (present + missing).joined(separator: ",")
            guard let range = commandLine.firstRange(of: word) else { return commandLine }
            var edited = commandLine
            edited.replaceSubrange(range, with: merged)
            return edited
        }
        guard !values.isEmpty else { return commandLine }
        var trimmed = Substring(commandLine)
        while trimmed.last == " " || trimmed.last == "\t" { trimmed = trimmed.dropLast() }
        let separator = trimmed.isEmpty ? "" : " "
        return String(trimmed) + separator + name + "=" + values.joined(separator: ",")
    }

    /// Adds `values` to parameter `name` on the `linux` (or `linuxefi`, `linux16`) line
    /// `line` (1-based) of a grub.cfg.
    /// - Throws: `Error` when the line does not exist or is not a linux line.
    public static func adding(_ values: [String], toParameter name: String, grubConfig text: String,
                              linuxLine line: Int, source: String = "grub.cfg") throws(Error) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard line >= 1, line <= lines.count else { throw .noSuchLine(source: source, line: line) }
        let current = lines[line - 1]
        let command = current.split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? ""
        guard ["linux", "linuxefi", "linux16"].contains(command) else {
            throw .notALinuxLine(source: source, line: line, text: KernelEditText.trimmed(current))
        }
        lines[line - 1] = adding(values, toParameter: name, in: current)
        return lines.joined(separator: "\n")
    }

    /// Adds `values` to parameter `name` in the value of the last `variable=` assignment of
    /// an `/etc/default/grub` (`GRUB_CMDLINE_LINUX`), keeping its quoting; appends a new
    /// assignment when the variable is not assigned.
    public static func adding(_ values: [String], toParameter name: String, defaultGrub text: String,
                              variable: String = "GRUB_CMDLINE_LINUX") -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let index = lines.lastIndex(where: { KernelEditText.trimmed($0).hasPrefix(variable + "=") }) else {
            return ShellAssignment.appending(variable, value: adding(values, toParameter: name, in: ""), to: text)
        }
        let line = lines[index]
        guard let equals = line.firstIndex(of: "=") else { return text }
        let head = line[...equals]
        let rest = line[line.index(after: equals)...]
        if let quote = rest.first, quote == "\"" || quote == "'",
           let close = rest.dropFirst().firstIndex(of: quote) {
            let inner = String(rest[rest.index(after: rest.startIndex)..<close])
            lines[index] = head + String(quote) + adding(values, toParameter: name, in: inner) + rest[close...]
        } else {
            // An unquoted value is one word: quote the new value.
            let word = rest.prefix { $0 != " " && $0 != "\t" && $0 != "#" }
            let tail = rest.dropFirst(word.count)
            lines[index] = head + "\"" + adding(values, toParameter: name, in: String(word)) + "\"" + tail
        }
        return lines.joined(separator: "\n")
    }
}

/// Setting one `NAME=value` assignment of a shell fragment such as `/etc/default/grub`.
public enum ShellAssignment {
    /// Replaces the last assignment of `name` with `name="value"` (double-quoted, `"`, `$`,
    /// `` ` `` and `\` escaped), or appends one.
    public static func setting(_ name: String, to value: String, in text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let index = lines.lastIndex(where: { KernelEditText.trimmed($0).hasPrefix(name + "=") }) else {
            return appending(name, value: value, to: text)
        }
        let indent = lines[index].prefix { $0 == " " || $0 == "\t" }
        lines[index] = indent + name + "=" + quoted(value)
        return lines.joined(separator: "\n")
    }

    static func appending(_ name: String, value: String, to text: String) -> String {
        let separator = text.isEmpty || text.hasSuffix("\n") ? "" : "\n"
        return text + separator + name + "=" + quoted(value) + "\n"
    }

    /// `value` in double quotes, safe for sh.
    public static func quoted(_ value: String) -> String {
        var out = "\""
        for character in value {
            if "\"$`\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }
}

/// Blank trimming shared by the kernel repair edits.
enum KernelEditText {
    static func trimmed(_ text: some StringProtocol) -> String {
        var slice = Substring(text)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" { slice = slice.dropLast() }
        return String(slice)
    }
}
