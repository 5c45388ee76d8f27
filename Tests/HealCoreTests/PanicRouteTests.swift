import Foundation
import Testing
@testable import HealCore

/// Routing real crashes (Resources/crash-corpus of HealSystemTests) to what can fix them.
@Suite struct PanicRouteTests {
    static func corpus(_ name: String) throws -> PanicSignature {
        PanicSignature(log: try String(contentsOfFile: PstoreFixture.folder + "/../crash-corpus/records/" + name, encoding: .utf8))
    }

    @Test(arguments: [
        ("030-syz-x86-vfs-unable-to-mount-root.txt", [FailureClass.rootDeviceMismatch, .initramfsMissingDriver, .initramfsMissing,
                                                       .initramfsCorrupt, .kernelModulesMissing, .filesystemErrors]),
        ("032-cip-x86-ipc227e-no-working-init.txt", [.initMissing, .initramfsMissing, .initramfsCorrupt, .systemFileCorrupt]),
        ("010-ext4-readahead-oops-init-killed.txt", [.initMissing, .systemFileCorrupt, .accountDatabaseBroken, .initramfsCorrupt]),
        ("037-xen-dom0-igen6-edac-probe-oops-at-load.txt", [.kernelPanic]),
        ("019-gpf-lockdep-unregister-key-noncanonical.txt", [.kernelPanic]),
    ])
    func repairableCrashesGoToTheirClasses(_ record: String, _ classes: [FailureClass]) throws {
        let route = PanicRoute.route(try Self.corpus(record), installedKernels: nil)
        #expect(route.decision == .repair)
        #expect(route.classes == classes)
        #expect(route.summary.hasPrefix("routed to \(classes[0].rawValue)"))
    }

    @Test func aModuleIsNamedInTheReason() throws {
        let route = PanicRoute.route(try Self.corpus("037-xen-dom0-igen6-edac-probe-oops-at-load.txt"), installedKernels: nil)
        #expect(route.reason == "the crash names module igen6_edac: keep it from loading, or boot a kernel without it")
    }

    @Test(arguments: ["002-mce-skx-einj-4.18.txt", "003-mce-skx-einj-split-rip.txt", "049-mce-fatal-local-dax-metadata.txt",
                      "004-ghes-fatal-hw-error-kdump.txt"])
    func hardwareNeedsAPerson(_ record: String) throws {
        // Even on a root without the record's kernel: hardware comes first.
        let route = PanicRoute.route(try Self.corpus(record), installedKernels: ["6.1.0-50-cloud-amd64"])
        #expect(route.decision == .needsPerson)
        #expect(route.classes.isEmpty)
        #expect(route.checks == PanicRoute.hardwareChecks)
        #expect(route.summary.hasPrefix("needs a person, nothing repaired: the "))
    }

    @Test func aKernelTheRootDoesNotHaveIsNotActedOn() throws {
        let signature = try Self.corpus("037-xen-dom0-igen6-edac-probe-oops-at-load.txt")
        let foreign = PanicRoute.route(signature, installedKernels: ["6.1.0-50-cloud-amd64"])
        #expect(foreign.decision == .foreignKernel)
        #expect(foreign.classes.isEmpty)
        #expect(foreign.reason.hasPrefix("kernel 6.16.0-0.rc2.1.qubes.1.fc41.x86_64 is not installed here"))
        let own = PanicRoute.route(signature, installedKernels: ["6.16.0-0.rc2.1.qubes.1.fc41.x86_64"])
        #expect(own.decision == .repair)
        // No kernel in the record (torn before its CPU line): nothing to compare, routed by kind.
        let torn = PanicRoute.route(PanicSignature(log: "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"),
                                    installedKernels: [])
        #expect(torn.decision == .repair)
        #expect(torn.classes.first == .rootDeviceMismatch)
    }

    @Test func observationsCarryTheRouteAndAForeignCrashSteersNothing() throws {
        let signature = try Self.corpus("030-syz-x86-vfs-unable-to-mount-root.txt")
        let finding = Finding(.kernelPanic, summary: signature.summary, evidence: [])
        let routed = Observation(finding: finding, panic: signature, route: PanicRoute.route(signature, installedKernels: nil))
        #expect(routed.attributes["routing"] == "repair")
        #expect(routed.attributes["crashKind"] == "vfs-no-root")
        #expect(routed.attributes["hint"] == "root-device-mismatch")
        #expect(routed.attributes["route"]?.hasPrefix("root-device-mismatch, initramfs-missing-driver") == true)
        let foreign = Observation(finding: finding, panic: signature, route: PanicRoute.route(signature, installedKernels: ["x"]))
        #expect(foreign.attributes["routing"] == "foreign-kernel")
        #expect(foreign.attributes["hint"] == nil)
    }

    @Test func thePlanTakesTheRoutedStagesNext() throws {
        let signature = try Self.corpus("010-ext4-readahead-oops-init-killed.txt")
        let observation = Observation(finding: Finding(.kernelPanic, summary: signature.summary, evidence: []), panic: signature,
                                      route: PanicRoute.route(signature, installedKernels: nil))
        var plan = DiagnosisPlan(defaultKernel: nil)
        _ = plan.next()
        let moved = plan.adapt(to: [observation])
        let stages = moved.map { (step: PlannedStep) in step.stage }
        #expect(stages.prefix(2) == [FailureClass.initMissing.stage, FailureClass.initramfsCorrupt.stage])
        #expect(stages.contains(FailureClass.systemFileCorrupt.stage))
        #expect(stages.contains(FailureClass.accountDatabaseBroken.stage))
    }

    @Test func aMachineCheckIsConcludedAsNeedingAPerson() throws {
        let signature = try Self.corpus("049-mce-fatal-local-dax-metadata.txt")
        let observation = Observation(finding: Finding(.kernelPanic, summary: signature.summary, evidence: []), panic: signature,
                                      route: PanicRoute.route(signature, installedKernels: nil))
        let best = try #require(KnowledgeBase.builtIn.hypotheses(for: [observation]).first)
        #expect(best.signature.id == "panic-needs-person")
        #expect(best.specifics["routing"] == "needs-person")
        #expect(best.explanation.contains("a person must look"))
    }
}
