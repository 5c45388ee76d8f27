import HealCore

/// The validation suite run on the clone after a strategy (docs/failure-catalogue.md):
///
/// - `resolved`: the repaired class's detectors find nothing of that class;
/// - `no-regressions`: a full detection finds nothing that was not there before;
/// - `changes-declared`: the changeset touches only paths the operations declared;
/// - `core-boot-chain`: default entry → kernel, initrd readable with /init and the root's
///   drivers, module index loads, root= resolves, fstab resolves, init runs its
///   interpreter — the detectors of those classes, on the clone;
/// - `boot`, `stability`: only a microVM can boot the clone; elsewhere they are reported
///   as not run, never as passed.
public struct Validator: Sendable {
    /// The classes whose detectors prove the boot chain intact.
    public static let coreClasses: Set<FailureClass> = [
        .bootloaderDefaultInvalid, .initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver,
        .kernelModulesMissing, .rootDeviceMismatch, .fstabUnresolvableSource, .fstabInvalidEntry,
        .initMissing,
    ]

    /// Classes a clone cannot show resolved: their detector measures the filesystem.
    static let measuredOutsideTheClone: Set<FailureClass> = [.diskSpaceExhausted, .inodeExhausted]

    public var detectors: [any Detector]
    /// Set by the engine in an environment that boots the clone (`BootValidating`): the
    /// engine adds the boot checks itself.
    public var canBoot = false
    /// Why the repaired root is not booted when it is not (the microVM could not be used):
    /// the detail of the `not-run` boot checks.
    public var bootUnavailable = "booting the repaired root needs the microVM environment"

    public init(detectors: [any Detector] = Detectors.all) {
        self.detectors = detectors
    }

    /// Validates the clone in `context.root` after `operations` produced `changes`.
    /// - Parameter baseline: the full detection of the clone before the strategy ran.
    public func validate(repairing failureClass: FailureClass, context: DetectionContext,
                         baseline: DetectionReport, operations: [RepairOperation],
                         changes: Changeset) -> ValidationReport {
        let after = DetectionEngine(detectors: detectors).run(context)
        var checks: [ValidationReport.Check] = []

        let remaining = after.findings.filter { $0.failureClass == failureClass }
        if Self.measuredOutsideTheClone.contains(failureClass) {
            // statvfs of a clone measures its scratch space, not the examined filesystem: the
            // strategy itself refuses unless its projected usage is below the threshold.
            checks.append(.init(name: "resolved", verdict: .notRun,
                                detail: "usage of the examined filesystem cannot be measured on a clone; the strategy's projection is below the threshold"))
        } else {
            checks.append(.init(
                name: "resolved",
                verdict: remaining.isEmpty && !after.errors.contains { failed in
                    detectors.contains { $0.name == failed.detector && $0.classes.contains(failureClass) }
                } ? .passed : .failed,
                detail: remaining.isEmpty ? "\(failureClass.rawValue) no longer detected"
                    : "still detected: " + remaining.map(\.summary).joined(separator: "; ")))
        }

        let before = Set(baseline.findings.map(Self.identity))
        let new = after.findings.filter { $0.failureClass != failureClass && !before.contains(Self.identity($0)) }
        let newErrors = after.errors.filter { !baseline.errors.contains($0) }
        checks.append(.init(
            name: "no-regressions",
            verdict: new.isEmpty && newErrors.isEmpty ? .passed : .failed,
            detail: new.isEmpty && newErrors.isEmpty ? "nothing new detected"
                : "new: " + (new.map { "\($0.failureClass.rawValue): \($0.summary)" }
                    + newErrors.map { "\($0.detector) could not check: \($0.message)" }).joined(separator: "; ")))

        let undeclared = changes.undeclared(by: operations, canonical: context.root.canonical)
        checks.append(.init(
            name: "changes-declared",
            verdict: undeclared.isEmpty ? .passed : .failed,
            detail: undeclared.isEmpty ? "\(changes.modifiedPaths.count) paths changed, all declared"
                : "undeclared changes: " + undeclared.prefix(10).joined(separator: ", ")))

        // Core failures that were there before and are not this repair's business do not
        // fail this repair; they are named so a person sees them.
        let baselineClasses = Set(baseline.findings.map(\.failureClass))
        let core = after.findings.filter { Self.coreClasses.contains($0.failureClass) }
        let broken = core.filter { !baselineClasses.contains($0.failureClass) || $0.failureClass == failureClass }
        let pending = Set(core.map(\.failureClass)).subtracting(broken.map(\.failureClass))
        var coreDetail = broken.isEmpty ? "default entry, kernel, initrd, modules, root=, fstab and init intact"
            : "broken: " + broken.map { "\($0.failureClass.rawValue): \($0.summary)" }.joined(separator: "; ")
        if !pending.isEmpty {
            coreDetail += " (still pending from before: " + pending.map(\.rawValue).sorted().joined(separator: ", ") + ")"
        }
        checks.append(.init(name: "core-boot-chain", verdict: broken.isEmpty ? .passed : .failed, detail: coreDetail))

        if !canBoot {
            checks.append(.init(name: "boot", verdict: .notRun, detail: bootUnavailable))
            checks.append(.init(name: "stability", verdict: .notRun,
                                detail: "needs a boot of the repaired root"))
        }
        return ValidationReport(checks: checks)
    }

    private static func identity(_ finding: Finding) -> String {
        finding.failureClass.rawValue + "\u{1f}" + finding.summary
    }
}
