import HealCore
import Testing

@Suite struct StrategyLearningTests {
    static let nofail = StrategyDescriptor(id: "fstab-add-nofail", title: "", classes: [.fstabUnresolvableSource], risk: 1,
                                           sideEffects: "", priorEffectiveness: 0.9, estimatedSeconds: 30)
    static let comment = StrategyDescriptor(id: "fstab-comment-out", title: "", classes: [.fstabUnresolvableSource], risk: 3,
                                            sideEffects: "", priorEffectiveness: 0.7, estimatedSeconds: 30)
    static let signature = FailureClass.fstabUnresolvableSource.rawValue
    static let day: Int64 = 86_400

    static func record(_ kind: LedgerRecord.Kind, _ outcome: LedgerRecord.Outcome, fix: String?, strategy: String?,
                       detail: [String: String] = [:]) -> LedgerRecord {
        LedgerRecord(kind: kind, fix: fix, class: signature, strategy: strategy, outcome: outcome, detail: detail)
    }

    /// The ledger of a fix that validated after another strategy failed on the clone, was
    /// applied, failed verification and was rolled back; and of one verified good.
    @Test func theLedgerIsReadAsOutcomesPerStrategy() {
        let records = [
            Self.record(.repair, .validated, fix: "fix-1", strategy: "fstab-add-nofail",
                        detail: ["tried": "fstab-mount-by-uuid fstab-add-nofail"]),
            Self.record(.apply, .applied, fix: "fix-1", strategy: "fstab-add-nofail"),
            Self.record(.verification, .failed, fix: "fix-1", strategy: "fstab-add-nofail"),
            Self.record(.verification, .failed, fix: "fix-1", strategy: "fstab-add-nofail"),
            Self.record(.rollback, .rolledBack, fix: "fix-1", strategy: "fstab-add-nofail"),
            Self.record(.repair, .validated, fix: "fix-2", strategy: "fstab-comment-out", detail: ["tried": "fstab-comment-out"]),
            Self.record(.verification, .good, fix: "fix-2", strategy: "fstab-comment-out"),
            Self.record(.repair, .unrepairable, fix: nil, strategy: nil, detail: ["tried": "fstab-mount-by-uuid"]),
            LedgerRecord(kind: .verification, fix: "fix-3", class: nil, strategy: "x", outcome: .good),
        ]
        let evidence = LedgerEvidence(records: records)
        #expect(evidence.of(signature: Self.signature, strategy: "fstab-add-nofail")
                == StrategyEvidence(tried: 1, validated: 1, booted: 1, verified: 0, failedVerification: 1, rolledBack: 1, failedFixes: 1))
        #expect(evidence.of(signature: Self.signature, strategy: "fstab-comment-out")
                == StrategyEvidence(tried: 1, validated: 1, booted: 1, verified: 1))
        let uuid = evidence.of(signature: Self.signature, strategy: "fstab-mount-by-uuid")
        #expect(uuid == StrategyEvidence(tried: 2))
        #expect(uuid.failures == 2 && uuid.successes == 0)
        #expect(evidence.evidence.count == 3, "a record without a class is no evidence")
    }

    /// A strategy skipped for an unmet precondition (or that could not plan) did not run on
    /// the clone: a repair record names only those that ran, so the skipped one is no
    /// evidence against it.
    @Test func aSkippedStrategyIsNotTriedAndCountsAgainstNothing() {
        let attempts = [
            FixManifest.Attempt(strategy: "fstab-repoint-source", validated: false, notes: ["precondition not met: no other disk"], operations: []),
            FixManifest.Attempt(strategy: Self.comment.id, validated: false, notes: ["still detected"], operations: ["write /etc/fstab"]),
            FixManifest.Attempt(strategy: Self.nofail.id, validated: true, notes: [], operations: ["write /etc/fstab"]),
        ]
        #expect(attempts.triedDetail == "fstab-comment-out fstab-add-nofail")
        let records = [LedgerRecord(kind: .repair, fix: "f", class: Self.signature, strategy: Self.nofail.id, outcome: .validated,
                                    detail: ["tried": attempts.triedDetail])]
        let evidence = LedgerEvidence(records: records)
        #expect(evidence.of(signature: Self.signature, strategy: "fstab-repoint-source").isEmpty)
        #expect(evidence.of(signature: Self.signature, strategy: Self.comment.id).failures == 1)
    }

    @Test func theScoreIsTheBetaPosteriorMean() {
        #expect(abs(StrategyLearning.score(prior: 0.9, successes: 0, failures: 2) - 0.6) < 1e-9)
        #expect(abs(StrategyLearning.score(prior: 0.7, successes: 0, failures: 0) - 0.7) < 1e-9)
        #expect(abs(StrategyLearning.score(prior: 0.5, successes: 4, failures: 0) - 0.75) < 1e-9)
    }

    @Test func withoutOutcomesTheCatalogueOrderStands() {
        let ranked = StrategyLearning().rank([Self.nofail, Self.comment], signature: Self.signature)
        #expect(ranked.map(\.0.id) == ["fstab-add-nofail", "fstab-comment-out"])
        #expect(ranked.map(\.1.position) == [1, 2])
        #expect(ranked[0].1.why == "prior 0.90; no outcomes here; score 0.90: stays at 1")
    }

    /// Two failed fixes here move the first-ranked strategy down, and the text says why.
    @Test func localFailuresMoveAStrategyDown() {
        let local = LedgerEvidence(evidence: [.init(signature: Self.signature, strategy: "fstab-add-nofail"):
            StrategyEvidence(tried: 2, validated: 2, booted: 2, failedVerification: 2, rolledBack: 2, failedFixes: 2)])
        let ranked = StrategyLearning(local: local).rank([Self.nofail, Self.comment], signature: Self.signature)
        #expect(ranked.map(\.0.id) == ["fstab-comment-out", "fstab-add-nofail"])
        let moved = ranked[1].1
        #expect(moved.priorPosition == 1 && moved.position == 2)
        #expect(abs(moved.score - 0.6) < 1e-9)
        #expect(moved.why == "prior 0.90; here: 2 tried, 2 validated on the clone, 0 verified good, 2 failed after apply; score 0.60: moved down from 1 to 2")
        #expect(ranked[0].1.why.hasSuffix("moved up from 2 to 1"))
    }

    static func insight(_ strategy: String, successes: Int, failures: Int, ageDays: Int64, now: Int64) -> FleetInsight {
        FleetInsight(signature: signature, strategy: strategy, profile: "debian-12 6.1 grub initramfs-tools",
                     successes: successes, failures: failures,
                     confidence: FleetInsight.confidence(successes: successes, outcomes: successes + failures),
                     generated: now - ageDays * day)
    }

    /// The fleet saw `fstab-add-nofail` fail 20 times: it drops below the second; an insight
    /// that is too young in evidence or too old changes nothing, and says why.
    @Test func fleetInsightsCountOnlyWhenSureAndRecent() {
        let now: Int64 = 1_800_000_000
        let sure = Self.insight("fstab-add-nofail", successes: 0, failures: 20, ageDays: 2, now: now)
        #expect(sure.confidence >= 0.7)
        let ranked = StrategyLearning(insights: [sure], now: now).rank([Self.nofail, Self.comment], signature: Self.signature)
        #expect(ranked.map(\.0.id) == ["fstab-comment-out", "fstab-add-nofail"])
        #expect(ranked[1].1.fleet == sure)
        #expect(ranked[1].1.why.contains("fleet: 0 of 20 succeeded (confidence 0.84)"), "\(ranked[1].1.why)")

        let unsure = Self.insight("fstab-add-nofail", successes: 0, failures: 5, ageDays: 2, now: now)
        #expect(unsure.confidence < 0.7)
        let old = Self.insight("fstab-add-nofail", successes: 0, failures: 20, ageDays: 31, now: now)
        for ignored in [unsure, old] {
            let learning = StrategyLearning(insights: [ignored], now: now)
            #expect(learning.rank([Self.nofail, Self.comment], signature: Self.signature).map(\.0.id)
                    == ["fstab-add-nofail", "fstab-comment-out"])
            #expect(learning.insightUses(signature: Self.signature).map(\.ignored) == [
                ignored == old ? "31 days old, older than MaxAgeDays 30" : "confidence \(StrategyLearning.figure(unsure.confidence)) is below MinConfidence 0.70",
            ])
        }
        // The site may trust the fleet sooner.
        var settings = FleetSettings()
        settings.minConfidence = 0.5
        #expect(StrategyLearning(insights: [unsure], settings: settings, now: now)
            .rank([Self.nofail, Self.comment], signature: Self.signature).first?.0.id == "fstab-comment-out")
        // An insight about another signature changes nothing.
        #expect(StrategyLearning(insights: [sure], now: now).rank([Self.nofail, Self.comment], signature: "init-missing")
            .first?.0.id == "fstab-add-nofail")
    }

    @Test func confidenceGrowsWithAgreeingOutcomes() {
        #expect(FleetInsight.confidence(successes: 0, outcomes: 0) == 0)
        #expect(FleetInsight.confidence(successes: 1, outcomes: 3) < 0.5)
        #expect(FleetInsight.confidence(successes: 0, outcomes: 8) < 0.7)
        #expect(FleetInsight.confidence(successes: 0, outcomes: 12) >= 0.7)
        #expect(FleetInsight.confidence(successes: 500, outcomes: 1000) > 0.9)
    }

    @Test func fleetSettingsAreRead() throws {
        var config = Config()
        try config.set(section: "Fleet", key: "MinConfidence", value: "0.8")
        try config.set(section: "Fleet", key: "MaxAgeDays", value: "7")
        try config.set(section: "Fleet", key: "Server", value: "http://127.0.0.1:8080")
        #expect(config.fleet.minConfidence == 0.8 && config.fleet.maxAgeDays == 7)
        #expect(Config.text(section: "Fleet", key: "Server", of: config) == "http://127.0.0.1:8080")
        #expect(throws: Config.SettingError.self) { try config.set(section: "Fleet", key: "MinConfidence", value: "1.5") }
        #expect(throws: Config.SettingError.self) { try config.set(section: "Fleet", key: "Server", value: "file:///etc/shadow") }
        #expect(config.resetToDefault(section: "Fleet", key: "MinConfidence") == "0.7")
    }
}
