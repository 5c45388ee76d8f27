import CInih
import HealCore

// The text parsing alone, apart from the file reading in Config+Load.swift, so the fuzz
// harness (Fuzz/Harnesses/ConfigFuzz.swift) compiles it with HealCore and inih only.
extension Config {
    /// Warnings reported per file; the rest are counted in one last warning, so a hostile
    /// megabyte of bad lines cannot flood a boot console.
    public static let warningLimit = 20

    /// Parses the text of a config file with inih.
    public static func parse(_ text: String, source: String) -> Config.Loaded {
        parse(Array(text.utf8), source: source)
    }

    /// Parses the bytes of a config file with inih, line by line.
    ///
    /// inih's handler is not told the line (libinih is built without
    /// `INI_HANDLER_LINENO`), so the file is fed through `ini_parse_stream` one line per
    /// reader call: inih reads a line, then hands its setting over before it reads the next,
    /// so the number of lines read so far is the setting's line. The reader also keeps
    /// what inih cannot take out of its way: a line longer than its buffer (which it would
    /// split into two lines) and a NUL byte (which would end its C string early and hide
    /// the rest of the line).
    public static func parse(_ bytes: [UInt8], source: String) -> Config.Loaded {
        let parsing = Parsing(bytes: bytes, source: source)
        let firstError = withExtendedLifetime(parsing) {
            let user = Unmanaged.passUnretained(parsing).toOpaque()
            return ini_parse_stream({ buffer, size, stream in
                guard let buffer, let stream else { return nil }
                return Unmanaged<Parsing>.fromOpaque(stream).takeUnretainedValue().nextLine(into: buffer, size: Int(size))
            }, user, { user, section, name, value in
                guard let user, let section, let name, let value else { return 1 }
                Unmanaged<Parsing>.fromOpaque(user).takeUnretainedValue()
                    .take(section: String(cString: section), key: String(cString: name), value: String(cString: value))
                // Always accepted: a refused setting is a warning, and inih goes on either way.
                return 1
            }, user)
        }
        return parsing.finish(firstError: Int(firstError))
    }

    /// What the C callbacks share; passed to inih as both its stream and its user pointer.
    private final class Parsing {
        let source: String
        let lines: [ArraySlice<UInt8>]
        /// Lines handed to inih so far: the number of the line it is working on.
        var read = 0
        var loaded = Loaded()
        /// Warnings found, kept or not.
        var found = 0
        var settingWarnings: [Warning] = []
        /// Lines inih turned into a setting (or a continuation of one).
        var settingLines: Set<Int> = []
        var nulLines: Set<Int> = []
        var tooLong: [Int: Int] = [:]
        /// The line of the last `[Section]` header read, for warnings about its section.
        var headerLine: Int?
        var warnedHeaders: Set<Int> = []

        init(bytes: [UInt8], source: String) {
            self.source = source
            var lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false)
            if lines.last?.isEmpty == true { lines.removeLast() }
            self.lines = lines
        }

        /// The reader: copies the next line, with its newline, into inih's buffer.
        func nextLine(into buffer: UnsafeMutablePointer<CChar>, size: Int) -> UnsafeMutablePointer<CChar>? {
            guard read < lines.count, size >= 3 else { return nil }
            var line = lines[read]
            read += 1
            if let nul = line.firstIndex(of: 0) {
                nulLines.insert(read)
                line = line[..<nul]
            }
            if Self.isHeader(line, first: read == 1) { headerLine = read }
            // Room for the newline and the terminating NUL.
            if line.count > size - 2 {
                if !Self.isComment(line) { tooLong[read] = size - 2 }
                line = []
            }
            var length = 0
            for byte in line {
                buffer[length] = CChar(bitPattern: byte)
                length += 1
            }
            buffer[length] = 0x0a
            buffer[length + 1] = 0
            return buffer
        }

        /// The handler: applies one setting; a refused one becomes a warning and its key
        /// keeps the default.
        func take(section: String, key: String, value: String) {
            let line = read
            settingLines.insert(line)
            do throws(Config.SettingError) {
                // The NUL and what followed it never reached inih: refuse the value whole.
                if nulLines.contains(line) { throw .controlCharacter(key: key) }
                try loaded.config.set(section: section, key: key, value: value)
            } catch {
                switch error {
                case .unknownSection(let name) where !name.isEmpty:
                    // Once per header, at the header's line.
                    let at = headerLine ?? line
                    guard warnedHeaders.insert(at).inserted else { return }
                    keep(Warning(source: source, line: at, problem: .setting(error)), in: &settingWarnings)
                case .badValue, .controlCharacter:
                    let fallback = loaded.config.resetToDefault(section: section, key: key)
                    keep(Warning(source: source, line: line, problem: .setting(error), fallback: fallback), in: &settingWarnings)
                case .unknownKey, .unknownSection:
                    keep(Warning(source: source, line: line, problem: .setting(error)), in: &settingWarnings)
                }
            }
        }

        /// The settings and the first warnings by line, lines that were not settings included.
        func finish(firstError: Int) -> Loaded {
            var lineWarnings: [Warning] = []
            for (index, text) in lines.enumerated() where !settingLines.contains(index + 1) {
                let number = index + 1
                if let limit = tooLong[number] {
                    keep(Warning(source: source, line: number, problem: .lineTooLong(limit: limit)), in: &lineWarnings)
                } else if nulLines.contains(number) {
                    keep(Warning(source: source, line: number, problem: .controlCharacter), in: &lineWarnings)
                } else if !Self.isBlankOrComment(text, first: number == 1) && !Self.isHeader(text, first: number == 1) {
                    keep(Warning(source: source, line: number, problem: .syntax), in: &lineWarnings)
                }
            }
            // inih's own first error, when the checks above read that line differently.
            if firstError > 0 && !(settingWarnings + lineWarnings).contains(where: { $0.line == firstError }) {
                keep(Warning(source: source, line: firstError, problem: .syntax), in: &lineWarnings)
            }
            // Both lists are in line order: the first `warningLimit` of the two together.
            let all = (settingWarnings + lineWarnings).sorted { ($0.line ?? 0) < ($1.line ?? 0) }
            loaded.warnings = Array(all.prefix(Config.warningLimit))
            let more = found - loaded.warnings.count
            if more > 0 { loaded.warnings.append(Warning(source: source, line: nil, problem: .more(more))) }
            return loaded
        }

        /// Keeps a warning while `list` is short of the limit; counts every one.
        private func keep(_ warning: Warning, in list: inout [Warning]) {
            found += 1
            if list.count < Config.warningLimit { list.append(warning) }
        }

        /// Leading blanks (and, on the first line, a UTF-8 byte order mark) removed, as
        /// inih removes them.
        private static func trimmed(_ line: ArraySlice<UInt8>, first: Bool) -> ArraySlice<UInt8> {
            var rest = line
            if first && rest.starts(with: [0xef, 0xbb, 0xbf]) { rest = rest.dropFirst(3) }
            return rest.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d || $0 == 0x0b || $0 == 0x0c }
        }

        private static func isComment(_ line: ArraySlice<UInt8>) -> Bool {
            guard let first = trimmed(line, first: false).first else { return false }
            return first == UInt8(ascii: "#") || first == UInt8(ascii: ";")
        }

        private static func isBlankOrComment(_ line: ArraySlice<UInt8>, first: Bool) -> Bool {
            let rest = trimmed(line, first: first)
            return rest.isEmpty || rest.first == UInt8(ascii: "#") || rest.first == UInt8(ascii: ";")
        }

        private static func isHeader(_ line: ArraySlice<UInt8>, first: Bool) -> Bool {
            let rest = trimmed(line, first: first)
            return rest.first == UInt8(ascii: "[") && rest.contains(UInt8(ascii: "]"))
        }
    }
}
