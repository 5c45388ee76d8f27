import FleetProtocol
import Foundation

/// Rollouts: fix packages published by one machine and offered to the others of its profile
/// until the fixes made from them fail too often (`RolloutPolicy`).
extension FleetStore {
    public enum Published: Sendable, Equatable {
        case published(String)
        /// The same package was published before: the same rollout.
        case duplicate(String)
    }

    /// Stores a checked package as a rollout (its id is the hash of the package's bytes).
    public func publish(_ package: FleetPackage, body: Data, publisher: String, now: Int64) async throws -> Published {
        let id = FleetPackage.rolloutID(body: body)
        let inserted = try await database.execute("""
            INSERT INTO rollouts (id, signature, strategy, profile, publisher, published, package)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING id
            """, [.text(id), .text(package.signature), .text(package.strategy), .text(package.profile.key), .text(publisher),
                  .int(now), .text(String(decoding: body, as: UTF8.self))])
        return inserted.isEmpty ? .duplicate(id) : .published(id)
    }

    /// Every rollout with its outcomes; only `profile`'s when given.
    public func rollouts(profile: String? = nil) async throws -> [RolloutStanding] {
        let rows = try await database.execute("""
            SELECT r.id, r.signature, r.strategy, r.profile, r.published, r.stopped, r.stop_reason, r.approved,
                   (SELECT COUNT(*) FROM outcomes o WHERE o.strategy = 'fleet-' || r.id AND o.result = 'verified'),
                   (SELECT COUNT(*) FROM outcomes o WHERE o.strategy = 'fleet-' || r.id
                                                      AND o.result IN ('failed-validation', 'failed-after-apply'))
            FROM rollouts r WHERE ($1 = '' OR r.profile = $1) ORDER BY r.published, r.id
            """, [.text(profile ?? "")])
        return rows.compactMap { row in
            guard let id = row[0].text, let signature = row[1].text, let strategy = row[2].text, let profile = row[3].text,
                  let published = row[4].int else { return nil }
            return RolloutStanding(rollout: id, signature: signature, strategy: strategy, profile: profile, published: published,
                                   approved: row[7].int, verified: Int(row[8].int ?? 0), failed: Int(row[9].int ?? 0),
                                   stopped: row[5].int, stopReason: row[6].text)
        }
    }

    /// A rollout's stored package (the exact bytes published), whether it was approved and
    /// whether it stopped.
    public func rolloutPackage(_ id: String) async throws -> (profile: String, published: Int64, body: Data, approved: Bool, stopped: Bool)? {
        guard let row = try await database.execute("SELECT profile, published, package, approved, stopped FROM rollouts WHERE id = $1",
                                                   [.text(id)]).first,
              let profile = row[0].text, let published = row[1].int, let body = row[2].text else { return nil }
        return (profile, published, Data(body.utf8), row[3].int != nil, row[4].int != nil)
    }

    public enum Decision: String, Sendable, CaseIterable {
        case approve, stop
    }

    /// An administrator's decision on a rollout: approve it (it is offered from now on) or
    /// stop it. Returns the rollout as it stands afterwards, nil when there is none.
    public func decide(_ decision: Decision, rollout id: String, now: Int64) async throws -> RolloutStanding? {
        switch decision {
        case .approve:
            _ = try await database.execute("UPDATE rollouts SET approved = $1 WHERE id = $2 AND approved IS NULL", [.int(now), .text(id)])
        case .stop:
            _ = try await database.execute("UPDATE rollouts SET stopped = $1, stop_reason = $2 WHERE id = $3 AND stopped IS NULL",
                                           [.int(now), .text("stopped by an administrator"), .text(id)])
        }
        return try await rollouts().first { $0.rollout == id }
    }

    /// Stops `rollout` when its outcomes pass the policy's failure rate.
    func stopIfFailing(_ rollout: String, _ statements: any FleetStatements, now: Int64) async throws {
        let rows = try await statements.execute("""
            SELECT SUM(CASE WHEN result = 'verified' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN result IN ('failed-validation', 'failed-after-apply') THEN 1 ELSE 0 END)
            FROM outcomes WHERE strategy = $1
            """, [.text(FleetPackage.strategyID(rollout: rollout))])
        let verified = Int(rows.first?[0].int ?? 0), failed = Int(rows.first?[1].int ?? 0)
        guard let reason = rolloutPolicy.stopReason(verified: verified, failed: failed) else { return }
        _ = try await statements.execute("UPDATE rollouts SET stopped = $1, stop_reason = $2 WHERE id = $3 AND stopped IS NULL",
                                         [.int(now), .text(reason), .text(rollout)])
    }
}
