import Glibc
import HealCore
import Logging

/// An environment that can boot what it validates (RepairEngine asks for it after the
/// static checks pass).
public protocol BootValidating: AnyObject {
    /// Boots the examined disk with `changes` and returns the `boot` and `stability`
    /// checks, decided from the guest's console. `disk`, when given, stands in for the
    /// examined disk: the repaired block-level snapshot of a filesystem repair.
    func validateBoot(_ changes: Changeset, disk: String?) -> [ValidationReport.Check]
    /// The whole console of the last validation boot (carriage returns dropped), nil before
    /// the first.
    var lastBootConsole: String? { get }
}

extension BootValidating {
    public func validateBoot(_ changes: Changeset) -> [ValidationReport.Check] { validateBoot(changes, disk: nil) }
}

/// The microVM environment: strategies run on a file-level overlay clone of the disk's
/// filesystem exactly as in `OverlayEnvironment` (the changeset of the fix package is read
/// from it the same way), and a strategy whose static checks pass is then booted: the
/// disk, as the read-only backing file of a throwaway qcow2 layer holding the changeset,
/// booted with its own kernel in QEMU (`GuestBoot`).
///
/// ```
///  disk ─ ro loop ─▶ ReadOnlyDisk mount ─▶ overlay clone ──▶ strategies, static checks
///    │                                         │ changeset
///    └──── read-only backing ◀── boot-N.qcow2 ◀┘ + probe ──▶ QEMU ──▶ boot, stability
/// ```
///
/// Only a disk can be booted: a filesystem image or an unmounted block device (`repair
/// --disk`). A root mounted read-write (the running system) has no consistent block-level
/// image; the pipeline declines the microVM for it and says why.
public final class MicroVMEnvironment: Environment, BootValidating {
    public var kind: EnvironmentKind { .microvm }
    public var root: SystemRoot { files.root }

    public let disk: String
    public let hypervisor: Hypervisor
    public let settings: MicroVMSettings
    /// The file-level clone the strategies run in.
    private let files: OverlayEnvironment
    private let folder: ScratchFolder
    /// Units that failed before any repair: on the examined system's last recorded boot,
    /// and — once a repaired boot shows failures the journal does not — on a boot of the
    /// unrepaired disk.
    private var failedBefore: Set<String>
    private var bootedUnrepaired = false
    private let runner: any CommandRunner
    private let logger: Logger
    /// The last boot's console excerpt, the evidence of its checks.
    public private(set) var lastConsole: [String] = []
    /// The last validation boot's whole console, kept for the fix package and `report`.
    public private(set) var lastBootConsole: String?

    /// - Parameters:
    ///   - lower: the disk's filesystem mounted read-only (`ReadOnlyDisk`).
    ///   - disk: the disk itself, only ever a read-only backing file.
    ///   - scratch: a folder of this process's to make (the overlay and the boot layers).
    public init(lower: SystemRoot, disk: String, hypervisor: Hypervisor, settings: MicroVMSettings,
                scratch: String, runner: any CommandRunner = SpawnCommandRunner(),
                logger: Logger) throws(EnvironmentError) {
        self.disk = disk
        self.hypervisor = hypervisor
        self.settings = settings
        self.runner = runner
        self.logger = logger
        folder = try ScratchFolder(claiming: scratch)
        do {
            files = try OverlayEnvironment(lower: lower, scratch: scratch + "/overlay", runner: runner)
        } catch {
            folder.release()
            throw error
        }
        failedBefore = Self.failedUnits(lower)
    }

    deinit { tearDown() }

    public func snapshot() throws(EnvironmentError) -> Snapshot { try files.snapshot() }
    public func restore(_ snapshot: Snapshot) throws(EnvironmentError) { try files.restore(snapshot) }
    public func changes(since snapshot: Snapshot) throws(EnvironmentError) -> Changeset { try files.changes(since: snapshot) }
    public func run(_ arguments: [String]) throws(EnvironmentError) -> CommandResult { try files.run(arguments) }

    public func tearDown() {
        files.tearDown()
        folder.release()
    }

    /// Boots the disk with `changes` written over it; the checks say what the console
    /// showed. A boot that cannot be made (no entry, no driver, QEMU missing a file) is
    /// `not-run` with the reason, never passed.
    public func validateBoot(_ changes: Changeset, disk: String? = nil) -> [ValidationReport.Check] {
        let outcome: GuestBoot.Outcome
        do {
            outcome = try boot(changes, disk: disk)
        } catch {
            // A repaired disk that cannot be booted (no entry, no kernel, no driver for any
            // controller) fails; QEMU or a layer that could not be started judges nothing.
            let verdict: ValidationReport.Verdict
            if case .unbootable = error { verdict = .failed } else { verdict = .inconclusive }
            return [
                .init(name: "boot", verdict: verdict, detail: "\(error)"),
                .init(name: "stability", verdict: verdict == .failed ? .notRun : .inconclusive,
                      detail: "needs a boot of the repaired disk"),
            ]
        }
        var verdict = BootVerdict(console: outcome.console, end: outcome.run.end,
                                  emulated: hypervisor.accelerator == .tcg, failedBefore: failedBefore,
                                  excerpt: lastConsole)
        // A disk broken in more than one way fails units the repair did not touch; a boot
        // of the disk as it is tells them apart (once: its failures hold for every repair).
        if !verdict.newFailures.isEmpty, !bootedUnrepaired {
            bootedUnrepaired = true
            let repairedConsole = lastConsole
            if let unrepaired = try? boot(Changeset()) {
                failedBefore.formUnion(unrepaired.console.failedUnits)
                failedBefore.formUnion(unrepaired.console.stableFailedUnits ?? [])
                failedBefore.formUnion(unrepaired.console.consoleFailures)
                logger.notice("boot of the unrepaired disk", metadata: [
                    "failed_units": "\(failedBefore.sorted().joined(separator: " "))",
                ])
            }
            lastConsole = repairedConsole
            verdict.failedBefore = failedBefore
        }
        lastBootConsole = outcome.run.console.filter { $0 != "\r" }
        logger.notice("validation boot", metadata: [
            "entry": "\(outcome.entry.title)", "seconds": "\(Self.tenths(outcome.run.seconds))",
            "target_seconds": "\(outcome.targetSeconds.map(Self.tenths) ?? "-")",
            "settled_seconds": "\(outcome.settledSeconds.map(Self.tenths) ?? "-")",
            "boot": "\(verdict.checks.first?.verdict.rawValue ?? "")",
        ])
        return verdict.checks.map { check in
            var check = check
            check.detail += " [\(outcome.entry.title), \(hypervisor.accelerator.rawValue.uppercased()), "
                + "\(outcome.controller.rawValue), \(Int(outcome.run.seconds)) s]"
            return check
        }
    }

    /// One boot of the disk (or of `disk` standing in for it) with `changes`, its console
    /// kept in `lastConsole`.
    public func boot(_ changes: Changeset, disk: String? = nil) throws(MicroVMError) -> GuestBoot.Outcome {
        let probe = GuestProbe(nonce: GuestProbe.makeNonce(), stabilitySeconds: settings.stabilitySeconds)
        let request = GuestBoot.Request(
            disk: disk ?? self.disk, changes: changes, probe: probe, hypervisor: hypervisor, folder: folder.path,
            memoryMiB: Self.memory(settings), cpus: Self.cpus(settings),
            deadlineSeconds: settings.bootTimeoutSeconds, runner: runner, logger: logger)
        let outcome = try GuestBoot.boot(request)
        lastConsole = outcome.excerpt
        return outcome
    }

    /// `12.3` for a log line.
    static func tenths(_ seconds: Double) -> String {
        let tenths = Int(seconds * 10)
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// Guest memory: the configured bound, at most a quarter of the host's.
    static func memory(_ settings: MicroVMSettings) -> Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        let hostMiB = pages > 0 && size > 0 ? pages / 1024 * size / 1024 : settings.memoryMiB * 4
        return max(256, min(settings.memoryMiB, hostMiB / 4))
    }

    static func cpus(_ settings: MicroVMSettings) -> Int {
        max(1, min(settings.cpus, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// The units that failed on the last boot the root's journal recorded (none when it
    /// keeps no journal).
    static func failedUnits(_ root: SystemRoot) -> Set<String> {
        guard root.files.statusIfPresent("/var/log/journal", followLast: true) != nil,
              let journal = try? Journal(root: root),
              let boot = try? Journal.previousBoot(in: journal.boots(), current: nil),
              let failed = try? journal.failedUnits(boot: boot.id) else { return [] }
        return Set(failed.map(\.unit))
    }
}
