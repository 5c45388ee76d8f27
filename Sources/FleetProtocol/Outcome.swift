import HealCore

/// One outcome as it leaves a machine: which strategy, for which failure signature, came to
/// what. Nothing else of the ledger record goes: no path, no device, no free text.
public struct Outcome: Sendable, Hashable, Codable {
    public enum Result: String, Sendable, Codable, CaseIterable {
        /// Validated on the clone.
        case validated
        /// Ran on the clone and did not validate.
        case failedValidation = "failed-validation"
        /// Verified good after the reboot.
        case verified
        /// Failed verification or was rolled back.
        case failedAfterApply = "failed-after-apply"
        /// The episode gave up: no strategy held, a person must act.
        case gaveUp = "gave-up"
    }

    /// Stable for the same ledger record of the same machine, so a resent outbox stores it
    /// once: 32 hex digits of SHA-256 over the machine's fleet hash and the record's position.
    public var id: String
    /// The failure class slug.
    public var signature: String
    public var strategy: String
    public var result: Result
    /// The day it happened, `YYYY-MM-DD` (no time of day: fewer ways to tell machines apart).
    public var day: String

    public init(id: String, signature: String, strategy: String, result: Result, day: String) {
        self.id = id
        self.signature = signature
        self.strategy = strategy
        self.result = result
        self.day = day
    }

    /// Whether it counts for the strategy (`verified`), against it (`failed-*`), or neither
    /// (`validated`: only a clone's word until the reboot).
    public var counts: (success: Int, failure: Int) {
        switch result {
        case .verified: (1, 0)
        case .failedValidation, .failedAfterApply: (0, 1)
        case .validated, .gaveUp: (0, 0)
        }
    }
}

/// A body an enrolled machine signs and sends: it names the machine and when it was signed,
/// so the service can refuse one that names another machine or comes late (a replay).
public protocol MachineSigned: Decodable {
    var machine: String { get }
    var sent: Int64 { get }
}

/// A batch of outcomes from one machine: the body a machine signs.
public struct Submission: Sendable, Hashable, Codable, MachineSigned {
    /// Chosen by the machine when the batch enters its outbox; resending keeps it, so the
    /// service stores a batch once however often it arrives.
    public var id: String
    /// The id the service gave the machine at enrollment.
    public var machine: String
    /// When it was signed, seconds since the epoch: the service refuses one that is too old.
    public var sent: Int64
    public var profile: SystemProfile
    public var outcomes: [Outcome]

    public init(id: String, machine: String, sent: Int64, profile: SystemProfile, outcomes: [Outcome]) {
        self.id = id
        self.machine = machine
        self.sent = sent
        self.profile = profile
        self.outcomes = outcomes
    }

    /// At most this many outcomes in one batch, and this many bytes of body.
    public static let maximumOutcomes = 1000
    public static let maximumBytes = 512 << 10
}
