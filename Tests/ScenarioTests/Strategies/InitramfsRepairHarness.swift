import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// One repair tried the way the engine tries it: a broken overlay copy of the real root,
/// an overlay environment over it, the strategy planned on the clone, executed there, and
/// the clone validated.
final class KernelRepairCase {
    let copy: OverlayCopy
    let scratch: TemporaryDirectory
    let environment: OverlayEnvironment
    let detectors: [any Detector]
    /// Detection as on the boot path of a counted boot (unit failures of the boot before).
    let countsCurrentBoot: Bool

    init(detectors: [any Detector] = Detectors.all, countsCurrentBoot: Bool = false,
         breakRoot: (OverlayCopy) throws -> Void) throws {
        copy = try TestRoot.writableCopy()
        try breakRoot(copy)
        scratch = try TemporaryDirectory(prefix: "env")
        environment = try OverlayEnvironment(lower: try SystemRoot(copy.path), scratch: scratch.path + "/env")
        self.detectors = detectors
        self.countsCurrentBoot = countsCurrentBoot
    }

    var detection: DetectionContext {
        DetectionContext(root: environment.root, extraDevices: [TestRoot.image], countsCurrentBoot: countsCurrentBoot)
    }

    func context(_ finding: Finding) -> RepairContext {
        RepairContext(root: environment.root, finding: finding, extraDevices: [TestRoot.image])
    }

    /// The finding of `failureClass` on the broken clone.
    func finding(_ failureClass: FailureClass) throws -> Finding {
        let report = DetectionEngine(detectors: detectors).run(detection)
        return try #require(report.findings.first { $0.failureClass == failureClass },
                            "no \(failureClass.rawValue) in \(report.findings.map(\.summary))")
    }

    struct Outcome {
        var operations: [RepairOperation]
        var outcomes: [OperationOutcome]
        var changes: Changeset
        var report: ValidationReport
        var remaining: [Finding]
        var seconds: Double

        var succeeded: Bool { outcomes.count == operations.count && outcomes.allSatisfy(\.succeeded) }
        func verdict(_ name: String) -> ValidationReport.Verdict? { report.checks.first { $0.name == name }?.verdict }
    }

    /// Plans `strategy` for `finding`, executes it in a fresh layer and validates the clone.
    func repair(_ strategy: any RepairStrategy, _ finding: Finding) throws -> Outcome {
        let baseline = DetectionEngine(detectors: detectors).run(detection)
        let snapshot = try environment.snapshot()
        let context = context(finding)
        #expect(strategy.unmetPrecondition(context) == nil)
        let operations = try strategy.plan(context)
        let start = Date()
        let outcomes = environment.execute(operations)
        let seconds = Date().timeIntervalSince(start)
        let changes = try environment.changes(since: snapshot)
        let report = Validator(detectors: detectors).validate(
            repairing: finding.failureClass, context: detection, baseline: baseline,
            operations: operations, changes: changes)
        let remaining = DetectionEngine(detectors: detectors).run(detection).findings
            .filter { $0.failureClass == finding.failureClass }
        return Outcome(operations: operations, outcomes: outcomes, changes: changes, report: report,
                       remaining: remaining, seconds: seconds)
    }

    /// The checks every successful repair must pass.
    static func expectRepaired(_ outcome: Outcome, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.succeeded, "\(outcome.outcomes.map(\.detail))", sourceLocation: sourceLocation)
        #expect(outcome.remaining.isEmpty, "\(outcome.remaining.map(\.summary))", sourceLocation: sourceLocation)
        #expect(outcome.report.passed, "\(outcome.report.checks.map { "\($0.name): \($0.verdict) \($0.detail)" })",
                sourceLocation: sourceLocation)
        for name in ["resolved", "no-regressions", "changes-declared", "core-boot-chain"] {
            #expect(outcome.verdict(name) == .passed, "\(name)", sourceLocation: sourceLocation)
        }
        #expect(outcome.verdict("boot") == .notRun, sourceLocation: sourceLocation)
    }
}
