/// Ranks a class's candidate strategies by what is known of them: the catalogue's prior
/// effectiveness as a Beta prior, updated by this machine's outcomes (`LedgerEvidence`) and
/// by the fleet's insights that pass `FleetSettings` (issue 12).
///
/// The prior is worth `priorWeight` outcomes: Beta(p·w, (1−p)·w). Each success adds one to
/// the first parameter, each failure one to the second; the score is the posterior mean.
/// So a strategy with prior 0.9 that failed twice here scores (3.6 + 0)/(4 + 2) = 0.6 and
/// falls behind one with prior 0.7 and no outcomes. Ties keep the catalogue's order (risk,
/// then cost). Without any outcome every score is the prior, so the order is the catalogue's.
public struct StrategyLearning: Sendable {
    /// How many outcomes the catalogue's prior is worth.
    public static let priorWeight = 4.0

    public var local: LedgerEvidence
    public var insights: [FleetInsight]
    public var settings: FleetSettings
    /// Seconds since the epoch, for the age of insights.
    public var now: Int64

    public init(local: LedgerEvidence = LedgerEvidence(), insights: [FleetInsight] = [],
                settings: FleetSettings = FleetSettings(), now: Int64 = 0) {
        self.local = local
        self.insights = insights
        self.settings = settings
        self.now = now
    }

    /// An insight for the signature and why it does or does not count.
    public struct InsightUse: Sendable, Hashable, Encodable {
        public var insight: FleetInsight
        public var ageDays: Int
        /// Nil when it counts; otherwise why not.
        public var ignored: String?
    }

    /// Every insight about `signature`, each with whether it counts. An insight counts when
    /// its confidence is at least `MinConfidence`, it is at most `MaxAgeDays` old, and it is
    /// the newest for its strategy.
    public func insightUses(signature: String) -> [InsightUse] {
        let about = insights.filter { $0.signature == signature }
        var newest: [String: Int64] = [:]
        for insight in about { newest[insight.strategy] = max(newest[insight.strategy] ?? .min, insight.generated) }
        return about.map { insight in
            let ageDays = Int(max(0, now - insight.generated) / 86_400)
            let ignored: String? =
                if insight.confidence < settings.minConfidence {
                    "confidence \(Self.figure(insight.confidence)) is below MinConfidence \(Self.figure(settings.minConfidence))"
                } else if now - insight.generated > Int64(settings.maxAgeDays) * 86_400 {
                    "\(ageDays) days old, older than MaxAgeDays \(settings.maxAgeDays)"
                } else if insight.generated < newest[insight.strategy] ?? .min {
                    "a newer insight replaces it"
                } else {
                    nil
                }
            return InsightUse(insight: insight, ageDays: ageDays, ignored: ignored)
        }
    }

    /// A ranked candidate: where it stands and why.
    public struct Rank: Sendable, Hashable, Encodable {
        /// 1-based, after learning.
        public var position: Int
        /// 1-based, by the catalogue's prior alone.
        public var priorPosition: Int
        /// The catalogue's prior effectiveness.
        public var prior: Double
        /// This machine's outcomes.
        public var local: StrategyEvidence
        /// The fleet insight that counted, if any.
        public var fleet: FleetInsight?
        /// Posterior mean of the success probability.
        public var score: Double
        /// For a person: the prior, the outcomes, the score and the move.
        public var why: String
    }

    /// `candidates`, given in the catalogue's order (`StrategyRanking`, by the prior), in
    /// the learned order: by score, ties in the given order. Each with its rank.
    public func rank(_ candidates: [StrategyDescriptor], signature: String) -> [(StrategyDescriptor, Rank)] {
        let byPrior = candidates
        let counted = Dictionary(insightUses(signature: signature).filter { $0.ignored == nil }.map { ($0.insight.strategy, $0.insight) },
                                 uniquingKeysWith: { a, _ in a })
        var scores: [String: Double] = [:]
        for descriptor in byPrior {
            let local = self.local.of(signature: signature, strategy: descriptor.id)
            let fleet = counted[descriptor.id]
            scores[descriptor.id] = Self.score(prior: descriptor.priorEffectiveness,
                                               successes: local.successes + (fleet?.successes ?? 0),
                                               failures: local.failures + (fleet?.failures ?? 0))
        }
        let learned = byPrior.enumerated().sorted { a, b in
            let sa = scores[a.element.id] ?? a.element.priorEffectiveness, sb = scores[b.element.id] ?? b.element.priorEffectiveness
            return sa != sb ? sa > sb : a.offset < b.offset
        }.map(\.element)
        return learned.enumerated().map { index, descriptor in
            let priorPosition = (byPrior.firstIndex { $0.id == descriptor.id } ?? index) + 1
            let local = self.local.of(signature: signature, strategy: descriptor.id)
            let fleet = counted[descriptor.id]
            let score = scores[descriptor.id] ?? descriptor.priorEffectiveness
            return (descriptor, Rank(position: index + 1, priorPosition: priorPosition, prior: descriptor.priorEffectiveness,
                                     local: local, fleet: fleet, score: score,
                                     why: Self.why(prior: descriptor.priorEffectiveness, local: local, fleet: fleet, score: score,
                                                   position: index + 1, priorPosition: priorPosition)))
        }
    }

    /// The posterior mean of Beta(p·w + successes, (1−p)·w + failures).
    public static func score(prior: Double, successes: Int, failures: Int) -> Double {
        let p = max(0.001, min(0.999, prior))
        return (p * priorWeight + Double(successes)) / (priorWeight + Double(successes + failures))
    }

    static func why(prior: Double, local: StrategyEvidence, fleet: FleetInsight?, score: Double,
                    position: Int, priorPosition: Int) -> String {
        var parts = ["prior \(figure(prior))"]
        if local.isEmpty {
            parts.append("no outcomes here")
        } else {
            parts.append("here: \(local.tried) tried, \(local.validated) validated on the clone, \(local.verified) verified good, "
                         + "\(local.failedFixes) failed after apply")
        }
        if let fleet {
            parts.append("fleet: \(fleet.successes) of \(fleet.outcomes) succeeded (confidence \(figure(fleet.confidence)))")
        }
        parts.append("score \(figure(score))")
        let move =
            if position < priorPosition { "moved up from \(priorPosition) to \(position)" }
            else if position > priorPosition { "moved down from \(priorPosition) to \(position)" }
            else { "stays at \(position)" }
        return parts.joined(separator: "; ") + ": " + move
    }

    /// Two decimals, as a person reads a probability.
    public static func figure(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
