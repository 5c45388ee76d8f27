/// What one diagnosis step runs.
public enum Probe: Sendable, Hashable, Codable {
    /// The detectors of a stage's failure classes.
    case detectors(DiagnosisStage)
    /// Where the module is in the kernel's tree: file, built in, or absent (libkmod).
    case moduleFile(module: String, kernel: String)
    /// The module's hard dependencies (`modules.dep`, libkmod).
    case moduleDependencies(module: String, kernel: String)
    /// Whether the default entry's initramfs carries the module.
    case moduleInInitramfs(module: String, kernel: String)
    /// Which installed package ships the module's file (dpkg's `*.list`).
    case modulePackage(module: String, kernel: String)
    /// A boot of the disk in QEMU (`diagnose --boot`); never planned, run before the plan.
    case booted
}

/// One step of a plan: what it is called, its stage, what it runs, and why it was added
/// or moved when the plan adapted (nil for the broad steps in their place).
public struct PlannedStep: Sendable, Hashable, Codable {
    public var name: String
    public var stage: DiagnosisStage
    public var probe: Probe
    public var reason: String?

    public init(name: String, stage: DiagnosisStage, probe: Probe, reason: String? = nil) {
        self.name = name
        self.stage = stage
        self.probe = probe
        self.reason = reason
    }

    /// The broad step of `stage`: its detectors.
    public static func broad(_ stage: DiagnosisStage) -> PlannedStep {
        PlannedStep(name: stage.title, stage: stage, probe: .detectors(stage))
    }
}

/// The diagnosis plan: broad to narrow along the boot chain, one detectors step per
/// stage, adapting to what the steps find.
///
/// Adaptation (`adapt(to:)`), after each step:
/// - a crash record naming a module puts four steps about that module next: its file in
///   the default kernel's tree, its dependencies, whether the default initramfs carries
///   it, and which package owns it;
/// - a panic that could not mount the root fs moves the root device and the initramfs
///   steps up, before anything else still pending;
/// - a panic that found no working init moves the init and the initramfs steps up;
/// - the stages of every other class the crash was routed to (`PanicRoute`, the `route`
///   attribute) come next, in the route's order.
/// A step is never planned twice.
public struct DiagnosisPlan: Sendable, Hashable {
    public private(set) var pending: [PlannedStep]
    public private(set) var taken: [PlannedStep] = []
    /// The kernel of the default boot entry: module steps look in its tree.
    public var defaultKernel: String?

    /// - Parameter namedCauses: per stage, the verified repairs on this machine whose cause
    ///   that stage's step named (`DiagnosisLearning`): those stages go first, most first,
    ///   each with the reason; the others keep the boot chain's order after them.
    public init(defaultKernel: String?, stages: [DiagnosisStage] = DiagnosisStage.allCases,
                namedCauses: [DiagnosisStage: Int] = [:]) {
        self.defaultKernel = defaultKernel
        let learned = stages.filter { (namedCauses[$0] ?? 0) > 0 }
            .sorted { (namedCauses[$0] ?? 0, $1) > (namedCauses[$1] ?? 0, $0) }
        pending = learned.map { stage in
            var step = PlannedStep.broad(stage)
            let count = namedCauses[stage] ?? 0
            step.reason = "moved up: it named the cause of \(count) repair\(count == 1 ? "" : "s") verified on this machine"
            return step
        } + stages.sorted().filter { !learned.contains($0) }.map(PlannedStep.broad)
    }

    /// Takes the next step, nil when the plan is done.
    public mutating func next() -> PlannedStep? {
        guard !pending.isEmpty else { return nil }
        let step = pending.removeFirst()
        taken.append(step)
        return step
    }

    /// Adds or moves steps for what `observations` (the last step's) show.
    /// - Returns: the steps added or moved, in the order they now run.
    @discardableResult
    public mutating func adapt(to observations: [Observation]) -> [PlannedStep] {
        var front: [PlannedStep] = []
        for observation in observations where observation.failureClass == .kernelPanic {
            if let module = observation.attributes["module"],
               let kernel = defaultKernel ?? observation.attributes["kernel"] {
                let why = "the crash record names module \(module)"
                let tree = "/lib/modules/\(kernel)"
                front += [
                    PlannedStep(name: "module \(module): its file in \(tree)", stage: .kernel,
                                probe: .moduleFile(module: module, kernel: kernel), reason: why),
                    PlannedStep(name: "module \(module): its dependencies", stage: .kernel,
                                probe: .moduleDependencies(module: module, kernel: kernel), reason: why),
                    PlannedStep(name: "module \(module): in the initramfs of \(kernel)?", stage: .initramfs,
                                probe: .moduleInInitramfs(module: module, kernel: kernel), reason: why),
                    PlannedStep(name: "module \(module): the package that owns it", stage: .integrity,
                                probe: .modulePackage(module: module, kernel: kernel), reason: why),
                ].filter { !isPlanned($0.probe) && !front.map(\.probe).contains($0.probe) }
            }
            let reason = observation.attributes["reason"] ?? "no reason recorded"
            switch observation.attributes["hint"].flatMap(FailureClass.init(rawValue:)) {
            case .rootDeviceMismatch?:
                front += promote([.rootDevice, .initramfs], because: "the kernel could not mount the root fs (\(reason))",
                                 already: front)
            case .initMissing?:
                front += promote([.`init`, .initramfs], because: "the kernel found no working init (\(reason))",
                                 already: front)
            default:
                break
            }
            // The other classes the crash was routed to (`PanicRoute`): their stages next.
            let routed = (observation.attributes["route"] ?? "").split(separator: ",")
                .compactMap { FailureClass(rawValue: $0.trimmingPrefix(" ").description) }
                .filter { $0 != .kernelPanic }
            if !routed.isEmpty {
                var stages: [DiagnosisStage] = []
                for stage in routed.map(\.stage) where !stages.contains(stage) { stages.append(stage) }
                front += promote(stages, because: "the crash was routed to \(routed.map(\.rawValue).joined(separator: ", "))",
                                 already: front)
            }
        }
        pending.removeAll { step in front.contains { $0.probe == step.probe } }
        pending = front + pending
        return front
    }

    /// The pending broad steps of `stages`, in that order, marked as moved up.
    private func promote(_ stages: [DiagnosisStage], because reason: String, already: [PlannedStep]) -> [PlannedStep] {
        stages.compactMap { stage in
            guard var step = pending.first(where: { $0.probe == .detectors(stage) }),
                  !already.contains(where: { $0.probe == step.probe }) else { return nil }
            step.reason = "moved up: " + reason
            return step
        }
    }

    private func isPlanned(_ probe: Probe) -> Bool {
        pending.contains { $0.probe == probe } || taken.contains { $0.probe == probe }
    }
}
