/// clarity-heal's settings, as `/etc/clarity-heal/clarity-heal.conf` gives them.
///
/// The file is INI in systemd's style (journald.conf): `[Section]` headers, `Key=Value`
/// lines, `#` or `;` comments. HealSystem reads it with inih and hands each setting to
/// `set(section:key:value:)`; this type only knows what the keys mean. A setting that
/// cannot be used (unknown section or key, bad value) is a `Warning` naming the file and
/// line, and its key keeps the default: a typo never switches detection off.
///
/// ```
///   [Thresholds]
///   KernelPanics=1          pstore Panic/Oops records that make kernel-panic
///   FailedUnits=3           units failed on the previous boot that make unit-failures
///   BootFailures=1          failed boot attempts that make boot-failures
///   ResourceExhaustion=95%  blocks or inodes in use that make *-exhausted
///
///   [Reboot]                (RebootPolicy)
///   Policy=prompt           automatic | window | prompt
///   NoticeMinutes=5         warning before a scheduled reboot
///   Window=Sun 02:00-04:00  maintenance window for Policy=window
///   Urgency=critical:1 high:3 moderate:7
///                           days a fix may wait for the window, per severity
///   MaxAttempts=3           fixes tried for one failure before a person is called
///   EmergencySeconds=60     Policy=automatic: emergency mode reboots into recovery after
///
///   [MicroVM]               (MicroVMSettings)
///   Accelerator=auto  MemoryMiB=1024  CPUs=2  StabilitySeconds=10  BootTimeout=600
///
///   [Fleet]                 (FleetSettings)
///   Server=  MinConfidence=0.7  MaxAgeDays=30
/// ```
public struct Config: Sendable, Equatable {
    /// The path of the file on a root.
    public static let path = "/etc/clarity-heal/clarity-heal.conf"

    public var thresholds = Thresholds()
    public var reboot = RebootPolicy()
    public var microVM = MicroVMSettings()
    public var fleet = FleetSettings()

    public init() {}

    /// Why one setting was refused; `Config.Warning` adds the file and line.
    public enum SettingError: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// A section this version does not know (or a setting before any section, "").
        case unknownSection(String)
        case unknownKey(section: String, key: String)
        case badValue(key: String, value: String, expected: String)
        /// The value holds a NUL or another control character: never a valid value, and
        /// not something to echo to a terminal.
        case controlCharacter(key: String)

        public var description: String {
            switch self {
            case .unknownSection(let section):
                section.isEmpty ? "a setting outside any section" : "unknown section [\(Config.printable(section))]"
            case .unknownKey(let section, let key):
                "unknown key \(Config.printable(key)) in [\(Config.printable(section))]"
            case .badValue(let key, let value, let expected):
                "\(Config.printable(key))=\(Config.printable(value)): expected \(expected)"
            case .controlCharacter(let key): "\(Config.printable(key)): the value holds a control character"
            }
        }
    }

    /// Something in the file that was not used, and what is used instead. A config file
    /// never stops a command: detection on the boot path must run whatever the file says.
    public struct Warning: Sendable, Equatable, CustomStringConvertible, Encodable {
        public enum Problem: Sendable, Equatable {
            /// A setting refused by `set(section:key:value:)`.
            case setting(SettingError)
            /// A line that is neither a section, a setting nor a comment.
            case syntax
            /// A line longer than the parser's line buffer.
            case lineTooLong(limit: Int)
            /// A line with a NUL byte that is not a setting.
            case controlCharacter
            /// The file exists but cannot be read: every default is used.
            case unreadable(reason: String)
            /// Problems beyond the number reported.
            case more(Int)
        }

        /// The file, as the root names it.
        public var source: String
        /// 1-based; nil for problems of the whole file.
        public var line: Int?
        public var problem: Problem
        /// The default used instead of a refused value, as the file would write it.
        public var fallback: String?

        public init(source: String, line: Int?, problem: Problem, fallback: String? = nil) {
            self.source = source
            self.line = line
            self.problem = problem
            self.fallback = fallback
        }

        public var description: String {
            let place = line.map { "\(source) line \($0)" } ?? source
            switch problem {
            case .setting(let error):
                switch error {
                case .badValue(let key, _, _), .controlCharacter(let key):
                    return "\(place): \(error); using the default \(Config.printable(key))=\(fallback ?? "")"
                case .unknownKey:
                    return "\(place): \(error); ignored"
                case .unknownSection(let section):
                    return "\(place): \(error); \(section.isEmpty ? "ignored" : "its settings are ignored")"
                }
            case .syntax: return "\(place): expected [Section], Key=Value or a comment; the line is ignored"
            case .lineTooLong(let limit): return "\(place): longer than \(limit) bytes; the line is ignored"
            case .controlCharacter: return "\(place): holds a NUL byte; the line is ignored"
            case .unreadable(let reason): return "cannot read \(source): \(reason); using the defaults"
            case .more(let count): return "\(source): \(count) more problems not shown"
            }
        }

        private enum CodingKeys: String, CodingKey { case file, line, message }

        /// `{"file": …, "line": …, "message": …}`, the message being the description.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(source, forKey: .file)
            try container.encodeIfPresent(line, forKey: .line)
            try container.encode(description, forKey: .message)
        }
    }

    /// A loaded file: the settings in effect, and what in the file was not used.
    public struct Loaded: Sendable, Equatable {
        public var config: Config
        public var warnings: [Warning]

        public init(config: Config = Config(), warnings: [Warning] = []) {
            self.config = config
            self.warnings = warnings
        }
    }

    /// The sections this version knows. Settings of any other section are reported and
    /// left alone, so a file written for a newer version (with `[Cluster]`, say) still loads.
    public static let knownSections: Set<String> = ["Thresholds", "Reboot", "MicroVM", "Fleet"]

    /// Applies one `Key=Value` of `[section]`; later settings of the same key win, as in
    /// systemd's configuration files.
    /// - Throws: `SettingError` for an unknown section or key, a bad value, or a value with
    ///   a control character; the setting is then left as it was.
    public mutating func set(section: String, key: String, value: String) throws(SettingError) {
        guard Self.knownSections.contains(section) else { throw .unknownSection(section) }
        guard !value.unicodeScalars.contains(where: Self.isControl) else {
            guard Self.text(section: section, key: key, of: self) != nil else {
                throw .unknownKey(section: section, key: key)
            }
            throw .controlCharacter(key: key)
        }
        if section == "Reboot" {
            try reboot.set(key: key, value: value)
            return
        }
        if section == "MicroVM" {
            try microVM.set(key: key, value: value)
            return
        }
        if section == "Fleet" {
            try fleet.set(key: key, value: value)
            return
        }
        switch key {
        case "KernelPanics": thresholds.kernelPanics = try Self.count(key, value)
        case "FailedUnits": thresholds.failedUnits = try Self.count(key, value)
        case "BootFailures": thresholds.bootFailures = try Self.count(key, value)
        case "ResourceExhaustion": thresholds.resourceExhaustionPercent = try Self.percent(key, value)
        default: throw .unknownKey(section: section, key: key)
        }
    }

    /// Puts one key back to its default; returns the default as the file would write it,
    /// nil for a key this version does not know.
    @discardableResult
    public mutating func resetToDefault(section: String, key: String) -> String? {
        let defaults = Config()
        switch (section, key) {
        case ("Thresholds", "KernelPanics"): thresholds.kernelPanics = defaults.thresholds.kernelPanics
        case ("Thresholds", "FailedUnits"): thresholds.failedUnits = defaults.thresholds.failedUnits
        case ("Thresholds", "BootFailures"): thresholds.bootFailures = defaults.thresholds.bootFailures
        case ("Thresholds", "ResourceExhaustion"):
            thresholds.resourceExhaustionPercent = defaults.thresholds.resourceExhaustionPercent
        case ("Reboot", _):
            guard reboot.resetToDefault(key: key) else { return nil }
        case ("MicroVM", _):
            guard microVM.resetToDefault(key: key) else { return nil }
        case ("Fleet", _):
            guard fleet.resetToDefault(key: key) else { return nil }
        default:
            return nil
        }
        return Self.text(section: section, key: key, of: defaults)
    }

    /// The value of a key in `config` as the file writes it; nil for an unknown key.
    public static func text(section: String, key: String, of config: Config) -> String? {
        switch (section, key) {
        case ("Thresholds", "KernelPanics"): "\(config.thresholds.kernelPanics)"
        case ("Thresholds", "FailedUnits"): "\(config.thresholds.failedUnits)"
        case ("Thresholds", "BootFailures"): "\(config.thresholds.bootFailures)"
        case ("Thresholds", "ResourceExhaustion"):
            config.thresholds.resourceExhaustionPercent == config.thresholds.resourceExhaustionPercent.rounded()
                ? "\(Int(config.thresholds.resourceExhaustionPercent))%" : "\(config.thresholds.resourceExhaustionPercent)%"
        case ("Reboot", _): config.reboot.text(key: key)
        case ("MicroVM", _): config.microVM.text(key: key)
        case ("Fleet", _): config.fleet.text(key: key)
        default: nil
        }
    }

    /// C0 controls (tab aside, which separates words in values), DEL and C1 controls.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t") || (0x7f...0x9f).contains(scalar.value)
    }

    /// `text` with every control character written as `\u{…}`, so a hostile file cannot
    /// send escape sequences to the terminal that shows a warning.
    public static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar != "\t" && isControl(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A count of at least 1: a threshold of 0 would report on every healthy system.
    private static func count(_ key: String, _ value: String) throws(SettingError) -> Int {
        guard let number = Int(value), number >= 1 else {
            throw .badValue(key: key, value: value, expected: "a whole number of at least 1")
        }
        return number
    }

    /// A percentage above 0 and at most 100, with or without the `%` sign (`95%`, `97.5`).
    private static func percent(_ key: String, _ value: String) throws(SettingError) -> Double {
        let digits = value.hasSuffix("%") ? String(value.dropLast()) : value
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              let number = Double(digits), number > 0, number <= 100 else {
            throw .badValue(key: key, value: value, expected: "a percentage above 0 and at most 100, like 95%")
        }
        return number
    }
}
