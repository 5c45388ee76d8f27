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

    /// Tallies the ledger's outcomes (`StrategyOutcome.read`) per signature and strategy.
    public init(records: [LedgerRecord]) {
        var failed: Set<String> = []
        for outcome in StrategyOutcome.read(records) {
            let key = Key(signature: outcome.signature, strategy: outcome.strategy)
            var tally = evidence[key] ?? StrategyEvidence()
            switch outcome.result {
            case .validated: tally.tried += 1; tally.validated += 1
            case .failedValidation: tally.tried += 1
            case .verified: tally.booted += 1; tally.verified += 1
            case .failedVerification: tally.booted += 1; tally.failedVerification += 1
            case .rolledBack: tally.rolledBack += 1
            case .gaveUp: break
            }
            // A fix that failed verification and was rolled back failed once.
            if [.failedVerification, .rolledBack].contains(outcome.result), let fix = outcome.fix,
               failed.insert(outcome.strategy + " " + fix).inserted {
                tally.failedFixes += 1
            }
            evidence[key] = tally
        }
    }
}

/// One strategy's outcome as the ledger records it: the one reading of the ledger that both
/// this machine's ranking (`LedgerEvidence`) and what it sends to the fleet (`Anonymizer`)
/// are made from.
///
/// A repair record names the strategy that validated and, in `tried`, every strategy run
/// before it (for `unrepairable`, every one run); verification, rollback and give-up records
/// name the fix's strategy. Each fix counts at most once per result however many records
/// repeat it.
public struct StrategyOutcome: Sendable, Hashable {
    public enum Result: Sendable, Hashable {
        case validated, failedValidation, verified, failedVerification, rolledBack, gaveUp
    }

    /// The record it was read from.
    public var seq: Int
    public var time: Int
    /// The failure class slug.
    public var signature: String
    public var strategy: String
    public var fix: String?
    public var result: Result

    public static func read(_ records: [LedgerRecord]) -> [StrategyOutcome] {
        var outcomes: [StrategyOutcome] = []
        var seen: Set<String> = []
        for record in records {
            guard let signature = record.failureClass, !signature.isEmpty else { continue }
            func add(_ strategy: String, _ result: Result) {
                if let fix = record.fix, !seen.insert("\(result) \(strategy) \(fix)").inserted { return }
                outcomes.append(StrategyOutcome(seq: record.seq, time: record.time, signature: signature, strategy: strategy,
                                                fix: record.fix, result: result))
            }
            let tried = (record.detail["tried"] ?? "").split(separator: " ").map(String.init)
            switch (record.kind, record.outcome) {
            case (.repair, .validated):
                guard let strategy = record.strategy else { continue }
                for other in tried where other != strategy { add(other, .failedValidation) }
                add(strategy, .validated)
            case (.repair, .unrepairable):
                for strategy in tried { add(strategy, .failedValidation) }
            case (.verification, .good):
                if let strategy = record.strategy { add(strategy, .verified) }
            case (.verification, .failed):
                if let strategy = record.strategy { add(strategy, .failedVerification) }
            case (.rollback, .rolledBack):
                if let strategy = record.strategy { add(strategy, .rolledBack) }
            case (.giveUp, _):
                if let strategy = record.strategy { add(strategy, .gaveUp) }
            default:
                continue
            }
        }
        return outcomes
    }
}
