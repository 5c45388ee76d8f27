/// How clarity-heal reboots a machine once a fix that needs a reboot is in place, and how
/// often it retries a fix whose verification failed: the `[Reboot]` section of the config.
///
/// ```
///   [Reboot]
///   Policy=prompt               automatic | window | prompt
///   NoticeMinutes=5             warning before a scheduled reboot (0..1440)
///   Window=Sun 02:00-04:00      maintenance window for Policy=window (MaintenanceWindow)
///   Urgency=critical:1 high:3 moderate:7
///                               days a fix may wait for the window, per severity of the
///                               repaired class; one number sets every severity (Urgency=2)
///   MaxAttempts=3               fixes tried for one failure before a person is called
///   EmergencySeconds=60         Policy=automatic: a boot that ended in emergency mode
///                               reboots into the recovery entry after this (0..3600)
/// ```
public struct RebootPolicy: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable, CaseIterable, Codable {
        /// Reboot `NoticeMinutes` from now, after a notice.
        case automatic
        /// Reboot in the next maintenance window if it opens soon enough (urgency), else ask.
        case window
        /// Ask a person: reboot now, schedule, or remind later.
        case prompt
    }

    /// A person decides by default: a machine is never rebooted under its users unless
    /// the administrator chose so.
    public var mode: Mode = .prompt
    public var noticeMinutes = 5
    public var window = MaintenanceWindow(weekdays: [.sunday], start: 2 * 60, duration: 2 * 60)
    public var urgency = Urgency()
    /// Verification failures of one failure (each followed by a retry with another
    /// strategy) after which clarity-heal stops and asks a person.
    public var maxAttempts = 3
    /// With `Policy=automatic`, the seconds a boot that ended in systemd's emergency mode
    /// waits for a person at the console before it reboots into the recovery entry.
    public var emergencySeconds = 60

    public init() {}

    /// How long a fix may wait for a maintenance window, in days, per severity.
    public struct Urgency: Sendable, Hashable, CustomStringConvertible {
        public var critical = 1
        public var high = 3
        public var moderate = 7

        public init() {}

        public init(days: Int) {
            critical = days
            high = days
            moderate = days
        }

        public func days(for severity: Severity) -> Int {
            switch severity {
            case .critical: critical
            case .high: high
            case .moderate: moderate
            }
        }

        /// Parses `2` (every severity) or `critical:0 high:2` (severities not named keep
        /// their defaults); pairs are separated by spaces or commas.
        public init(parsing text: String) throws(Config.SettingError) {
            let bad = Config.SettingError.badValue(key: "Urgency", value: text,
                                                   expected: "days (0-365), or severity:days pairs like critical:1 high:3 moderate:7")
            let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" })
            guard !trimmed.isEmpty else { throw bad }
            if trimmed.count == 1, !trimmed[0].contains(":") {
                guard let days = Self.days(trimmed[0]) else { throw bad }
                self.init(days: days)
                return
            }
            self.init()
            for pair in trimmed {
                let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, let days = Self.days(parts[1]) else { throw bad }
                switch parts[0].lowercased() {
                case "critical": critical = days
                case "high": high = days
                case "moderate": moderate = days
                default: throw bad
                }
            }
        }

        private static func days(_ text: Substring) -> Int? {
            guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let days = Int(text), days <= 365 else { return nil }
            return days
        }

        public var description: String { "critical:\(critical) high:\(high) moderate:\(moderate)" }
    }

    /// The value of `key` as the config file writes it; nil for an unknown key.
    public func text(key: String) -> String? {
        switch key {
        case "Policy": mode.rawValue
        case "NoticeMinutes": "\(noticeMinutes)"
        case "Window": window.description
        case "Urgency": urgency.description
        case "MaxAttempts": "\(maxAttempts)"
        case "EmergencySeconds": "\(emergencySeconds)"
        default: nil
        }
    }

    /// Puts `key` back to its default; false for an unknown key.
    public mutating func resetToDefault(key: String) -> Bool {
        let defaults = RebootPolicy()
        switch key {
        case "Policy": mode = defaults.mode
        case "NoticeMinutes": noticeMinutes = defaults.noticeMinutes
        case "Window": window = defaults.window
        case "Urgency": urgency = defaults.urgency
        case "MaxAttempts": maxAttempts = defaults.maxAttempts
        case "EmergencySeconds": emergencySeconds = defaults.emergencySeconds
        default: return false
        }
        return true
    }

    /// Applies one key of `[Reboot]`.
    /// - Throws: `Config.SettingError` for an unknown key or a bad value.
    public mutating func set(key: String, value: String) throws(Config.SettingError) {
        switch key {
        case "Policy":
            guard let mode = Mode(rawValue: value.lowercased()) else {
                throw .badValue(key: key, value: value, expected: "automatic, window or prompt")
            }
            self.mode = mode
        case "NoticeMinutes":
            guard let minutes = Int(value), (0...1440).contains(minutes) else {
                throw .badValue(key: key, value: value, expected: "minutes from 0 to 1440")
            }
            noticeMinutes = minutes
        case "Window":
            do {
                window = try MaintenanceWindow(parsing: value)
            } catch {
                throw .badValue(key: key, value: value, expected: "[days] HH:MM-HH:MM like Sun 02:00-04:00 (\(error))")
            }
        case "Urgency":
            urgency = try Urgency(parsing: value)
        case "MaxAttempts":
            guard let attempts = Int(value), (1...20).contains(attempts) else {
                throw .badValue(key: key, value: value, expected: "a whole number from 1 to 20")
            }
            maxAttempts = attempts
        case "EmergencySeconds":
            guard let seconds = Int(value), (0...3600).contains(seconds) else {
                throw .badValue(key: key, value: value, expected: "seconds from 0 to 3600")
            }
            emergencySeconds = seconds
        default:
            throw .unknownKey(section: "Reboot", key: key)
        }
    }
}
