/// What a repair strategy is, independent of any one system: the catalogue's row for it
/// (docs/failure-catalogue.md). Ranking uses only these numbers, so learning can replace the prior.
public struct StrategyDescriptor: Sendable, Hashable, Codable, Identifiable {
    /// A stable slug (`fstab-add-nofail`), used in fix packages, the ledger and learning.
    public var id: String
    /// One line for a person.
    public var title: String
    /// The failure classes it repairs.
    public var classes: [FailureClass]
    /// How much it changes beyond the fault, 0 (nothing else) to 10 (could lose data or
    /// access); side effects spelled out in `sideEffects`.
    public var risk: Int
    public var sideEffects: String
    /// Expected probability that it repairs its classes, before any learning.
    public var priorEffectiveness: Double
    /// Rough cost in seconds to run and validate it in an environment.
    public var estimatedSeconds: Int

    public init(id: String, title: String, classes: [FailureClass], risk: Int, sideEffects: String,
                priorEffectiveness: Double, estimatedSeconds: Int) {
        self.id = id
        self.title = title
        self.classes = classes
        self.risk = risk
        self.sideEffects = sideEffects
        self.priorEffectiveness = priorEffectiveness
        self.estimatedSeconds = estimatedSeconds
    }
}

/// Orders candidate strategies: expected effectiveness first (higher first), then risk
/// (lower first), then cost (cheaper first), then the id for a stable order.
public enum StrategyRanking {
    /// - Parameter effectiveness: the learned estimate for a strategy id, when there is one;
    ///   the descriptor's prior otherwise.
    public static func rank(_ candidates: [StrategyDescriptor],
                            effectiveness: (String) -> Double? = { _ in nil }) -> [StrategyDescriptor] {
        candidates.sorted { a, b in
            let ea = effectiveness(a.id) ?? a.priorEffectiveness
            let eb = effectiveness(b.id) ?? b.priorEffectiveness
            if ea != eb { return ea > eb }
            if a.risk != b.risk { return a.risk < b.risk }
            if a.estimatedSeconds != b.estimatedSeconds { return a.estimatedSeconds < b.estimatedSeconds }
            return a.id < b.id
        }
    }
}
