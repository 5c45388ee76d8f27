import FleetProtocol
import HealCore

/// What the dashboard and the exports show, read from the store in one pass of queries.
public struct FleetSummary: Sendable, Codable {
    public struct Day: Sendable, Codable {
        public var day: String
        /// Outcomes that day per result (`verified`, `failed-after-apply`, …).
        public var results: [String: Int]
    }

    public struct Rate: Sendable, Codable {
        /// A signature, a strategy, or `signature strategy profile` for the export.
        public var name: String
        public var successes: Int
        public var failures: Int
        public var confidence: Double
        public var rate: Double { successes + failures == 0 ? 0 : Double(successes) / Double(successes + failures) }
    }

    public struct Attention: Sendable, Codable {
        public var machine: String
        public var signature: String
        public var since: String
    }

    public var machines: Int
    public var submissions: Int
    public var outcomes: Int
    public var days: [Day]
    public var perClass: [Rate]
    public var perStrategy: [Rate]
    /// Per signature, strategy and profile: what the insights are made of.
    public var perProfile: [Rate]
    /// Machines whose last word on a signature was a give-up.
    public var needsPerson: [Attention]
    /// Every rollout, running and stopped, with its outcomes.
    public var rollouts: [RolloutStanding]
}

extension FleetStore {
    public func summary() async throws -> FleetSummary {
        let (machines, submissions, outcomes) = try await counts()
        var days: [String: [String: Int]] = [:]
        for row in try await database.execute("SELECT day, result, COUNT(*) FROM outcomes GROUP BY day, result ORDER BY day", []) {
            guard let day = row[0].text, let result = row[1].text, let count = row[2].int else { continue }
            days[day, default: [:]][result] = Int(count)
        }
        func rates(_ key: String) async throws -> [FleetSummary.Rate] {
            try await database.execute("""
                SELECT \(key), SUM(CASE WHEN result = 'verified' THEN 1 ELSE 0 END),
                       SUM(CASE WHEN result IN ('failed-validation', 'failed-after-apply') THEN 1 ELSE 0 END)
                FROM outcomes GROUP BY \(key) ORDER BY \(key)
                """, []).compactMap { row -> FleetSummary.Rate? in
                guard let name = row[0].text, let successes = row[1].int, let failures = row[2].int else { return nil }
                return FleetSummary.Rate(name: name, successes: Int(successes), failures: Int(failures),
                                         confidence: FleetInsight.confidence(successes: Int(successes), outcomes: Int(successes + failures)))
            }
        }
        // The last outcome per machine and signature: a give-up there is a machine waiting for a person.
        var last: [String: (day: String, result: String, machine: String, signature: String)] = [:]
        for row in try await database.execute("""
            SELECT machine, signature, day, result FROM outcomes WHERE result IN ('gave-up', 'verified') ORDER BY day, received
            """, []) {
            guard let machine = row[0].text, let signature = row[1].text, let day = row[2].text, let result = row[3].text else { continue }
            last[machine + " " + signature] = (day, result, machine, signature)
        }
        let attention = last.values.filter { $0.result == "gave-up" }
            .map { FleetSummary.Attention(machine: $0.machine, signature: $0.signature, since: $0.day) }
            .sorted { ($0.since, $0.machine) > ($1.since, $1.machine) }
        return FleetSummary(
            machines: Int(machines), submissions: Int(submissions), outcomes: Int(outcomes),
            days: days.keys.sorted().map { FleetSummary.Day(day: $0, results: days[$0] ?? [:]) },
            perClass: try await rates("signature"), perStrategy: try await rates("strategy"),
            perProfile: try await rates("signature || ' ' || strategy || ' ' || profile"),
            needsPerson: attention, rollouts: try await rollouts())
    }
}
