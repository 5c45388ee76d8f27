/// What the fleet learned about one strategy for one signature on machines of one profile:
/// the counts behind it and how sure the service is (issue 12, insights). A machine's agent
/// (`clarity-fleet pull`) stores the ones it received in the state folder
/// (`insights.json`); ranking merges those that pass `FleetSettings`.
public struct FleetInsight: Sendable, Hashable, Codable {
    /// The failure class slug.
    public var signature: String
    public var strategy: String
    /// The machines' shape the counts come from (`SystemProfile.key`).
    public var profile: String
    /// Fixes verified good on the fleet's machines.
    public var successes: Int
    /// Clone runs that did not validate and fixes that failed once applied.
    public var failures: Int
    /// 0…1: one minus the width of the 95 % Wilson interval of the success rate, so few
    /// outcomes, or outcomes that disagree, give a low confidence.
    public var confidence: Double
    /// When the service computed it, seconds since the epoch.
    public var generated: Int64

    public init(signature: String, strategy: String, profile: String, successes: Int, failures: Int,
                confidence: Double, generated: Int64) {
        self.signature = signature
        self.strategy = strategy
        self.profile = profile
        self.successes = successes
        self.failures = failures
        self.confidence = confidence
        self.generated = generated
    }

    public var outcomes: Int { successes + failures }

    /// The share of outcomes that succeeded; 0 without outcomes.
    public var successRate: Double { outcomes == 0 ? 0 : Double(successes) / Double(outcomes) }

    /// `1 − (upper − lower)` of the 95 % Wilson score interval of `successes` of `outcomes`.
    public static func confidence(successes: Int, outcomes: Int) -> Double {
        guard outcomes > 0 else { return 0 }
        let n = Double(outcomes), p = Double(successes) / n, z = 1.96
        let spread = 2 * z * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot() / (1 + z * z / n)
        return max(0, min(1, 1 - spread))
    }
}

/// The insights file a machine's agent writes (`/var/lib/clarity-heal/insights.json`).
public struct FleetInsights: Sendable, Hashable, Codable {
    /// When the agent received them, seconds since the epoch.
    public var received: Int64
    public var insights: [FleetInsight]

    public init(received: Int64, insights: [FleetInsight]) {
        self.received = received
        self.insights = insights
    }

    /// The state folder's file.
    public static let relativePath = "/var/lib/clarity-heal/insights.json"
    /// Larger files are not read: 10⁴ insights fit in far less.
    public static let maximumBytes = 4 << 20
}

/// `[Fleet]` of the config: where the fleet service is, and which of its insights change
/// this machine's ranking.
///
/// ```
///   [Fleet]
///   Server=                 the service's base URL: `clarity-fleet enroll`'s default, and
///                           when set, the service the agent talks to after enrolling
///   MinConfidence=0.7       insights less sure than this change nothing
///   MaxAgeDays=30           insights older than this change nothing
/// ```
public struct FleetSettings: Sendable, Equatable {
    public var server = ""
    public var minConfidence = 0.7
    public var maxAgeDays = 30

    public init() {}

    public static let keys = ["Server", "MinConfidence", "MaxAgeDays"]

    public func text(key: String) -> String? {
        switch key {
        case "Server": server
        case "MinConfidence": "\(minConfidence)"
        case "MaxAgeDays": "\(maxAgeDays)"
        default: nil
        }
    }

    public mutating func resetToDefault(key: String) -> Bool {
        let defaults = FleetSettings()
        switch key {
        case "Server": server = defaults.server
        case "MinConfidence": minConfidence = defaults.minConfidence
        case "MaxAgeDays": maxAgeDays = defaults.maxAgeDays
        default: return false
        }
        return true
    }

    public mutating func set(key: String, value: String) throws(Config.SettingError) {
        switch key {
        case "Server":
            guard value.isEmpty || value.hasPrefix("http://") || value.hasPrefix("https://"), value.utf8.count <= 512 else {
                throw .badValue(key: key, value: value, expected: "an http:// or https:// URL")
            }
            server = value
        case "MinConfidence":
            guard let number = Double(value), (0...1).contains(number) else {
                throw .badValue(key: key, value: value, expected: "a number from 0 to 1")
            }
            minConfidence = number
        case "MaxAgeDays":
            guard let number = Int(value), (1...3650).contains(number) else {
                throw .badValue(key: key, value: value, expected: "a whole number from 1 to 3650")
            }
            maxAgeDays = number
        default: throw .unknownKey(section: "Fleet", key: key)
        }
    }
}
