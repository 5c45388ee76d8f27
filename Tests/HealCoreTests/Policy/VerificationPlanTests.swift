import Testing
@testable import HealCore

@Suite("VerificationPlan")
struct VerificationPlanTests {
    static let core: Set<FailureClass> = [.fstabUnresolvableSource, .initramfsMissing, .initMissing]

    static func finding(_ failureClass: FailureClass) -> Finding {
        Finding(failureClass, summary: "\(failureClass.rawValue) seen", evidence: [])
    }

    @Test func aCleanBootPassesEveryCheck() {
        let checks = VerificationPlan.checks(.init(repaired: .fstabUnresolvableSource, findings: [], coreClasses: Self.core,
                                                   failedUnits: [], failedUnitThreshold: 3))
        #expect(checks.map(\.name) == ["resolved", "core-boot-chain", "failed-units"])
        #expect(checks.allSatisfy { $0.verdict == .passed })
        #expect(VerificationPlan.nextStep(checks: checks, attempt: 1, maxAttempts: 3, failedStrategies: []) == .markGood)
    }

    @Test func theRepairedClassStillThereFails() {
        let checks = VerificationPlan.checks(.init(repaired: .fstabUnresolvableSource, findings: [Self.finding(.fstabUnresolvableSource)],
                                                   coreClasses: Self.core, failedUnits: nil, failedUnitThreshold: 3))
        #expect(checks[0].verdict == .failed)
        #expect(checks[0].detail == "still detected: fstab-unresolvable-source seen")
        // The repaired class is judged by `resolved`, not twice.
        #expect(checks[1].verdict == .passed)
        #expect(checks[2].verdict == .notRun)
    }

    @Test func aDetectorThatCouldNotLookIsNotAPass() {
        let checks = VerificationPlan.checks(.init(repaired: .initMissing, findings: [], unchecked: ["init: permission denied"],
                                                   coreClasses: Self.core, failedUnits: [], failedUnitThreshold: 3))
        #expect(checks[0].verdict == .failed)
    }

    @Test func coreBreakageFailsUnlessItWasThereBefore() {
        let new = VerificationPlan.checks(.init(repaired: .fstabUnresolvableSource, findings: [Self.finding(.initramfsMissing)],
                                                coreClasses: Self.core, failedUnits: [], failedUnitThreshold: 3))
        #expect(new[1].verdict == .failed)
        let old = VerificationPlan.checks(.init(repaired: .fstabUnresolvableSource, findings: [Self.finding(.initramfsMissing)],
                                                preexisting: [.initramfsMissing], coreClasses: Self.core,
                                                failedUnits: [], failedUnitThreshold: 3))
        #expect(old[1].verdict == .passed)
        #expect(old[1].detail.hasSuffix("(still pending from before: initramfs-missing)"))
        // A class outside the core (accounts) is no part of this check.
        let other = VerificationPlan.checks(.init(repaired: .fstabUnresolvableSource, findings: [Self.finding(.accountDatabaseBroken)],
                                                  coreClasses: Self.core, failedUnits: [], failedUnitThreshold: 3))
        #expect(other.allSatisfy { $0.verdict == .passed })
    }

    @Test(arguments: [(2, true), (3, false), (5, false)])
    func failedUnitsCountAgainstTheThreshold(count: Int, passes: Bool) {
        let units = (0..<count).map { "u\($0).service" }
        let checks = VerificationPlan.checks(.init(repaired: .fstabInvalidEntry, findings: [], coreClasses: Self.core,
                                                   failedUnits: units, failedUnitThreshold: 3))
        #expect((checks[2].verdict == .passed) == passes)
        #expect(checks[2].detail.hasPrefix("\(count) units failed on this boot (threshold 3)"))
    }

    static let failing = [ValidationReport.Check(name: "resolved", verdict: .failed, detail: "still detected")]

    @Test(arguments: [
        (1, 3, ["a"], VerificationPlan.Step.rollBackAndRetry(attempt: 2, excluding: ["a"])),
        (2, 3, ["a", "b", "a"], .rollBackAndRetry(attempt: 3, excluding: ["a", "b"])),
        (3, 3, ["a", "b", "c"], .rollBackAndStop(reason: "3 fixes failed verification after the reboot (MaxAttempts=3)")),
        (1, 1, ["a"], .rollBackAndStop(reason: "1 fix failed verification after the reboot (MaxAttempts=1)")),
    ])
    func theAttemptBound(attempt: Int, max: Int, failed: [String], step: VerificationPlan.Step) {
        #expect(VerificationPlan.nextStep(checks: Self.failing, attempt: attempt, maxAttempts: max, failedStrategies: failed) == step)
    }

    @Test func notRunIsNotAFailure() {
        let checks = [ValidationReport.Check(name: "failed-units", verdict: .notRun, detail: "")]
        #expect(VerificationPlan.nextStep(checks: checks, attempt: 3, maxAttempts: 3, failedStrategies: []) == .markGood)
    }

    @Test func adviceNamesTheRecord() {
        let text = VerificationPlan.advice(fix: "fix-9", failureClass: .fstabUnresolvableSource, reason: "no strategy left",
                                           tried: ["fstab-add-nofail"])
        #expect(text.contains("Support reference: fix-9 — `clarity-heal report fix-9` prints the record."))
        #expect(text.contains("fstab-add-nofail"))
    }
}
