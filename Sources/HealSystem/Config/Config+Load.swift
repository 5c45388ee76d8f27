import CInih
import HealCore

extension Config {
    /// Loads `/etc/clarity-heal/clarity-heal.conf` of `root`; a missing file gives the
    /// defaults.
    ///
    /// Parsed by inih (`ini_parse_string`), whose handler receives every setting; the first
    /// refused setting (or inih's own syntax error) is reported with its line, which
    /// `ini_parse_string` returns.
    /// - Throws: `Config.Error` naming the file and line.
    public static func load(root: SystemRoot) throws(Config.Error) -> Config {
        try load(path: root.host(Config.path), displayPath: Config.path)
    }

    /// Loads a config file at a host path.
    /// - Parameter displayPath: the path errors name (the path on the root).
    public static func load(path: String, displayPath: String? = nil) throws(Config.Error) -> Config {
        let shown = displayPath ?? path
        let text: String
        do {
            text = try FileReading.text(atPath: path, limit: 1 << 20)
        } catch {
            if case .missing = error { return Config() }
            throw .unreadable(source: shown, reason: error.description)
        }
        return try parse(text, source: shown)
    }

    /// Parses the text of a config file with inih.
    public static func parse(_ text: String, source: String) throws(Config.Error) -> Config {
        let parsing = Parsing()
        let line = withExtendedLifetime(parsing) {
            text.withCString { cText in
                ini_parse_string(cText, { user, section, name, value in
                    guard let user, let section, let name, let value else { return 0 }
                    let parsing = Unmanaged<Parsing>.fromOpaque(user).takeUnretainedValue()
                    return parsing.take(section: String(cString: section), key: String(cString: name),
                                        value: String(cString: value)) ? 1 : 0
                }, Unmanaged.passUnretained(parsing).toOpaque())
            }
        }
        // ini_parse_string returns 0, or the line of the first error: a handler that
        // returned 0 or a line inih could not parse.
        guard line == 0 else {
            // inih names one line for both kinds of error; a line that has the shape of a
            // setting (inih splits on "=" or ":") was the handler's refusal.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let failed = Int(line) <= lines.count ? lines[Int(line) - 1].drop { $0 == " " || $0 == "\t" } : ""
            let isSetting = !failed.hasPrefix("[") && failed.contains { $0 == "=" || $0 == ":" }
            if isSetting, let refused = parsing.firstRefusal { throw .setting(source: source, line: Int(line), refused) }
            throw .syntax(source: source, line: Int(line))
        }
        return parsing.config
    }

    /// What the C callback fills in; passed to inih as its `user` pointer.
    private final class Parsing {
        var config = Config()
        var firstRefusal: SettingError?

        func take(section: String, key: String, value: String) -> Bool {
            do {
                try config.set(section: section, key: key, value: value)
                return true
            } catch {
                if firstRefusal == nil { firstRefusal = error }
                return false
            }
        }
    }
}
