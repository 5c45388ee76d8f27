import HealCore
import Testing

@Suite struct DiagnosisLearningTests {
    static func records(signature: String, failure: FailureClass, verified: Int, gaveUp: Int) -> [LedgerRecord] {
        var records: [LedgerRecord] = []
        for index in 0..<(verified + gaveUp) {
            let fix = "fix-\(index)"
            records.append(LedgerRecord(kind: .repair, fix: fix, failure: failure, strategy: "s", outcome: .validated,
                                        detail: ["signature": signature]))
            records.append(index < verified
                ? LedgerRecord(kind: .verification, fix: fix, failure: failure, strategy: "s", outcome: .good)
                : LedgerRecord(kind: .giveUp, fix: fix, failure: failure, strategy: "s", outcome: .needsPerson))
        }
        return records
    }

    @Test func verifiedRepairsConfirmTheirSignatureAndGiveUpsRefuteIt() throws {
        let signature = try #require(KnowledgeBase.builtIn.signatures.first)
        let failure = signature.then.rootCause
        let learning = DiagnosisLearning(records: Self.records(signature: signature.id, failure: failure, verified: 3, gaveUp: 1))
        #expect(learning.signatures[signature.id] == DiagnosisLearning.Proof(confirmed: 3, refuted: 1))
        #expect(learning.namedCauses == [failure.stage: 3])

        let prior = signature.then.confidence
        let learned = learning.applied(to: .builtIn).confidence(of: signature)
        #expect(abs(learned - (prior * 4 + 3) / 8) < 1e-9)

        let refuted = DiagnosisLearning(records: Self.records(signature: signature.id, failure: failure, verified: 0, gaveUp: 4))
        #expect(refuted.applied(to: .builtIn).confidence(of: signature) < prior / 1.9, "a cause no repair fixed loses confidence")
        #expect(DiagnosisLearning(records: []).applied(to: .builtIn) == .builtIn)
    }

    /// The stage whose step named the verified causes runs first, with the reason; the rest
    /// keep the boot chain's order.
    @Test func stepsThatNamedVerifiedCausesMoveUpThePlan() {
        var plan = DiagnosisPlan(defaultKernel: nil, namedCauses: [.initramfs: 2, .fstab: 5])
        let first = plan.next(), second = plan.next(), third = plan.next()
        #expect(first?.probe == .detectors(.fstab))
        #expect(first?.reason == "moved up: it named the cause of 5 repairs verified on this machine")
        #expect(second?.probe == .detectors(.initramfs))
        #expect(third?.probe == .detectors(.bootloader) && third?.reason == nil)
        var plain = DiagnosisPlan(defaultKernel: nil)
        #expect(plain.next()?.probe == .detectors(DiagnosisStage.allCases.sorted()[0]))
    }
}
