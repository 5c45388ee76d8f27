/// clarity-heal's settings, as `/etc/clarity-heal/clarity-heal.conf` gives them.
///
/// The file is INI in systemd's style (journald.conf): `[Section]` headers, `Key=Value`
/// lines, `#` or `;` comments. HealSystem reads it with inih and hands each setting to
/// `set(section:key:value:)`; this type only knows what the keys mean.
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
/// ```
public struct Config: Sendable, Equatable {
    /// The path of the file on a root.
    public static let path = "/etc/clarity-heal/clarity-heal.conf"

    public var thresholds = Thresholds()
    public var reboot = RebootPolicy()

    public init() {}

    /// Why one setting was refused; `Config.Error` adds the file and line.
    public enum SettingError: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case unknownKey(section: String, key: String)
        case badValue(key: String, value: String, expected: String)

        public var description: String {
            switch self {
            case .unknownKey(let section, let key): "unknown key \(key) in [\(section)]"
            case .badValue(let key, let value, let expected): "\(key)=\(value): expected \(expected)"
            }
        }
    }

    /// Why the file as a whole was refused.
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// A setting the file gives is unknown or has a bad value.
        case setting(source: String, line: Int, SettingError)
        /// A line that is neither a section, a setting nor a comment.
        case syntax(source: String, line: Int)
        case unreadable(source: String, reason: String)

        public var description: String {
            switch self {
            case .setting(let source, let line, let error): "cannot parse \(source) line \(line): \(error)"
            case .syntax(let source, let line):
                "cannot parse \(source) line \(line): expected [Section], Key=Value or a comment"
            case .unreadable(let source, let reason): "cannot read \(source): \(reason)"
            }
        }
    }

    /// The sections this version knows. Keys of other sections are left alone, so a file
    /// written for a newer version (with `[Fleet]`, say) still loads.
    public static let knownSections: Set<String> = ["Thresholds", "Reboot"]

    /// Applies one `Key=Value` of `[section]`; later settings of the same key win, as in
    /// systemd's configuration files.
    /// - Throws: `SettingError` for an unknown key of a known section or a bad value.
    public mutating func set(section: String, key: String, value: String) throws(SettingError) {
        guard Self.knownSections.contains(section) else { return }
        if section == "Reboot" {
            try reboot.set(key: key, value: value)
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
