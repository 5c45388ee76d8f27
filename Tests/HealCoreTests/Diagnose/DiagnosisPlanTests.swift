import Testing
@testable import HealCore

@Suite struct DiagnosisPlanTests {
    static let kernel = "6.1.0-50-cloud-amd64"

    /// Takes every step, adapting after the step of `stage` to `observations`.
    static func walk(_ plan: inout DiagnosisPlan, adaptingAfter stage: DiagnosisStage,
                     to observations: [Observation]) -> [PlannedStep] {
        var order: [PlannedStep] = []
        while let step = plan.next() {
            order.append(step)
            if step.probe == .detectors(stage) { plan.adapt(to: observations) }
        }
        return order
    }

    @Test func broadPlanFollowsTheBootChain() {
        var plan = DiagnosisPlan(defaultKernel: Self.kernel)
        let order = Self.walk(&plan, adaptingAfter: .kernel, to: [])
        #expect(order.map(\.probe) == DiagnosisStage.allCases.map { .detectors($0) })
        #expect(order.allSatisfy { $0.reason == nil })
        #expect(order.map(\.stage).map(\.rawValue) == ["bootloader", "kernel", "initramfs", "root-device", "fstab",
                                                       "init", "services", "resources", "integrity"])
    }

    @Test func panicNamingAModuleAddsItsSteps() {
        var plan = DiagnosisPlan(defaultKernel: Self.kernel)
        let order = Self.walk(&plan, adaptingAfter: .kernel, to: [Seen.moduleOops])
        let module = "clarity_oops"
        #expect(order.map(\.probe) == [
            .detectors(.bootloader), .detectors(.kernel),
            .moduleFile(module: module, kernel: Self.kernel), .moduleDependencies(module: module, kernel: Self.kernel),
            .moduleInInitramfs(module: module, kernel: Self.kernel), .modulePackage(module: module, kernel: Self.kernel),
            .detectors(.initramfs), .detectors(.rootDevice), .detectors(.fstab), .detectors(.`init`),
            .detectors(.services), .detectors(.resources), .detectors(.integrity),
        ])
        #expect(order[2].reason == "the crash record names module clarity_oops")
        #expect(order[2].name == "module clarity_oops: its file in /lib/modules/6.1.0-50-cloud-amd64")
    }

    @Test func moduleStepsLookInTheDefaultKernelsTree() {
        var plan = DiagnosisPlan(defaultKernel: "6.1.0-99-amd64")
        plan.adapt(to: [Seen.moduleOops])
        #expect(plan.pending.first?.probe == .moduleFile(module: "clarity_oops", kernel: "6.1.0-99-amd64"))
        var withoutDefault = DiagnosisPlan(defaultKernel: nil)
        withoutDefault.adapt(to: [Seen.moduleOops])
        #expect(withoutDefault.pending.first?.probe == .moduleFile(module: "clarity_oops", kernel: Self.kernel))
    }

    @Test(arguments: [
        (Seen.vfsPanic, [DiagnosisStage.rootDevice, .initramfs], "moved up: the kernel could not mount the root fs"),
        (Seen.noInitPanic, [DiagnosisStage.`init`, .initramfs], "moved up: the kernel found no working init"),
    ])
    func panicHintMovesStagesUp(_ panic: Observation, _ first: [DiagnosisStage], _ reason: String) {
        var plan = DiagnosisPlan(defaultKernel: Self.kernel)
        let order = Self.walk(&plan, adaptingAfter: .kernel, to: [panic])
        #expect(order.map(\.probe).prefix(4) == [.detectors(.bootloader), .detectors(.kernel)] + first.map { .detectors($0) })
        #expect(order.count == DiagnosisStage.allCases.count, "each stage runs once")
        #expect(order[2].reason?.hasPrefix(reason) == true)
        #expect(order[4].reason == nil)
    }

    @Test func adaptingTwiceAddsNothingTwice() {
        var plan = DiagnosisPlan(defaultKernel: Self.kernel)
        _ = plan.next()
        let first = plan.adapt(to: [Seen.moduleOops, Seen.vfsPanic])
        #expect(first.count == 6)
        let again = plan.adapt(to: [Seen.moduleOops])
        #expect(again.isEmpty)
        #expect(plan.pending.count == 4 + DiagnosisStage.allCases.count - 1)
    }

    @Test func healthyFindingsDoNotAdapt() {
        var plan = DiagnosisPlan(defaultKernel: Self.kernel)
        #expect(plan.adapt(to: [Seen.observation(.fstabInvalidEntry), Seen.sysrqPanic]).isEmpty)
    }
}
