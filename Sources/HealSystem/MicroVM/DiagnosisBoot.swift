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
