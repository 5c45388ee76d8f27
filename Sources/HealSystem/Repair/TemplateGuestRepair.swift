import Glibc
import HealCore
import Logging

/// `filesystem-errors` on a disk whose root cannot be mounted at all: its primary
/// superblock is unreadable, a backup one is intact (`ExtBackupSuperblock`). No file-level
/// clone can be made of it, so the repair runs in a template guest and is validated there
/// and on the host:
///
/// ```
///  disk ◀─ ro backing ─ template-1.qcow2 ◀─ guest: e2fsck -fy -b N -B S /dev/vda
///   │                        │                     e2fsck -fn /dev/vda        (filesystem-check)
///   │                        │                     boot chain on a ro mount
///   │                        ├─ host: FUSE snapshot of the layer: e2fsck -fn, detector,
///   │                        │        ReadOnlyDisk mount, boot chain            (mounts, resolved, boot-chain)
///   │                        └─ GuestBoot of the layer (--environment microvm|auto, when
///   │                           the repaired root has a default entry)         (boot, stability)
///   └─ fix package: FilesystemRepair with the backup superblock; apply runs
///      e2fsck -fy -b N -B S -z UNDO on the disk itself
/// ```
///
/// The disk is only ever a read-only backing file until apply.
public struct TemplateGuestRepair {
    public struct Request {
        public var disk: String
        /// Why the disk could not be mounted (the evidence).
        public var mountError: String
        public var backup: ExtBackupSuperblock
        public var environment: RepairPipeline.EnvironmentChoice
        public var microVM: MicroVMSettings
        /// Where the template guest's kernel may come from, in order.
        public var kernelRoots: [(root: SystemRoot, source: String)]
        public var scratch: String
        public var out: String
        public var clock: any Clock
        public var runner: any CommandRunner
        public var logger: Logger

        public init(disk: String, mountError: String, backup: ExtBackupSuperblock, environment: RepairPipeline.EnvironmentChoice,
                    microVM: MicroVMSettings, kernelRoots: [(root: SystemRoot, source: String)], scratch: String, out: String,
                    clock: any Clock = SystemClock(), runner: any CommandRunner = SpawnCommandRunner(), logger: Logger) {
            self.disk = disk
            self.mountError = mountError
            self.backup = backup
            self.environment = environment
            self.microVM = microVM
            self.kernelRoots = kernelRoots
            self.scratch = scratch
            self.out = out
            self.clock = clock
            self.runner = runner
            self.logger = logger
        }
    }

    public static let descriptor = StrategyDescriptor(
        id: "e2fsck-backup-superblock",
        title: "Repair the filesystem from a backup superblock with e2fsck -fy -b, proven in a template guest first",
        classes: [.filesystemErrors],
        risk: 5,
        sideEffects: "e2fsck rewrites the primary superblock and group descriptors from the backup; -y answers yes to every question: damaged inodes are cleared and orphans go to lost+found",
        priorEffectiveness: 0.8,
        estimatedSeconds: 120)

    /// The finding for a disk that cannot be mounted but has an intact backup superblock.
    public static func finding(_ request: Request) -> Finding {
        let backup = request.backup
        let label = backup.label.map { " (LABEL=\($0))" } ?? ""
        return Finding(.filesystemErrors,
                       summary: "\(backup.fsType) filesystem \(request.disk)\(label) cannot be mounted: its primary superblock is unreadable; "
                           + "the backup at block \(backup.superblock) (block size \(backup.blockSize)) is intact",
                       evidence: [
                           Evidence(source: "mount \(request.disk)", detail: request.mountError),
                           Evidence(source: "dumpe2fs -o superblock=\(backup.superblock) -o blocksize=\(backup.blockSize) -h \(request.disk)",
                                    detail: backup.header),
                       ])
    }

    public init() {}

    /// Repairs the disk in a template guest, validates the result, and writes the fix
    /// package when every check passed.
    /// - Throws: `RepairPipeline.Error.environment` when no guest can be made (no kernel,
    ///   no QEMU); the disk is unchanged.
    public func run(_ request: Request) throws(RepairPipeline.Error) -> RepairPipeline.Result {
        let finding = Self.finding(request)
        let backup = request.backup
        let operation = "e2fsck -fy -b \(backup.superblock) -B \(backup.blockSize) \(request.disk) (\(backup.fsType) UUID \(backup.uuid))"
        var result = RepairPipeline.Result(status: .unrepairable, root: request.disk, environment: "template-guest",
                                           finding: finding, diagnosis: nil, attempts: [], excluded: [], remaining: [])

        let kernel: RecoveryKernel
        switch RecoveryKernel.choose(request.kernelRoots) {
        case .success(let found): kernel = found
        case .failure(let unavailable): throw .environment("\(unavailable)")
        }
        let folder: ScratchFolder
        let hypervisor: Hypervisor
        do {
            try Paths.makeDirectory(request.scratch)
            folder = try ScratchFolder(claiming: request.scratch + "/template-\(getpid())-\(request.clock.now())")
            hypervisor = try Hypervisor.find(kernel: kernel.hostPath,
                                             wanted: request.microVM.accelerator.rawValue, scratch: request.scratch)
        } catch {
            throw .environment("\(error)")
        }
        defer { folder.release() }
        let size: Int64
        do {
            size = try BlockSnapshot.size(of: request.disk)
        } catch {
            throw .environment("\(error)")
        }
        // The state before, for the package: e2fsck itself, read-only, on the disk.
        let before = try? request.runner.run("e2fsck", ["-fn", request.disk])

        let guest: TemplateGuest.Outcome
        do {
            guest = try TemplateGuest.run(.init(
                disk: request.disk, task: .repair, superblock: backup.superblock, blockSize: backup.blockSize,
                kernel: kernel, hypervisor: hypervisor, folder: folder.path,
                deadlineSeconds: request.microVM.bootTimeoutSeconds, keepLayer: true,
                runner: request.runner, logger: request.logger))
        } catch {
            throw .environment("\(error)")
        }
        defer { if let layer = guest.layer { unlink(layer) } }
        let guestNote = "template guest: kernel \(kernel.version) from \(kernel.source), \(hypervisor.accelerator.rawValue.uppercased()), "
            + "initramfs \(guest.initramfs.bytes / 1024) KiB, \(Int(guest.seconds)) s"

        var checks: [ValidationReport.Check] = []
        guard let report = guest.report, report.error == nil, let repair = report.steps.first, let layer = guest.layer else {
            let why: String
            let verdict: ValidationReport.Verdict
            switch guest.end {
            case .reported(let report): why = report.error ?? "the guest ran no repair"; verdict = .failed
            case .qemuFailed(let message): why = "QEMU failed: \(message)"; verdict = .inconclusive
            case .guestFailed(let message): why = message; verdict = .failed
            case .timeout(let seconds): why = "no report within \(seconds) s"; verdict = hypervisor.accelerator == .tcg ? .inconclusive : .failed
            }
            checks.append(.init(name: "filesystem-check", verdict: verdict, detail: "\(guestNote): \(why)", evidence: guest.excerpt))
            result.attempts = [.init(strategy: Self.descriptor.id, validated: false, notes: ["\(why)"], operations: [operation], checks: checks)]
            result.advice = Self.advice(request)
            return result
        }
        let repairNote = "e2fsck \(repair.command.dropFirst().joined(separator: " ")) in the guest exited \(repair.status)"
        guard FilesystemRepair.Outcome(status: repair.status).succeeded, let check = report.steps.dropFirst().first else {
            checks.append(.init(name: "filesystem-check", verdict: .failed, detail: "\(guestNote): \(repairNote)",
                                evidence: repair.output.split(separator: "\n").suffix(10).map(String.init)))
            result.attempts = [.init(strategy: Self.descriptor.id, validated: false, notes: [repairNote], operations: [operation], checks: checks)]
            result.advice = Self.advice(request)
            return result
        }

        // Host side: the repaired layer, through a snapshot of its own (the layer stays as
        // the guest left it for the boot below).
        var hostCheck: CommandResult?
        var mountCheck: ValidationReport.Check
        var chainCheck: ValidationReport.Check
        var resolvedCheck: ValidationReport.Check
        var bootable: Result<String, MicroVMError> = .failure(.unbootable("the repaired root was not read"))
        do {
            let snapshot = try BlockSnapshot(base: layer, directory: folder.path + "/validate", format: .qcow2, size: size,
                                             runner: request.runner)
            defer { snapshot.close() }
            hostCheck = try? request.runner.run("e2fsck", ["-fn", snapshot.path])
            // The detector on the layer alone: an empty root has no fstab naming anything else.
            try Paths.makeDirectory(folder.path + "/no-root")
            let stillBroken = try? FilesystemErrorsDetector().detect(
                DetectionContext(root: try SystemRoot(folder.path + "/no-root"), extraDevices: [snapshot.path],
                                 runner: request.runner, logger: request.logger))
                .filter { FilesystemCheckStrategy.device(of: $0) == snapshot.path }
            resolvedCheck = .init(name: "resolved", verdict: stillBroken?.isEmpty == true ? .passed : .failed,
                                  detail: stillBroken == nil ? "the filesystem detector could not check the repaired layer"
                                      : stillBroken!.isEmpty ? "filesystem-errors no longer detected on the repaired layer of \(request.disk)"
                                      : "still detected: " + stillBroken!.map(\.summary).joined(separator: "; "))
            do {
                let disk = try ReadOnlyDisk(image: snapshot.path, scratch: folder.path + "/mount", runner: request.runner)
                defer { disk.release() }
                mountCheck = .init(name: "mounts", verdict: .passed, detail: "the repaired layer mounts read-only on the host")
                chainCheck = Self.bootChain(disk.root, guest: report.bootChain ?? [])
                bootable = GuestBoot.defaultKernel(of: disk.root)
            } catch {
                mountCheck = .init(name: "mounts", verdict: .failed, detail: "the repaired layer does not mount: \(error)")
                chainCheck = .init(name: "boot-chain", verdict: .notRun, detail: "the repaired layer does not mount")
            }
        } catch {
            throw .environment("cannot read the repaired layer: \(error)")
        }
        let guestClean = check.status == 0
        let hostClean = hostCheck?.status == 0
        checks.append(.init(
            name: "filesystem-check", verdict: guestClean && hostClean ? .passed : .failed,
            detail: "\(guestNote): \(repairNote); e2fsck -fn exits \(check.status) in the guest and "
                + "\(hostCheck.map { String($0.status) } ?? "-") on the host",
            evidence: guestClean && hostClean ? [] : (check.output + (hostCheck?.output ?? "")).split(separator: "\n").suffix(10).map(String.init)))
        checks += [resolvedCheck, mountCheck, chainCheck]

        // The validation boot of the repaired layer, as the machine would boot it.
        let wantsBoot = request.environment == .microvm || request.environment == .auto
        let staticPassed = !checks.contains { $0.verdict == .failed }
        switch (wantsBoot, staticPassed, bootable) {
        case (false, _, _):
            checks += Self.notBooted("--environment \(request.environment.rawValue) does not boot")
        case (true, false, _):
            checks += Self.notBooted("not booted: a check before the boot failed")
        case (true, true, .failure(let reason)):
            checks += Self.notBooted("the repaired root cannot be booted: \(reason)")
        case (true, true, .success):
            checks += validationBoot(layer: layer, size: size, hypervisor: hypervisor, folder: folder.path, request: request)
        }

        let validation = ValidationReport(checks: checks)
        let validated = validation.passed
        result.attempts = [.init(strategy: Self.descriptor.id, validated: validated,
                                 notes: checks.map { "\($0.name): \($0.verdict.rawValue): \($0.detail)" },
                                 operations: [operation], checks: checks)]
        result.validation = validation
        guard validated else {
            result.advice = Self.advice(request)
            return result
        }
        var record = FilesystemRepair(
            device: request.disk, uuid: backup.uuid, fsType: backup.fsType, size: size,
            checkStatus: before?.status ?? -1, checkOutput: FilesystemRepair.tail((before?.output ?? "") + (before?.errorOutput ?? "")),
            repairStatus: repair.status, repairOutput: repair.output)
        record.backupSuperblock = backup.superblock
        record.blockSize = backup.blockSize
        var manifest = FixManifest(
            id: RepairPipeline.fixID(at: request.clock.now(), failureClass: .filesystemErrors), created: Int(request.clock.now()),
            failureClass: .filesystemErrors, strategy: Self.descriptor, findings: [finding], operations: [operation],
            changes: [], validation: validation, attempts: result.attempts, environment: "template-guest", needsReboot: false)
        manifest.filesystem = record
        let package: FixPackage
        do {
            package = try FixPackage.write(manifest, files: [:], into: request.out)
        } catch {
            throw .package("\(error)")
        }
        result.status = .validated
        result.fixPackage = package.directory
        result.fix = manifest.id
        result.package = package
        return result
    }

    /// What a person can do when the repair did not validate: the same e2fsck, by hand,
    /// from the backup superblock.
    static func advice(_ request: Request) -> String {
        "from a rescue system, with the disk unmounted, run `e2fsck -f -b \(request.backup.superblock) -B \(request.backup.blockSize) "
            + "\(request.disk)` (answer each question; -y answers yes to all), then mount it read-only and check what lost+found holds"
    }

    /// `boot-chain`: the files a boot needs are on the repaired root (the guest's own look
    /// at a read-only mount agrees).
    static func bootChain(_ root: SystemRoot, guest: [String]) -> ValidationReport.Check {
        let present = BlockRepairTrial.bootChain.filter { root.files.statusIfPresent($0) != nil }
        let kernels = root.files.entriesIfPresent(root.canonical("/boot")).filter { $0.hasPrefix("vmlinuz-") }
        let hasInit = present.contains("/sbin/init") || present.contains("/lib/systemd/systemd") || present.contains("/usr/lib/systemd/systemd")
        let missing = (present.contains("/etc/fstab") ? [] : ["/etc/fstab"]) + (hasInit ? [] : ["/sbin/init"])
        guard missing.isEmpty else {
            return .init(name: "boot-chain", verdict: .failed,
                         detail: "missing on the repaired root: " + missing.joined(separator: ", "))
        }
        let disagree = Set(present).symmetricDifference(guest)
        return .init(name: "boot-chain", verdict: .passed,
                     detail: "\(present.count) boot-chain files on the repaired root (\(present.joined(separator: " "))), "
                        + "\(kernels.count) kernel(s) in /boot"
                        + (disagree.isEmpty ? "; the guest saw the same" : "; the guest saw \(guest.count)"))
    }

    static func notBooted(_ why: String) -> [ValidationReport.Check] {
        [.init(name: "boot", verdict: .notRun, detail: why), .init(name: "stability", verdict: .notRun, detail: why)]
    }

    /// Boots the repaired layer with its own default entry (`GuestBoot`, a throwaway layer
    /// of its own above it) and judges the console (`BootVerdict`).
    func validationBoot(layer: String, size: Int64, hypervisor: Hypervisor, folder: String,
                        request: Request) -> [ValidationReport.Check] {
        let probe = GuestProbe(nonce: GuestProbe.makeNonce(), stabilitySeconds: request.microVM.stabilitySeconds)
        var boot = GuestBoot.Request(disk: layer, probe: probe, hypervisor: hypervisor, folder: folder,
                                     memoryMiB: MicroVMEnvironment.memory(request.microVM), cpus: MicroVMEnvironment.cpus(request.microVM),
                                     deadlineSeconds: request.microVM.bootTimeoutSeconds, runner: request.runner, logger: request.logger)
        boot.diskFormat = .qcow2
        boot.diskSize = size
        let outcome: GuestBoot.Outcome
        do {
            outcome = try GuestBoot.boot(boot)
        } catch {
            let verdict: ValidationReport.Verdict
            if case .unbootable = error { verdict = .failed } else { verdict = .inconclusive }
            return [.init(name: "boot", verdict: verdict, detail: "\(error)"),
                    .init(name: "stability", verdict: verdict == .failed ? .notRun : .inconclusive, detail: "needs a boot of the repaired disk")]
        }
        let verdict = BootVerdict(console: outcome.console, end: outcome.run.end, emulated: hypervisor.accelerator == .tcg,
                                  excerpt: outcome.excerpt)
        return verdict.checks.map { check in
            var check = check
            check.detail += " [\(outcome.entry.title), \(hypervisor.accelerator.rawValue.uppercased()), "
                + "\(outcome.controller.rawValue), \(Int(outcome.run.seconds)) s]"
            return check
        }
    }
}
