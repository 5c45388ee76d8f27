/// What one machine's ledger says about one strategy for one failure signature: how often it
/// was tried on a clone, validated there, came up on the boot after it, was verified good,
/// and was rolled back (issue 12, local learning).
///
/// The signature is the failure class slug: the unit the catalogue's strategies are written
/// for and the one the ledger records on every repair.
public struct StrategyEvidence: Sendable, Hashable, Codable {
    /// Runs on a clone (validated or not).
    public var tried = 0
    /// Runs that validated on the clone.
    public var validated = 0
    /// Fixes whose next boot came up far enough to verify them (good or failed).
    public var booted = 0
    /// Fixes verified good after the reboot.
    public var verified = 0
    /// Fixes that failed verification.
    public var failedVerification = 0
    /// Fixes taken back from their backup (after a failed verification, or by a person).
    public var rolledBack = 0
    /// Fixes that failed after they were applied: failed verification or rolled back, each
    /// fix once.
    public var failedFixes = 0

    public init(tried: Int = 0, validated: Int = 0, booted: Int = 0, verified: Int = 0,
                failedVerification: Int = 0, rolledBack: Int = 0, failedFixes: Int = 0) {
        self.tried = tried
        self.validated = validated
        self.booted = booted
        self.verified = verified
        self.failedVerification = failedVerification
        self.rolledBack = rolledBack
        self.failedFixes = failedFixes
    }

    /// Outcomes that count for the strategy: a fix verified good.
    public var successes: Int { verified }
    /// Outcomes that count against it: a run that did not validate on the clone, and a fix
    /// that failed once applied.
    public var failures: Int { (tried - validated) + failedFixes }

    public var isEmpty: Bool { self == StrategyEvidence() }
}

/// The ledger's records read as evidence, per (signature, strategy).
public struct LedgerEvidence: Sendable, Hashable {
    public struct Key: Sendable, Hashable, Comparable {
        public var signature: String
        public var strategy: String

        public init(signature: String, strategy: String) {
            self.signature = signature
            self.strategy = strategy
        }

        public static func < (a: Key, b: Key) -> Bool { (a.signature, a.strategy) < (b.signature, b.strategy) }
    }

    public var evidence: [Key: StrategyEvidence] = [:]

    public init(evidence: [Key: StrategyEvidence] = [:]) {
        self.evidence = evidence
    }

    public func of(signature: String, strategy: String) -> StrategyEvidence {
        evidence[Key(signature: signature, strategy: strategy)] ?? StrategyEvidence()
    }

    /// Reads `records` in ledger order. A repair record names the strategy that validated and,
    /// in `tried`, every strategy run before it (or, for `unrepairable`, every one run);
    /// verification and rollback records name the fix's strategy. Each fix counts once as
    /// booted, verified, failed or rolled back however many records repeat it.
    public init(records: [LedgerRecord]) {
        var seen: Set<String> = []
        func once(_ fix: String?, _ what: String) -> Bool {
            guard let fix else { return true }
            return seen.insert(what + " " + fix).inserted
        }
        for record in records {
            guard let signature = record.failureClass, !signature.isEmpty else { continue }
            func add(_ strategy: String, _ change: (inout StrategyEvidence) -> Void) {
                change(&evidence[Key(signature: signature, strategy: strategy), default: StrategyEvidence()])
            }
            let tried = (record.detail["tried"] ?? "").split(separator: " ").map(String.init)
            switch (record.kind, record.outcome) {
            case (.repair, .validated):
                guard let strategy = record.strategy else { continue }
                for other in tried where other != strategy { add(other) { $0.tried += 1 } }
                add(strategy) { $0.tried += 1; $0.validated += 1 }
            case (.repair, .unrepairable):
                for strategy in tried { add(strategy) { $0.tried += 1 } }
            case (.verification, .good):
                guard let strategy = record.strategy, once(record.fix, "verified") else { continue }
                add(strategy) { $0.booted += 1; $0.verified += 1 }
            case (.verification, .failed):
                guard let strategy = record.strategy, once(record.fix, "failed-verification") else { continue }
                add(strategy) { evidence in
                    evidence.booted += 1
                    evidence.failedVerification += 1
                    if once(record.fix, "failed") { evidence.failedFixes += 1 }
                }
            case (.rollback, .rolledBack):
                guard let strategy = record.strategy, once(record.fix, "rolled-back") else { continue }
                add(strategy) { evidence in
                    evidence.rolledBack += 1
                    if once(record.fix, "failed") { evidence.failedFixes += 1 }
                }
            default:
                continue
            }
        }
    }
}
