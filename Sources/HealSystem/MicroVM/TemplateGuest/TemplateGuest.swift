import Glibc
import HealCore
import Logging

/// A guest that runs clarity-heal itself, for a disk whose own system cannot be booted (a
/// root that cannot be mounted, no kernel that boots): a kernel from the recovery set
/// (`RecoveryKernel`), the initramfs clarity-heal builds (`GuestInitramfs`), and the disk
/// as the read-only backing of a throwaway qcow2 layer.
///
/// ```
///  disk (image or device) ◀── read-only backing ── template-N.qcow2 ◀── /dev/vda in the guest
///  QEMU -kernel RECOVERY -initrd guest.cpio -append "console=ttyS0 … clarity-heal.task=…"
///        └─ /init = clarity-heal (GuestAgent): e2fsck on /dev/vda, report on ttyS0, power off
/// ```
///
/// The guest's writes (e2fsck's repair) land in the layer; the disk below is never written.
/// The layer is removed after the run unless the caller keeps it (`keepLayer`): a repaired
/// layer is what the host then validates and boots.
public struct TemplateGuest {
    public struct Request {
        /// The examined disk: a filesystem image or an unmounted block device.
        public var disk: String
        public var task: TemplateGuestTask.Kind
        /// A backup superblock and block size for a repair (`e2fsck -b -B`).
        public var superblock: Int?
        public var blockSize: Int?
        public var kernel: RecoveryKernel
        public var hypervisor: Hypervisor
        /// A folder of this process; the layer, kernel copy, initramfs and console go there.
        public var folder: String
        public var memoryMiB: Int
        /// Under TCG; scaled for the accelerator.
        public var deadlineSeconds: Int
        /// Keep the layer (`Outcome.layer`) for the caller, who removes it.
        public var keepLayer: Bool
        /// The binary that becomes the guest's `/init`; nil: this one.
        public var binary: String?
        public var runner: any CommandRunner
        public var logger: Logger

        public init(disk: String, task: TemplateGuestTask.Kind, superblock: Int? = nil, blockSize: Int? = nil,
                    kernel: RecoveryKernel, hypervisor: Hypervisor, folder: String, memoryMiB: Int = 768,
                    deadlineSeconds: Int = 300, keepLayer: Bool = false, binary: String? = nil,
                    runner: any CommandRunner = SpawnCommandRunner(), logger: Logger) {
            self.disk = disk
            self.task = task
            self.superblock = superblock
            self.blockSize = blockSize
            self.kernel = kernel
            self.hypervisor = hypervisor
            self.folder = folder
            self.memoryMiB = memoryMiB
            self.deadlineSeconds = deadlineSeconds
            self.keepLayer = keepLayer
            self.binary = binary
            self.runner = runner
            self.logger = logger
        }
    }

    /// How a run ended: told apart so that a QEMU failure or a timeout is never taken for
    /// what the guest found.
    public enum End: Sendable {
        /// The guest reported (its report may carry an `error` of its own).
        case reported(TemplateGuestReport)
        /// QEMU itself failed (bad option, missing file, crash): nothing was judged.
        case qemuFailed(String)
        /// The guest ended without a report: a panic, a PID 1 that died, a bad report.
        case guestFailed(String)
        /// The deadline passed; under TCG that is inconclusive.
        case timeout(seconds: Int)
    }

    public struct Outcome: Sendable {
        public var end: End
        /// The guest said it runs as PID 1, and how long after QEMU started the host saw it.
        public var ready: Bool
        public var readySeconds: Double?
        public var seconds: Double
        public var initramfs: GuestInitramfs
        /// The layer the guest wrote, when kept.
        public var layer: String?
        public var consolePath: String
        /// The last console lines (evidence).
        public var excerpt: [String]

        public var report: TemplateGuestReport? {
            if case .reported(let report) = end { return report }
            return nil
        }
    }

    nonisolated(unsafe) private static var runs = 0

    /// Builds the initramfs, makes the layer, boots, reads the report.
    /// - Throws: `MicroVMError` when the initramfs, the kernel copy or the layer cannot be
    ///   made, or QEMU cannot be started; the disk is unchanged.
    public static func run(_ request: Request) throws(MicroVMError) -> Outcome {
        runs += 1
        let number = runs
        let folder = request.folder
        let kernel = folder + "/template-kernel-\(number)"
        let initrd = folder + "/template-\(number).cpio"
        let layer = folder + "/template-\(number).qcow2"
        try request.kernel.copyImage(to: kernel)
        defer { unlink(kernel) }
        let initramfs: GuestInitramfs
        do {
            initramfs = try GuestInitramfs.build(at: initrd, kernel: request.kernel, binary: request.binary, runner: request.runner)
        } catch {
            unlink(initrd)
            throw .launch("\(error)")
        }
        defer { unlink(initrd) }
        try makeLayer(request, at: layer)
        var keep = false
        defer { if !keep { unlink(layer) } }

        let task = TemplateGuestTask(kind: request.task, nonce: GuestProbe.makeNonce(),
                                     superblock: request.superblock, blockSize: request.blockSize)
        // quiet, loglevel=3: the kernel's messages stay off the console the report goes to.
        // panic=-1 with -no-reboot: a panic ends QEMU at once.
        let commandLine = ["console=ttyS0", "quiet", "loglevel=3", "panic=-1"] + task.commandLine
        // The initramfs is unpacked into RAM next to the guest's own use.
        let memory = max(request.memoryMiB, Int(initramfs.bytes >> 20) * 3 + 256)
        let arguments = request.hypervisor.machine + Hypervisor.confinement + [
            "-m", "\(memory)", "-smp", "1", "-no-reboot", "-serial", "stdio",
            "-kernel", kernel, "-initrd", initrd, "-append", commandLine.joined(separator: " "),
            "-drive", "id=disk,file=\(BlockSnapshot.escaped(layer)),format=qcow2,if=none",
        ] + DiskController.virtio.devices(drive: "disk")

        let consolePath = folder + "/template-console-\(number).log"
        let deadline = request.hypervisor.deadline(request.deadlineSeconds)
        let accelerator = request.hypervisor.accelerator.rawValue.uppercased()
        request.logger.notice("booting the template guest", metadata: [
            "task": "\(task.kind.rawValue)", "kernel": "\(request.kernel.version) (\(request.kernel.source))",
            "accelerator": "\(accelerator)", "initramfs_bytes": "\(initramfs.bytes)", "deadline_seconds": "\(deadline)",
        ])
        let readyLine = TemplateGuestReport.readyLine(nonce: task.nonce)
        let clock = ContinuousClock()
        let start = clock.now
        var readySeconds: Double?
        // The guest powers itself off after its report (syncing the layer first): QEMU is
        // left to exit rather than killed, so no write of the layer is lost.
        let run = try GuestProcess.run(
            qemu: request.hypervisor.qemu, arguments: arguments, consolePath: consolePath, deadline: deadline,
            watch: { console in
                if readySeconds == nil, console.contains(readyLine) {
                    let elapsed = start.duration(to: clock.now).components
                    readySeconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
                }
                return false
            },
            progress: { seconds in
                request.logger.notice("template guest running", metadata: [
                    "task": "\(task.kind.rawValue)", "accelerator": "\(accelerator)", "elapsed_seconds": "\(seconds)",
                ])
            })
        let reading = TemplateGuestReport.read(console: run.console, nonce: task.nonce)
        let end = Self.end(of: run.end, console: run.console, reading: reading)
        keep = request.keepLayer
        request.logger.notice("template guest ended", metadata: [
            "task": "\(task.kind.rawValue)", "seconds": "\(Int(run.seconds))", "ready": "\(reading.ready)",
        ])
        return Outcome(end: end, ready: reading.ready, readySeconds: reading.ready ? readySeconds ?? run.seconds : nil,
                       seconds: run.seconds, initramfs: initramfs, layer: keep ? layer : nil, consolePath: consolePath,
                       excerpt: GuestConsole.excerpt(run.console, lines: 30))
    }

    /// How a run ended, from QEMU's end and what the console says: a QEMU failure and a
    /// deadline are never read as the guest's; a guest that exited without a result line
    /// failed, with the panic when its kernel printed one.
    static func end(of processEnd: GuestEnd, console: String, reading: TemplateGuestReport.Reading) -> End {
        switch processEnd {
        case .qemuFailed(let message):
            return .qemuFailed(message)
        case .deadline(let seconds):
            return .timeout(seconds: seconds)
        case .consoleFlood(let bytes):
            return .guestFailed("the guest wrote more than \(bytes) bytes to its console")
        case .exited:
            if let report = reading.report { return .reported(report) }
            if let malformed = reading.malformed { return .guestFailed(malformed) }
            if let panic = console.split(whereSeparator: \.isNewline).first(where: { $0.contains("Kernel panic - not syncing") }) {
                return .guestFailed("the guest's kernel panicked: " + GuestConsole.printable(panic))
            }
            return .guestFailed(reading.ready ? "clarity-heal started as PID 1 but stopped without a result"
                : "the guest stopped before clarity-heal reported as PID 1")
        }
    }

    /// `qemu-img create -f qcow2 -F raw -b DISK LAYER`: the disk, by its absolute path, as
    /// the layer's read-only backing.
    static func makeLayer(_ request: Request, at layer: String) throws(MicroVMError) {
        let result: CommandResult
        do {
            result = try request.runner.run(request.hypervisor.image,
                                            ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", FileReading.absolute(request.disk), layer])
        } catch {
            throw .launch("\(error)")
        }
        guard result.succeeded else {
            throw .launch("qemu-img create exited \(result.status): \(result.errorOutput)")
        }
    }
}
