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
}
