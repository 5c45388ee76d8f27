import Crypto
import FleetProtocol
import Foundation
import HealCore

/// The fleet's records on either engine: the schema and its migrations, enrolled machines,
/// submissions (stored once by id), anonymized outcomes, and the insights computed from them.
public struct FleetStore: Sendable {
    public let database: any FleetDatabase
    /// When a rollout stops by itself.
    public let rolloutPolicy: RolloutPolicy

    public init(database: any FleetDatabase, rolloutPolicy: RolloutPolicy = RolloutPolicy()) {
        self.database = database
        self.rolloutPolicy = rolloutPolicy
    }

    /// Schema versions, oldest first; each applied once, in its own transaction, and
    /// recorded in `schema_migrations`. A version is never edited once released: a change
    /// is a new version.
    static let migrations: [(version: Int64, statements: [String])] = [
        (1, [
            "CREATE TABLE fleet (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """
            CREATE TABLE machines (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, public_key TEXT NOT NULL,
                                   profile TEXT NOT NULL, enrolled BIGINT NOT NULL)
            """,
            """
            CREATE TABLE submissions (id TEXT PRIMARY KEY, machine TEXT NOT NULL, body_sha256 TEXT NOT NULL,
                                      received BIGINT NOT NULL, outcomes BIGINT NOT NULL)
            """,
            """
            CREATE TABLE outcomes (id TEXT PRIMARY KEY, submission TEXT NOT NULL, machine TEXT NOT NULL,
                                   signature TEXT NOT NULL, strategy TEXT NOT NULL, profile TEXT NOT NULL,
                                   result TEXT NOT NULL, day TEXT NOT NULL, received BIGINT NOT NULL)
            """,
            "CREATE INDEX outcomes_by_profile ON outcomes (profile, signature, strategy)",
        ]),
        // Fix packages published across machines of a profile (FleetStore+Rollouts).
        (2, [
            """
            CREATE TABLE rollouts (id TEXT PRIMARY KEY, signature TEXT NOT NULL, strategy TEXT NOT NULL,
                                   profile TEXT NOT NULL, publisher TEXT NOT NULL, published BIGINT NOT NULL,
                                   package TEXT NOT NULL, stopped BIGINT, stop_reason TEXT)
            """,
            "CREATE INDEX rollouts_by_profile ON rollouts (profile)",
        ]),
        // A rollout is offered only once an administrator approved it; its outcomes are
        // counted by strategy (`fleet-<rollout>`) on every pull of the offers.
        (3, ["ALTER TABLE rollouts ADD COLUMN approved BIGINT",
             "CREATE INDEX outcomes_by_strategy ON outcomes (strategy, result)"]),
    ]

    /// Brings the schema up to date. Returns the versions it applied.
    @discardableResult
    public func migrate(now: Int64) async throws -> [Int64] {
        _ = try await database.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)", [])
        var applied: [Int64] = []
        for migration in Self.migrations {
            let done = try await database.transaction { statements in
                let present = try await statements.execute("SELECT version FROM schema_migrations WHERE version = $1", [.int(migration.version)])
                guard present.isEmpty else { return false }
                for statement in migration.statements { _ = try await statements.execute(statement, []) }
                _ = try await statements.execute("INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)",
                                                 [.int(migration.version), .int(now)])
                return true
            }
            if done { applied.append(migration.version) }
        }
        return applied
    }

    /// The fleet's salt (for machine hashes) and signing key, made on first use.
    public func identity() async throws -> (salt: String, key: Curve25519.Signing.PrivateKey) {
        let fresh = Curve25519.Signing.PrivateKey()
        let salt = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined()
        _ = try await database.execute("INSERT INTO fleet (name, value) VALUES ('salt', $1) ON CONFLICT (name) DO NOTHING", [.text(salt)])
        _ = try await database.execute("INSERT INTO fleet (name, value) VALUES ('key', $1) ON CONFLICT (name) DO NOTHING",
                                       [.text(fresh.rawRepresentation.base64EncodedString())])
        let rows = try await database.execute("SELECT name, value FROM fleet", [])
        let values = Dictionary(rows.compactMap { row in row[0].text.flatMap { name in row[1].text.map { (name, $0) } } },
                                uniquingKeysWith: { a, _ in a })
        guard let storedSalt = values["salt"], let key = values["key"].flatMap({ Data(base64Encoded: $0) }) else {
            throw FleetServiceError.configuration("the fleet table has no salt or key")
        }
        return (storedSalt, try Curve25519.Signing.PrivateKey(rawRepresentation: key))
    }

    /// Enrolls a machine, or gives a machine enrolled before (same hash) its new key.
    /// Returns its id.
    public func enroll(hash: String, publicKey: String, profile: String, now: Int64) async throws -> String {
        let id = "m-" + String(sha256Hex("machine " + hash).prefix(20))
        _ = try await database.execute("""
            INSERT INTO machines (id, hash, public_key, profile, enrolled) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (hash) DO UPDATE SET public_key = excluded.public_key, profile = excluded.profile
            """, [.text(id), .text(hash), .text(publicKey), .text(profile), .int(now)])
        return id
    }

    /// The public key a machine enrolled with.
    public func machineKey(_ id: String) async throws -> String? {
        try await database.execute("SELECT public_key FROM machines WHERE id = $1", [.text(id)]).first?.first?.text
    }

    public enum Stored: Sendable, Equatable {
        case stored(outcomes: Int)
        /// The submission id was stored before: nothing is stored again.
        case duplicate
    }

    /// Outcomes inserted by one statement (9 values each: well under SQLite's and
    /// PostgreSQL's limits on bound values).
    static let outcomesPerStatement = 200

    /// Stores a verified submission and its outcomes in one transaction: all or nothing, and
    /// never twice (the submission's id and each outcome's id are keys).
    public func store(_ submission: Submission, bodySHA256: String, now: Int64) async throws -> Stored {
        try await database.transaction { statements in
            let inserted = try await statements.execute("""
                INSERT INTO submissions (id, machine, body_sha256, received, outcomes) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, [.text(submission.id), .text(submission.machine), .text(bodySHA256), .int(now), .int(Int64(submission.outcomes.count))])
            guard !inserted.isEmpty else { return .duplicate }
            // One statement per chunk of outcomes, not one per outcome: on PostgreSQL each
            // statement is a round trip.
            var count = 0
            var chunk = submission.outcomes[...]
            while !chunk.isEmpty {
                let part = chunk.prefix(Self.outcomesPerStatement)
                chunk = chunk.dropFirst(part.count)
                var binds: [SQLValue] = []
                let rows = part.map { outcome -> String in
                    let first = binds.count + 1
                    binds += [.text(outcome.id), .text(submission.id), .text(submission.machine), .text(outcome.signature),
                              .text(outcome.strategy), .text(submission.profile.key), .text(outcome.result.rawValue),
                              .text(outcome.day), .int(now)]
                    return "(" + (first..<first + 9).map { "$\($0)" }.joined(separator: ", ") + ")"
                }
                count += try await statements.execute("""
                    INSERT INTO outcomes (id, submission, machine, signature, strategy, profile, result, day, received)
                    VALUES \(rows.joined(separator: ", ")) ON CONFLICT (id) DO NOTHING RETURNING id
                    """, binds).count
            }
            // Outcomes of fixes made from a rollout's package may stop it, in the same
            // transaction: the rollout stops the moment the outcome that tips it is stored.
            for rollout in Set(submission.outcomes.compactMap { FleetPackage.rollout(ofStrategy: $0.strategy) }) {
                try await stopIfFailing(rollout, statements, now: now)
            }
            return .stored(outcomes: count)
        }
    }

    /// Per signature and strategy on machines of `profile`: the outcomes' counts, with a
    /// confidence, stamped with the newest outcome's arrival. Only those at least
    /// `minConfidence` sure and at most `maxAgeDays` old.
    public func insights(profile: String, minConfidence: Double, maxAgeDays: Int, now: Int64) async throws -> [FleetInsight] {
        let rows = try await database.execute("""
            SELECT signature, strategy,
                   SUM(CASE WHEN result = 'verified' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN result IN ('failed-validation', 'failed-after-apply') THEN 1 ELSE 0 END),
                   MAX(received)
            FROM outcomes WHERE profile = $1 AND received >= $2
            GROUP BY signature, strategy ORDER BY signature, strategy
            """, [.text(profile), .int(now - Int64(maxAgeDays) * 86_400)])
        return rows.compactMap { row in
            guard let signature = row[0].text, let strategy = row[1].text, let successes = row[2].int, let failures = row[3].int,
                  let newest = row[4].int else { return nil }
            let confidence = FleetInsight.confidence(successes: Int(successes), outcomes: Int(successes + failures))
            guard confidence >= minConfidence else { return nil }
            return FleetInsight(signature: signature, strategy: strategy, profile: profile, successes: Int(successes),
                                failures: Int(failures), confidence: confidence, generated: newest)
        }
    }

    /// Counts for the service's own summary: machines, submissions, outcomes.
    public func counts() async throws -> (machines: Int64, submissions: Int64, outcomes: Int64) {
        let rows = try await database.execute("""
            SELECT (SELECT COUNT(*) FROM machines), (SELECT COUNT(*) FROM submissions), (SELECT COUNT(*) FROM outcomes)
            """, [])
        let row = rows.first ?? []
        return (row.first?.int ?? 0, row.dropFirst().first?.int ?? 0, row.dropFirst(2).first?.int ?? 0)
    }
}
