import CInih
import HealCore

// The text parsing alone, apart from the file reading in Config+Load.swift, so the fuzz
// harness (Fuzz/Harnesses/ConfigFuzz.swift) compiles it with HealCore and inih only.
extension Config {
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
