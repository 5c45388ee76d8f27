import ArgumentParser
import Glibc
import HealCore
import HealSystem
import Logging

extension TemplateGuestTask.Kind: ExpressibleByArgument {}

extension ClarityHeal {
    struct Guest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Boot the template guest (clarity-heal as PID 1) on a disk, or only build its initramfs.",
            discussion: """
                The template guest is what repair and diagnose boot when a disk's own system
                cannot boot: a kernel from the recovery set (the newest intact
                /boot/vmlinuz-* with its /lib/modules tree, of --kernel-root), and an initramfs
                clarity-heal builds itself (newc cpio: this binary as /init, its libraries,
                e2fsck, the modules for the guest's disk). With --disk the guest runs --task on
                the disk through a throwaway qcow2 layer (the disk is never written) and the
                report is printed. With --initramfs FILE only the initramfs is written.
                Exits 0 when the guest reported (or the initramfs was written), 1 when a check
                found errors, 3 when the guest could not be built or booted, or did not report.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("The disk to check (an image or an unmounted device).", valueName: "image"))
        var disk: String?

        @Option(name: .long, help: "What the guest does: ready (boot and report only), check (e2fsck -fn).")
        var task: TemplateGuestTask.Kind = .check

        @Option(name: .long, help: ArgumentHelp("The root whose /boot and /lib/modules give the kernel.", valueName: "dir"))
        var kernelRoot: String = "/"

        @Option(name: .long, help: ArgumentHelp("Only write the guest's initramfs to this file.", valueName: "file"))
        var initramfs: String?

        @Option(name: .long, help: ArgumentHelp("Scratch space for the guest's files.", valueName: "dir"))
        var scratch: String = "/var/tmp/clarity-heal"

        func validate() throws {
            if (disk == nil) == (initramfs == nil) { throw ValidationError("give either --disk or --initramfs") }
            if task == .repair { throw ValidationError("the repair task is run by `repair --disk`, which validates it") }
        }

        func run() throws {
            global.bootstrapLogging()
            let logger = Logger(label: "clarity-heal.guest")
            let kernel: RecoveryKernel
            do {
                let source = kernelRoot == "/" ? "this system" : "--kernel-root \(kernelRoot)"
                kernel = try RecoveryKernel.newest(in: try SystemRoot(kernelRoot), source: source).get()
            } catch {
                throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
            }
            if let initramfs {
                let built: GuestInitramfs
                do {
                    built = try GuestInitramfs.build(at: initramfs, kernel: kernel)
                } catch {
                    throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
                }
                if global.json { try printJSON(built) } else { print("\(built.path): \(built.bytes) bytes for \(built.kernelVersion)") }
                return
            }
            guard let disk else { return }
            let outcome: TemplateGuest.Outcome
            do {
                let folder = try ScratchFolder(claiming: scratch + "/guest-\(getpid())")
                defer { folder.release() }
                let hypervisor = try Hypervisor.find(kernel: kernel.hostPath, scratch: folder.path)
                outcome = try TemplateGuest.run(.init(disk: disk, task: task, kernel: kernel, hypervisor: hypervisor,
                                                      folder: folder.path, logger: logger))
            } catch {
                throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
            }
            let result = GuestResult(outcome)
            if global.json { try printJSON(result) } else {
                print("template guest: \(result.end) in \(Int(outcome.seconds)) s" + (result.readySeconds.map { ", ready after \($0) s" } ?? ""))
                for step in outcome.report?.steps ?? [] { print("  \(step.command.joined(separator: " ")): exit \(step.status)") }
            }
            guard let report = outcome.report else { throw ExitStatus.failedSafely }
            if report.error != nil { throw ExitStatus.failedSafely }
            if report.steps.contains(where: { $0.status != 0 }) { throw ExitStatus.findings }
        }
    }

    /// `guest --json`: how the run ended and the guest's report.
    struct GuestResult: Encodable {
        var end: String
        var detail: String?
        var ready: Bool
        var readySeconds: Double?
        var seconds: Double
        var initramfsBytes: Int64
        var report: TemplateGuestReport?
        var console: [String]

        init(_ outcome: TemplateGuest.Outcome) {
            switch outcome.end {
            case .reported: end = "reported"
            case .qemuFailed(let why): end = "qemu-failed"; detail = why
            case .guestFailed(let why): end = "guest-failed"; detail = why
            case .timeout(let seconds): end = "timeout"; detail = "no report within \(seconds) s"
            }
            ready = outcome.ready
            readySeconds = outcome.readySeconds
            seconds = outcome.seconds
            initramfsBytes = outcome.initramfs.bytes
            report = outcome.report
            console = outcome.excerpt
        }
    }
}
