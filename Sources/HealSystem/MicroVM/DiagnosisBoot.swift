import Glibc
import HealCore
import Logging

/// A boot of the disk as it is, for diagnosis (`diagnose --boot`): what it shows on its
/// console is a finding the diagnosis goes on from (`BootObservation`). The disk is only
/// the read-only backing file of the boot's throwaway layer.
public enum DiagnosisBoot {
    /// Boots `disk`, whose filesystem is mounted read-only as `root`.
    /// - Parameter scratch: where this process may make its folder (removed afterwards).
    /// - Throws: `MicroVMError` when QEMU is missing or the disk cannot be booted at all
    ///   (no default entry or kernel, no driver for any controller).
    public static func observe(disk: String, root: SystemRoot, settings: MicroVMSettings, scratch: String,
                               runner: any CommandRunner = SpawnCommandRunner(), logger: Logger) throws(MicroVMError) -> BootObservation {
        let kernel: String
        switch GuestBoot.defaultKernel(of: root) {
        case .success(let path): kernel = path
        case .failure(let reason): throw reason
        }
        let folder: ScratchFolder
        do {
            try Paths.makeDirectory(scratch)
            folder = try ScratchFolder(claiming: scratch + "/diagnosis-boot-\(getpid())")
        } catch {
            throw .launch("\(error)")
        }
        defer { folder.release() }
        let hypervisor = try Hypervisor.find(kernel: kernel, wanted: settings.accelerator.rawValue, scratch: folder.path)
        logger.notice("microVM", metadata: ["accelerator": "\(hypervisor.accelerator.rawValue)", "reason": "\(hypervisor.reason)"])
        let outcome = try GuestBoot.boot(GuestBoot.Request(
            disk: disk, probe: GuestProbe(nonce: GuestProbe.makeNonce(), stabilitySeconds: 0), hypervisor: hypervisor,
            folder: folder.path, memoryMiB: MicroVMEnvironment.memory(settings), cpus: MicroVMEnvironment.cpus(settings),
            deadlineSeconds: settings.bootTimeoutSeconds, runner: runner, logger: logger))
        return BootObservation(console: outcome.console, end: outcome.run.end, emulated: hypervisor.accelerator == .tcg,
                               excerpt: outcome.excerpt,
                               source: "console of a boot of \(disk) (\(outcome.entry.title), \(hypervisor.accelerator.rawValue.uppercased()))")
    }
}

extension DiagnosisBoot {
    static let templateStepName = "check the filesystem in a template guest"

    /// When the disk's own system cannot be booted (no kernel that boots): its filesystem
    /// checked by `e2fsck -fn` in a template guest, with a kernel of the recovery set — the
    /// newest intact one of the examined root, else of `kernelRoots` (this system last).
    /// - Returns: the step for the diagnosis, and what could not be checked with why.
    public static func templateCheck(disk: String, root: SystemRoot, kernelRoots: [(root: SystemRoot, source: String)],
                                     settings: MicroVMSettings, scratch: String,
                                     runner: any CommandRunner = SpawnCommandRunner(),
                                     logger: Logger) -> (step: DiagnosisStep, failure: Diagnosis.Failure?) {
        let planned = PlannedStep(name: templateStepName, stage: .kernel, probe: .booted,
                                  reason: "the disk's own system cannot be booted")
        func notChecked(_ why: String) -> (DiagnosisStep, Diagnosis.Failure?) {
            (DiagnosisStep(step: planned, ran: [], found: [Evidence(source: "template guest", detail: "not checked: \(why)")],
                           findings: [], significant: false),
             Diagnosis.Failure(step: templateStepName, message: "the filesystem was not checked in a template guest: \(why)"))
        }
        let kernel: RecoveryKernel
        switch RecoveryKernel.choose([(root, "the examined root")] + kernelRoots) {
        case .success(let found): kernel = found
        case .failure(let unavailable): return notChecked("\(unavailable)")
        }
        let outcome: TemplateGuest.Outcome
        do {
            try Paths.makeDirectory(scratch)
            let folder = try ScratchFolder(claiming: scratch + "/template-check-\(getpid())")
            defer { folder.release() }
            let hypervisor = try Hypervisor.find(kernel: kernel.hostPath, wanted: settings.accelerator.rawValue,
                                                 scratch: folder.path)
            outcome = try TemplateGuest.run(.init(disk: disk, task: .check, kernel: kernel, hypervisor: hypervisor,
                                                  folder: folder.path, deadlineSeconds: settings.bootTimeoutSeconds,
                                                  runner: runner, logger: logger))
        } catch {
            return notChecked("\(error)")
        }
        let ran = ["e2fsck -fn in a template guest (kernel \(kernel.version) from \(kernel.source), \(Int(outcome.seconds)) s)"]
        switch outcome.end {
        case .reported(let report):
            guard report.error == nil, let check = report.steps.first else {
                return notChecked(report.error ?? "the guest ran no check")
            }
            let clean = check.status == 0
            let detail = clean ? "e2fsck -fn exits 0: the filesystem is clean"
                : "e2fsck -fn exits \(check.status): " + FilesystemRepair.tail(check.output, lines: 5)
            return (DiagnosisStep(step: planned, ran: ran, found: [Evidence(source: "template guest", detail: detail)],
                                  findings: [], significant: !clean), nil)
        case .qemuFailed(let message):
            return notChecked("QEMU failed: \(message)")
        case .guestFailed(let message):
            return notChecked(message)
        case .timeout(let seconds):
            return notChecked("the guest did not report within \(seconds) s")
        }
    }
}
