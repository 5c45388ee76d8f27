/// What `clarity-heal verify` decides after the boot that follows a repair (issue 4 §4;
/// the seed's SystemBoot handler): the checks, from what the detectors saw, and the next
/// step, from the checks and the attempts so far. Pure; HealSystem runs the detectors
/// and carries the step out.
public enum VerificationPlan {
    /// What the detectors saw on the booted root.
    public struct Observation: Sendable, Hashable {
        /// The class the fix repaired.
        public var repaired: FailureClass
        /// Every finding of the detectors that ran (the repaired class's and the core
        /// classes').
        public var findings: [Finding]
        /// Detectors of the repaired class that could not look, with why: the class is
        /// then not proven gone.
        public var unchecked: [String]
        /// Classes that were already found before the repair and that it did not address
        /// (from the fix's diagnosis): still there is not the fix's fault.
        public var preexisting: Set<FailureClass>
        /// The classes whose detectors prove the boot chain (`Validator.coreClasses`).
        public var coreClasses: Set<FailureClass>
        /// Units that failed on the boot after the repair; nil when there is no journal.
        public var failedUnits: [String]?
        /// `Thresholds.failedUnits`.
        public var failedUnitThreshold: Int

        public init(repaired: FailureClass, findings: [Finding], unchecked: [String] = [],
                    preexisting: Set<FailureClass> = [], coreClasses: Set<FailureClass>,
                    failedUnits: [String]?, failedUnitThreshold: Int) {
            self.repaired = repaired
            self.findings = findings
            self.unchecked = unchecked
            self.preexisting = preexisting
            self.coreClasses = coreClasses
            self.failedUnits = failedUnits
            self.failedUnitThreshold = failedUnitThreshold
        }
    }

    /// The three checks: `resolved`, `core-boot-chain`, `failed-units`.
    public static func checks(_ seen: Observation) -> [ValidationReport.Check] {
        var checks: [ValidationReport.Check] = []
        let remaining = seen.findings.filter { $0.failureClass == seen.repaired }
        let resolved = remaining.isEmpty && seen.unchecked.isEmpty
        checks.append(.init(
            name: "resolved", verdict: resolved ? .passed : .failed,
            detail: resolved ? "\(seen.repaired.rawValue) no longer detected"
                : (remaining.map { "still detected: \($0.summary)" } + seen.unchecked.map { "could not check: \($0)" })
                    .joined(separator: "; ")))

        let core = seen.findings.filter { seen.coreClasses.contains($0.failureClass) && $0.failureClass != seen.repaired }
        let broken = core.filter { !seen.preexisting.contains($0.failureClass) }
        let pending = Set(core.map(\.failureClass)).subtracting(broken.map(\.failureClass))
        var detail = broken.isEmpty ? "default entry, kernel, initrd, modules, root=, fstab and init intact"
            : "broken: " + broken.map { "\($0.failureClass.rawValue): \($0.summary)" }.joined(separator: "; ")
        if !pending.isEmpty {
            detail += " (still pending from before: " + pending.map(\.rawValue).sorted().joined(separator: ", ") + ")"
        }
        checks.append(.init(name: "core-boot-chain", verdict: broken.isEmpty ? .passed : .failed, detail: detail))

        if let units = seen.failedUnits {
            let ok = units.count < seen.failedUnitThreshold
            checks.append(.init(
                name: "failed-units", verdict: ok ? .passed : .failed,
                detail: "\(units.count) unit\(units.count == 1 ? "" : "s") failed on this boot (threshold \(seen.failedUnitThreshold))"
                    + (units.isEmpty ? "" : ": " + units.joined(separator: ", "))))
        } else {
            checks.append(.init(name: "failed-units", verdict: .notRun, detail: "no persistent journal to count failed units in"))
        }
        return checks
    }

    /// What to do after the checks.
    public enum Step: Sendable, Hashable {
        /// The fix holds: record it good, clear the flag, reset the boot counter.
        case markGood
        /// Roll back, then repair again without `excluding` (every strategy that failed
        /// verification for this failure); `attempt` is the number the next fix gets.
        case rollBackAndRetry(attempt: Int, excluding: [String])
        /// Roll back and stop: the bound is reached. A person must act.
        case rollBackAndStop(reason: String)
    }

    /// - Parameters:
    ///   - attempt: which fix for this failure was verified, from 1.
    ///   - failedStrategies: the strategies whose verification failed for this failure,
    ///     this one included, oldest first.
    public static func nextStep(checks: [ValidationReport.Check], attempt: Int, maxAttempts: Int,
                                failedStrategies: [String]) -> Step {
        guard checks.contains(where: { $0.verdict == .failed }) else { return .markGood }
        var excluded: [String] = []
        for id in failedStrategies where !excluded.contains(id) { excluded.append(id) }
        if attempt >= maxAttempts {
            return .rollBackAndStop(reason: "\(attempt) fix\(attempt == 1 ? "" : "es") failed verification after the reboot (MaxAttempts=\(maxAttempts))")
        }
        return .rollBackAndRetry(attempt: attempt + 1, excluding: excluded)
    }

    /// The support reference a person is given: the command that prints the record.
    public static func supportReference(fix: String) -> String {
        "clarity-heal report \(fix)"
    }

    /// What a person should do when clarity-heal stops.
    /// - Parameter kept: the last fix stays in place (its boot came up; the state before it
    ///   did not boot).
    public static func advice(fix: String, failureClass: FailureClass, reason: String, tried: [String],
                              kept: Bool = false) -> String {
        var text = "clarity-heal stopped repairing \(failureClass.rawValue): \(reason). "
        text += kept
            ? "The last fix stays in place: the machine booted with it and did not boot before it, so it is left on "
                + "the last state that booted; `clarity-heal rollback \(fix)` undoes it. "
            : "The last fix was rolled back; the machine is on its last good state. "
        if !tried.isEmpty { text += "Strategies that failed after the reboot: \(tried.joined(separator: ", ")). " }
        text += "What a person can do: \(ManualSteps.advice(for: failureClass)). "
        text += "Support reference: \(fix) — `\(supportReference(fix: fix))` prints the record."
        return text
    }
}
