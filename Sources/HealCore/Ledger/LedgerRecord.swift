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

    /// What came of it: the `outcome` field of the file, written as the raw value.
    ///
    /// The readers of the ledger (`status`, `report`, `verify`) interpret the known cases.
    /// An outcome this version does not know — written by a newer one — reads as `unknown`
    /// with the text as written, and is written back unchanged, so a newer ledger never
    /// makes an older binary fail to read it.
    public enum Outcome: Sendable, Hashable, Codable, RawRepresentable, CustomStringConvertible {
        /// Detection found something.
        case findings
        /// Detection found nothing.
        case healthy
        /// A strategy validated on a clone.
        case validated
        /// No strategy validated: a person has to act.
        case unrepairable
        case applied
        case staged
        case refused
        case failed
        /// An interrupted apply that the next run finished.
        case recovered
        /// An interrupted apply that the next run undid.
        case undone
        /// The fix held on the boot after it.
        case good
        case rolledBack
        case retrying
        case needsPerson
        /// An outcome this version does not name (never the text of a case above).
        case unknown(String)

        /// Every outcome this version names, in the order of the cases.
        public static let known: [Outcome] = [
            .findings, .healthy, .validated, .unrepairable, .applied, .staged, .refused, .failed,
            .recovered, .undone, .good, .rolledBack, .retrying, .needsPerson,
        ]

        /// The outcome the text names; `unknown` for text no case names. Never fails.
        public init(rawValue: String) {
            self = Self.known.first { $0.rawValue == rawValue } ?? .unknown(rawValue)
        }

        /// The text in the ledger file.
        public var rawValue: String {
            switch self {
            case .findings: "findings"
            case .healthy: "healthy"
            case .validated: "validated"
            case .unrepairable: "unrepairable"
            case .applied: "applied"
            case .staged: "staged"
            case .refused: "refused"
            case .failed: "failed"
            case .recovered: "recovered"
            case .undone: "undone"
            case .good: "good"
            case .rolledBack: "rolled-back"
            case .retrying: "retrying"
            case .needsPerson: "needs-person"
            case .unknown(let text): text
            }
        }

        public var description: String { rawValue }

        // By the text, so `.unknown("good")` built by hand is still `.good`.
        public static func == (a: Outcome, b: Outcome) -> Bool { a.rawValue == b.rawValue }
        public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

        public init(from decoder: any Decoder) throws {
            self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
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
    public var outcome: Outcome
    /// Anything else worth keeping, as text: `backup`, `backupSHA256`, `reason`,
    /// `findings`, `excluded`, `support`, …
    public var detail: [String: String]

    /// A record to append; `Ledger.append` assigns `seq` and `time`.
    public init(kind: Kind, fix: String? = nil, class failureClass: String? = nil, strategy: String? = nil,
                outcome: Outcome, detail: [String: String] = [:]) {
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
                outcome: Outcome, detail: [String: String] = [:]) {
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
        outcome = try container.decode(Outcome.self, forKey: .outcome)
        detail = try container.decodeIfPresent([String: String].self, forKey: .detail) ?? [:]
    }
}
