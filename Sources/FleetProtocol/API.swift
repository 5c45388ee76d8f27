/// The fleet service's HTTP API (docs/fleet.md), version 1. Every body is JSON.
///
/// | method and path | body | answer |
/// |---|---|---|
/// | `GET /v1/fleet` | | `FleetInfo`: the salt for machine hashes, the fleet's public key |
/// | `POST /v1/enroll` | `EnrollRequest` | `EnrollResponse` (201); 403 for a wrong token |
/// | `POST /v1/submissions` | `SignedEnvelope` of a `Submission` | `SubmissionResponse`: 201 stored, 200 duplicate; 401 unknown machine, 403 bad signature, 409 stale (replayed), 400/413 malformed |
/// | `GET /v1/insights?minConfidence=&maxAgeDays=` | signed read | `SignedEnvelope` of `FleetInsights`, signed by the fleet key |
/// | `POST /v1/rollouts` | `SignedEnvelope` of a `Publication` | `PublicationResponse`: 201 published, 200 duplicate; refusals as for submissions |
/// | `GET /v1/rollouts` | signed read | `SignedEnvelope` of `RolloutOffers` (the machine's profile, approved, not stopped), signed by the fleet key |
/// | `GET /v1/rollouts/<id>` | signed read | `SignedEnvelope` of `RolloutPackage`, signed by the fleet key; 404 while pending, 410 once stopped |
/// | `POST /v1/rollouts/<id>/approve`, `…/stop` | admin token | `RolloutStanding`: a pending rollout offered from now on, or stopped |
/// | `GET /dashboard`, `/v1/export.csv`, `/v1/export.json` | admin token | the dashboard and the exports (`FleetSummary`) |
///
/// A signed read carries `SignedRequest`'s headers (the machine, the time, its signature over
/// the method, target and time): 401 without them or from an unknown machine, 403 for a bad
/// signature, 409 when stale. The admin token comes as `Authorization: Bearer TOKEN` or as
/// the password of HTTP Basic; without `serve --admin-token-file` the dashboard is off (403).
public enum FleetAPI {
    /// A submission signed more than this long ago (or this far in the future) is refused:
    /// an envelope captured and sent again later does not count twice or late. A machine
    /// signs each batch anew when it sends it, so a batch that waited in the outbox is fresh.
    public static let freshnessSeconds: Int64 = 600
}

public struct FleetInfo: Sendable, Codable, Equatable {
    public var salt: String
    public var fleetKey: String

    public init(salt: String, fleetKey: String) {
        self.salt = salt
        self.fleetKey = fleetKey
    }
}

public struct EnrollRequest: Sendable, Codable, Equatable {
    public var token: String
    /// base64 of the machine's Ed25519 public key.
    public var publicKey: String
    /// `Anonymizer.machineHash` with the fleet's salt.
    public var machineHash: String
    public var profile: SystemProfile

    public init(token: String, publicKey: String, machineHash: String, profile: SystemProfile) {
        self.token = token
        self.publicKey = publicKey
        self.machineHash = machineHash
        self.profile = profile
    }
}

public struct EnrollResponse: Sendable, Codable, Equatable {
    public var machine: String

    public init(machine: String) {
        self.machine = machine
    }
}

public struct SubmissionResponse: Sendable, Codable, Equatable {
    /// `stored`, `duplicate` or `refused`.
    public var status: String
    public var outcomes: Int
    public var reason: String?

    public init(status: String, outcomes: Int = 0, reason: String? = nil) {
        self.status = status
        self.outcomes = outcomes
        self.reason = reason
    }
}
