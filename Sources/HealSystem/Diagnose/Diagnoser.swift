import HealCore
import Logging

/// Runs a diagnosis plan on a root: the detectors stage by stage along the boot chain,
/// the targeted probes the plan adds, then the knowledge base's conclusion.
///
/// Only reads: it runs on the clone in an environment, or on an offline root, and never
/// writes.
public struct Diagnoser: Sendable {
    /// The detectors the broad steps draw from; each belongs to the stage of its first class.
    public var detectors: [any Detector]
    public var knowledgeBase: KnowledgeBase
    /// The repair estimate for a root cause's class.
    public var estimate: @Sendable (FailureClass) -> RepairEstimate

    public init(detectors: [any Detector] = Detectors.all, knowledgeBase: KnowledgeBase = .builtIn,
                estimate: @escaping @Sendable (FailureClass) -> RepairEstimate = Diagnoser.catalogueEstimate) {
        self.detectors = detectors
        self.knowledgeBase = knowledgeBase
        self.estimate = estimate
    }

    /// The estimate from the ranked candidates of `StrategyCatalogue`, or the class default.
    public static func catalogueEstimate(_ failureClass: FailureClass) -> RepairEstimate {
        RepairEstimate.estimate(for: failureClass,
                                candidates: StrategyCatalogue.candidates(for: failureClass).map(\.descriptor))
    }

    /// Diagnoses `context.root`.
    /// - Parameter booted: what a boot of the disk showed (`diagnose --boot`): its finding
    ///   is the first step's, and the plan adapts to it as to a detector's.
    public func run(_ context: DetectionContext, booted: BootObservation? = nil) -> Diagnosis {
        let root = context.root
        let entry = try? BootConfiguration.load(root).defaultEntry
        let defaultKernel = entry?.kernelVersion ?? KernelInventory.scan(root).first?.version
        // What this machine's ledger proved: the steps that named verified causes go first,
        // and the signatures' confidence follows their repairs.
        let learning = DiagnosisLearning(records: (try? Ledger(root: root).records().records) ?? [])
        var plan = DiagnosisPlan(defaultKernel: defaultKernel, namedCauses: learning.namedCauses)
        var steps: [DiagnosisStep] = []
        var findings: [Finding] = []
        var errors: [Diagnosis.Failure] = []
        var moduleFacts: [String: [String: String]] = [:]
        var crashes: [KernelPanicDetector.Crash]?

        func observe(_ finding: Finding) -> Observation {
            var panic: PanicSignature?
            var route: PanicRoute?
            if finding.failureClass == .kernelPanic {
                if crashes == nil { crashes = KernelPanicDetector.read(PstoreArchive(context), logger: context.logger).crashes }
                let crash = crashes?.first { finding.summary.hasPrefix($0.signature.summary) }
                panic = crash?.signature
                route = crash?.route
                // A panic seen on a boot's console has no record: its crash came with it.
                if panic == nil, finding == booted?.finding, let signature = booted?.panic {
                    panic = signature
                    route = PanicRoute.route(signature, installedKernels: KernelPanicDetector.installedKernels(root))
                }
            }
            var observation = Observation(finding: finding, panic: panic, route: route, defaultKernel: defaultKernel)
            if let module = observation.attributes["module"], let facts = moduleFacts[KernelModules.normalized(module)] {
                observation.attributes.merge(facts) { old, _ in old }
            }
            return observation
        }

        if let booted {
            let step = PlannedStep(name: "boot the disk in QEMU", stage: booted.finding?.failureClass.stage ?? .bootloader,
                                   probe: .booted, reason: "a boot of the disk, before the offline steps")
            let found = booted.finding.map { [$0] } ?? []
            findings += found
            steps.append(DiagnosisStep(step: step, ran: ["a boot of the disk with its default entry"],
                                       found: [Evidence(source: "boot", detail: booted.note)],
                                       findings: found.map(\.failureClass), significant: !found.isEmpty))
            _ = plan.adapt(to: found.map(observe))
        }

        while let step = plan.next() {
            context.logger.debug("diagnosis step", metadata: ["step": "\(step.name)"])
            switch step.probe {
            case .detectors(let stage):
                let subset = detectors.filter { $0.classes.first?.stage == stage }
                let report = DetectionEngine(detectors: subset).run(context)
                findings += report.findings
                let failures = report.errors.map { Diagnosis.Failure(step: step.name, message: "\($0.detector): \($0.message)") }
                errors += failures
                var found = report.findings.map { Evidence(source: $0.failureClass.rawValue, detail: $0.summary) }
                found += failures.map { Evidence(source: "error", detail: $0.message) }
                steps.append(DiagnosisStep(
                    step: step,
                    ran: subset.map { "detector \($0.name) (\($0.classes.map(\.rawValue).joined(separator: ", ")))" },
                    found: found, findings: report.findings.map(\.failureClass),
                    significant: !report.findings.isEmpty))
                let adapted = plan.adapt(to: report.findings.map(observe))
                if !adapted.isEmpty {
                    context.logger.info("diagnosis plan adapted", metadata: [
                        "after": "\(step.name)", "next": "\(adapted.map(\.name).joined(separator: "; "))"])
                }
            case .booted:
                continue  // taken above, never planned
            case .moduleFile(let module, let kernel), .moduleDependencies(let module, let kernel),
                 .moduleInInitramfs(let module, let kernel), .modulePackage(let module, let kernel):
                let probe = ModuleProbe(root: root, module: module, kernel: kernel, initrd: entry?.initrd)
                let outcome = probe.run(step.probe)
                moduleFacts[probe.module, default: [:]].merge(outcome.attributes) { _, new in new }
                steps.append(DiagnosisStep(step: step, ran: outcome.ran, found: outcome.found, findings: [],
                                           significant: outcome.significant))
            }
        }

        // Detectors ran per stage; a packaged file a specific class already names is
        // left to that class here, as one detection run does.
        let observations = FindingOverlap.resolve(findings, root: root).map(observe)
        return Diagnosis.conclude(root: root.path, steps: steps, observations: observations,
                                  knowledgeBase: learning.applied(to: knowledgeBase), errors: errors, estimate: estimate)
    }
}
