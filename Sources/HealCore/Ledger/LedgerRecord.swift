/// One entry of the ledger: something clarity-heal found or did to a machine (issue 4 §6).
///
/// Records are written by `Ledger.append` (HealSystem), which fills `seq` and `time`; the
/// line format is drawn on `LedgerLine`. Every field but `kind` and `outcome` is optional
/// so that a detection (no fix yet) and a give-up (no strategy left) fit the same shape.
public struct LedgerRecord: Sendable, Codable, Hashable {
    /// What happened. The raw values are the `kind` field of the file.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Detection ran (`outcome`: `findings` or `healthy`).
        case detection
        /// A repair ran on a clone (`validated`, `unrepairable`, `failed`).
        case repair
        /// A fix was applied to the real root (`applied`, `refused`, `failed`, `recovered`,
        /// `undone`: a crash was finished or undone by the next run).
        case apply
        /// A fix was staged for the next boot (`staged`, `refused`).
        case stage
        /// The initramfs applied a staged fix (`applied`, `failed`).
        case bootApply = "boot-apply"
        /// The post-boot check of an applied fix (`good`, `failed`).
        case verification
        /// An applied fix was taken back from its backup (`rolled-back`, `failed`).
        case rollback
        /// Troubleshooting started again without the strategies that failed (`retrying`).
        case retry
        /// The attempt bound was reached; a person must act (`needs-person`).
        case giveUp = "give-up"
    }

    /// The outcomes the readers of the ledger (`status`, `report`) interpret. Writers may
    /// record others; they are shown as written.
    public enum Outcome {
        public static let findings = "findings"
        public static let healthy = "healthy"
        public static let validated = "validated"
        public static let unrepairable = "unrepairable"
        public static let applied = "applied"
        public static let staged = "staged"
        public static let refused = "refused"
        public static let failed = "failed"
        /// An interrupted apply that the next run finished.
        public static let recovered = "recovered"
        /// An interrupted apply that the next run undid.
        public static let undone = "undone"
        public static let good = "good"
        public static let rolledBack = "rolled-back"
        public static let retrying = "retrying"
        public static let needsPerson = "needs-person"
    }

    /// Position in the ledger, from 1, strictly increasing; 0 until appended.
    public var seq: Int
    /// Seconds since the epoch, from the ledger's clock; 0 until appended.
    public var time: Int
    public var kind: Kind
    /// The fix package id (`fix-…`) the record is about.
    public var fix: String?
    /// The failure class slug (docs/failure-catalogue.md). Kept as text so a slug from a newer version
    /// never makes a record unreadable; `failure` gives the typed class.
    public var failureClass: String?
    /// The strategy id.
    public var strategy: String?
    public var outcome: String
    /// Anything else worth keeping, as text: `backup`, `backupSHA256`, `reason`,
    /// `findings`, `excluded`, `support`, …
    public var detail: [String: String]

    /// A record to append; `Ledger.append` assigns `seq` and `time`.
    public init(kind: Kind, fix: String? = nil, class failureClass: String? = nil, strategy: String? = nil,
                outcome: String, detail: [String: String] = [:]) {
        self.seq = 0
        self.time = 0
        self.kind = kind
        self.fix = fix
        self.failureClass = failureClass
        self.strategy = strategy
        self.outcome = outcome
        self.detail = detail
    }

    /// The same, taking the typed class.
    public init(kind: Kind, fix: String? = nil, failure: FailureClass?, strategy: String? = nil,
                outcome: String, detail: [String: String] = [:]) {
        self.init(kind: kind, fix: fix, class: failure?.rawValue, strategy: strategy, outcome: outcome, detail: detail)
    }

    /// The failure class, when the slug is one this version knows.
    public var failure: FailureClass? { failureClass.flatMap(FailureClass.init(rawValue:)) }

    enum CodingKeys: String, CodingKey {
        case seq, time, kind, fix, failureClass = "class", strategy, outcome, detail
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        seq = try container.decode(Int.self, forKey: .seq)
        time = try container.decode(Int.self, forKey: .time)
        kind = try container.decode(Kind.self, forKey: .kind)
        fix = try container.decodeIfPresent(String.self, forKey: .fix)
        failureClass = try container.decodeIfPresent(String.self, forKey: .failureClass)
        strategy = try container.decodeIfPresent(String.self, forKey: .strategy)
        outcome = try container.decode(String.self, forKey: .outcome)
        detail = try container.decodeIfPresent([String: String].self, forKey: .detail) ?? [:]
    }
}
