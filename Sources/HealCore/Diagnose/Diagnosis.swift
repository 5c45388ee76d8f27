/// What one diagnosis step did: what it ran and what it found.
public struct DiagnosisStep: Sendable, Hashable, Codable {
    public var name: String
    public var stage: DiagnosisStage
    /// Why the plan added or moved the step (nil for a broad step in its place).
    public var reason: String?
    /// What it ran: `detector fstab`, `libkmod lookup clarity_oops in /lib/modules/…`.
    public var ran: [String]
    /// What it saw, as evidence (findings are listed by class and summary).
    public var found: [Evidence]
    /// The classes of the findings it made.
    public var findings: [FailureClass]
    /// Whether it found something that matters: a finding, or a probe result that is not
    /// what a healthy system shows.
    public var significant: Bool

    public init(step: PlannedStep, ran: [String], found: [Evidence], findings: [FailureClass], significant: Bool) {
        name = step.name
        stage = step.stage
        reason = step.reason
        self.ran = ran
        self.found = found
        self.findings = findings
        self.significant = significant
    }
}

/// The root cause diagnosis settled on.
public struct RootCause: Sendable, Hashable, Codable {
    /// A catalogue class (`class` in JSON).
    public var failureClass: FailureClass
    /// What makes it this machine's fault: `module`, `kernel`, `fstabLine`, `line`, …
    public var specifics: [String: String]
    /// 0–1.
    public var confidence: Double
    /// The knowledge base signature that concluded it.
    public var signature: String
    public var explanation: String
    /// The findings it explains (its own class first, then the supporting ones, such as
    /// the crash record of the panic it caused).
    public var findings: [Finding]

    public init(_ hypothesis: KnowledgeBase.Hypothesis) {
        failureClass = hypothesis.rootCause
        specifics = hypothesis.specifics
        confidence = hypothesis.confidence
        signature = hypothesis.signature.id
        explanation = hypothesis.explanation
        findings = hypothesis.explained.map(\.finding)
    }

    enum CodingKeys: String, CodingKey {
        case failureClass = "class", specifics, confidence, signature, explanation, findings
    }
}

/// How long a repair of the root cause is expected to take, to run and validate in an
/// environment.
public struct RepairEstimate: Sendable, Hashable, Codable {
    /// The first-ranked strategy's cost, or the class default.
    public var seconds: Int
    /// Every candidate tried in turn, failing until the last.
    public var worstCaseSeconds: Int
    /// The ranked candidates' ids; empty when the catalogue has none for the class.
    public var strategies: [String]
    /// Where the number comes from, for a person.
    public var basis: String

    public init(seconds: Int, worstCaseSeconds: Int, strategies: [String], basis: String) {
        self.seconds = seconds
        self.worstCaseSeconds = worstCaseSeconds
        self.strategies = strategies
        self.basis = basis
    }

    /// From the ranked candidates of the class (`StrategyCatalogue.candidates(for:)`),
    /// or the class default when there are none.
    public static func estimate(for failureClass: FailureClass, candidates: [StrategyDescriptor]) -> RepairEstimate {
        guard let first = candidates.first else {
            let seconds = defaultSeconds(for: failureClass)
            return RepairEstimate(seconds: seconds, worstCaseSeconds: seconds, strategies: [],
                                  basis: "default for \(failureClass.rawValue): no strategy in the catalogue yet")
        }
        return RepairEstimate(seconds: first.estimatedSeconds,
                              worstCaseSeconds: candidates.reduce(0) { $0 + $1.estimatedSeconds },
                              strategies: candidates.map(\.id),
                              basis: "first-ranked strategy \(first.id) of \(candidates.count)")
    }

    /// Rough seconds to repair and validate a class on a clone when the catalogue has no
    /// strategy for it: editing a file and re-checking it is seconds; regenerating a boot
    /// config or initramfs in a chroot is minutes; `e2fsck` on a snapshot is longest.
    ///
    /// | class | seconds | the work |
    /// | --- | --- | --- |
    /// | bootloader-env-corrupt, account-database-broken | 10 | rewrite one small file |
    /// | fstab-*, boot-failures, system-file-corrupt | 30 | edit a line, set the default, restore one file |
    /// | init-missing, unit-failures, disk-space-exhausted, inode-exhausted | 60 | restore from the package cache, mask, clean up |
    /// | kernel-modules-missing | 90 | depmod |
    /// | root-device-mismatch, bootloader-default-invalid | 120 | regenerate the boot configuration |
    /// | initramfs-missing, initramfs-corrupt, initramfs-missing-driver | 180 | update-initramfs / dracut |
    /// | kernel-panic | 240 | blacklist the module and rebuild the initramfs, or change the default kernel |
    /// | filesystem-errors | 300 | e2fsck on a snapshot |
    public static func defaultSeconds(for failureClass: FailureClass) -> Int {
        switch failureClass {
        case .bootloaderEnvCorrupt, .accountDatabaseBroken: 10
        case .fstabUnresolvableSource, .fstabInvalidEntry, .bootFailures, .systemFileCorrupt: 30
        case .initMissing, .unitFailures, .diskSpaceExhausted, .inodeExhausted: 60
        case .kernelModulesMissing: 90
        case .rootDeviceMismatch, .bootloaderDefaultInvalid: 120
        case .initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver: 180
        case .kernelPanic: 240
        case .filesystemErrors: 300
        }
    }
}

/// The result of diagnosing a root (`clarity-heal diagnose`).
public struct Diagnosis: Sendable, Hashable, Codable {
    /// A step or detector that could not look.
    public struct Failure: Sendable, Hashable, Codable {
        public var step: String
        public var message: String

        public init(step: String, message: String) {
            self.step = step
            self.message = message
        }
    }

    public var root: String
    /// Nil when nothing was found.
    public var rootCause: RootCause?
    /// The root cause's confidence (0–1), nil without one.
    public var confidence: Double?
    /// The root cause's component first, then those of the other findings.
    public var affectedComponents: [Component]
    /// Every step in the order it ran.
    public var steps: [DiagnosisStep]
    /// Findings the root cause does not explain (secondary), boot-chain order.
    public var otherFindings: [Finding]
    /// Nil when there is no root cause.
    public var estimatedRepair: RepairEstimate?
    public var errors: [Failure]


    /// Nothing found and every step could look.
    public var isHealthy: Bool { rootCause == nil && otherFindings.isEmpty && errors.isEmpty }

    public init(root: String, rootCause: RootCause?, affectedComponents: [Component], steps: [DiagnosisStep],
                otherFindings: [Finding], estimatedRepair: RepairEstimate?, errors: [Failure]) {
        self.root = root
        self.rootCause = rootCause
        confidence = rootCause?.confidence
        self.affectedComponents = affectedComponents
        self.steps = steps
        self.otherFindings = otherFindings
        self.estimatedRepair = estimatedRepair
        self.errors = errors
    }

    /// Settles the root cause of `observations` with `knowledgeBase` and assembles the
    /// result. `estimate` gives the repair estimate for the root cause's class.
    public static func conclude(root: String, steps: [DiagnosisStep], observations: [Observation],
                                knowledgeBase: KnowledgeBase, errors: [Failure],
                                estimate: (FailureClass) -> RepairEstimate) -> Diagnosis {
        let best = knowledgeBase.hypotheses(for: observations).first
        let rootCause = best.map(RootCause.init)
        let explained = best?.explained ?? []
        let others = observations.filter { !explained.contains($0) }
            .sorted { ($0.stage, $0.failureClass) < ($1.stage, $1.failureClass) }
            .map(\.finding)
        var components: [Component] = []
        for component in (rootCause.map { [$0.failureClass.component] } ?? [])
            + explained.map(\.finding.component) + others.map(\.component) where !components.contains(component) {
            components.append(component)
        }
        return Diagnosis(root: root, rootCause: rootCause, affectedComponents: components, steps: steps,
                         otherFindings: others, estimatedRepair: rootCause.map { estimate($0.failureClass) },
                         errors: errors)
    }
}
