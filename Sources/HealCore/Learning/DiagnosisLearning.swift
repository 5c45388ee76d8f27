/// What the ledger proved about diagnoses (issue 12, local learning): which knowledge-base
/// signatures named a cause that a repair then fixed (a fix verified good), which named one
/// no repair fixed (the episode gave up), and which stage's step named the causes fixed.
///
/// A repair record carries the signature that concluded its cause (`detail["signature"]`);
/// the verification and give-up records are tied to it by the fix id.
public struct DiagnosisLearning: Sendable, Hashable {
    public struct Proof: Sendable, Hashable, Encodable {
        /// Episodes where a fix for the cause it named was verified good.
        public var confirmed = 0
        /// Episodes that gave up: no repair of the cause it named held.
        public var refuted = 0

        public init(confirmed: Int = 0, refuted: Int = 0) {
            self.confirmed = confirmed
            self.refuted = refuted
        }
    }

    /// Per knowledge-base signature id.
    public var signatures: [String: Proof] = [:]
    /// Per stage: the verified repairs whose cause that stage's step named.
    public var namedCauses: [DiagnosisStage: Int] = [:]

    public init(signatures: [String: Proof] = [:], namedCauses: [DiagnosisStage: Int] = [:]) {
        self.signatures = signatures
        self.namedCauses = namedCauses
    }

    public init(records: [LedgerRecord]) {
        var causeOf: [String: (signature: String?, failure: FailureClass?)] = [:]
        var counted: Set<String> = []
        for record in records {
            guard let fix = record.fix else { continue }
            switch (record.kind, record.outcome) {
            case (.repair, .validated):
                causeOf[fix] = (record.detail["signature"].flatMap { $0.isEmpty ? nil : $0 }, record.failure)
            case (.verification, .good):
                guard let cause = causeOf[fix], counted.insert("good " + fix).inserted else { continue }
                if let signature = cause.signature { signatures[signature, default: Proof()].confirmed += 1 }
                if let failure = cause.failure { namedCauses[failure.stage, default: 0] += 1 }
            case (.giveUp, _):
                guard let signature = causeOf[fix]?.signature, counted.insert("gave up " + fix).inserted else { continue }
                signatures[signature, default: Proof()].refuted += 1
            default:
                continue
            }
        }
    }

    /// How many outcomes a signature's own confidence is worth.
    public static let priorWeight = 4.0

    /// The knowledge base with each proven signature's confidence moved by its proof: the
    /// posterior mean of Beta(c·w + confirmed, (1−c)·w + refuted), c the confidence in force.
    public func applied(to knowledge: KnowledgeBase) -> KnowledgeBase {
        var learned = knowledge
        for signature in knowledge.signatures {
            guard let proof = signatures[signature.id], proof.confirmed + proof.refuted > 0 else { continue }
            let prior = knowledge.confidence(of: signature)
            let value = (prior * Self.priorWeight + Double(proof.confirmed)) / (Self.priorWeight + Double(proof.confirmed + proof.refuted))
            try? learned.overrideConfidence(max(0, min(1, value)), for: signature.id)
        }
        return learned
    }
}
