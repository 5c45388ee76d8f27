import ArgumentParser
import FoundationEssentials
import HealCore
import HealSystem
import Logging

extension RepairPipeline.EnvironmentChoice: ExpressibleByArgument {}

extension ClarityHeal {
    struct Repair: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find a repair that is proven on a clone, and write it as a fix package.",
            discussion: """
                Never writes to the examined root: strategies run on a copy-on-write clone,
                each is validated there, and the first that validates is written to --out.
                Exits 0 when there is nothing to repair, 1 when a validated fix package was
                written (apply it with `clarity-heal apply`), 3 when the environment could
                not be set up, 4 when no strategy validated (a person must act).
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var system: SystemOptions

        @OptionGroup var diskOption: DiskOptions

        @Option(name: .long, help: "Where to try repairs: auto (with --disk the microVM when QEMU is here and the disk has a bootable entry; else overlay, else copy), overlay, copy or microvm (boots each repair; needs --disk).")
        var environment: RepairPipeline.EnvironmentChoice = .auto

        @Option(name: .long, help: ArgumentHelp("Where to write the fix package.", valueName: "dir"))
        var out: String = "/var/lib/clarity-heal/fixes"

        @Option(name: .long, help: ArgumentHelp("Scratch space for the clone.", valueName: "dir"))
        var scratch: String = "/var/tmp/clarity-heal"

        @Flag(name: .long, help: "Print the candidate strategies and their plans; change nothing.")
        var dryRun = false

        func validate() throws {
            try diskOption.validate(global)
        }

        func run() throws {
            global.bootstrapLogging()
            let logger = Logger(label: "clarity-heal.repair")
            var mountedDisk: ReadOnlyDisk?
            defer { mountedDisk?.release() }
            var devices = system.device
            let root: SystemRoot
            do {
                root = try diskOption.root(global, scratch: scratch, devices: &devices, mounted: &mountedDisk)
            } catch let unmountable as DiskOptions.Unmountable {
                try repairInTemplateGuest(unmountable, logger: logger)
                return
            }
            let config = SystemOptions.config(root)
            let notes = DocumentNotes(warnings: config.warnings, pendingRecovery: reportPendingRecovery(root))
            var request = RepairPipeline.Request(root: root, devices: devices, thresholds: config.config.thresholds,
                                                 pstoreDirectory: system.pstore, environment: environment,
                                                 disk: diskOption.disk, microVM: config.config.microVM,
                                                 scratch: scratch, out: .folder(out), clock: ClarityHeal.clock, logger: logger)
            request.fleet = config.config.fleet
            if dryRun {
                let plans = RepairPipeline().plans(request)
                if global.json { try printJSON(plans, notes: notes) } else { print(RepairText.render(plans), terminator: "") }
                if plans.route?.decision == .needsPerson { throw ExitStatus.needsPerson }
                if plans.finding != nil { throw ExitStatus.findings }
                return
            }
            let result: RepairPipeline.Result
            do {
                result = try RepairPipeline().run(request)
            } catch {
                throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
            }
            try finish(result, notes: notes)
        }

        func finish(_ result: RepairPipeline.Result, notes: DocumentNotes = DocumentNotes()) throws {
            if global.json { try printJSON(result, notes: notes) } else { print(RepairText.render(result), terminator: "") }
            switch result.status {
            case .healthy: return
            case .validated: throw ExitStatus.findings
            case .unrepairable: throw ExitStatus.needsPerson
            }
        }

        /// A disk whose root cannot be mounted, with an intact backup superblock: repaired
        /// and validated in a template guest (TemplateGuestRepair).
        func repairInTemplateGuest(_ unmountable: DiskOptions.Unmountable, logger: Logger) throws {
            let settings = SystemOptions.config(try SystemRoot("/")).config.microVM
            if dryRun {
                let finding = TemplateGuestRepair.finding(.init(
                    disk: unmountable.disk, mountError: unmountable.mountError, backup: unmountable.backup, environment: environment,
                    microVM: settings, kernelRoots: [], scratch: scratch, out: out, logger: logger))
                let plans = RepairPipeline.DryRun(root: unmountable.disk, finding: finding, candidates: [
                    .init(strategy: TemplateGuestRepair.descriptor, unmetPrecondition: nil,
                          operations: ["e2fsck -fy -b \(unmountable.backup.superblock) -B \(unmountable.backup.blockSize) \(unmountable.disk) in a template guest"],
                          planError: nil),
                ])
                if global.json { try printJSON(plans) } else { print(RepairText.render(plans), terminator: "") }
                throw ExitStatus.findings
            }
            logger.notice("the disk's root cannot be mounted; a backup superblock names it: repairing in a template guest",
                          metadata: ["disk": "\(unmountable.disk)", "superblock": "\(unmountable.backup.superblock)"])
            let request = TemplateGuestRepair.Request(
                disk: unmountable.disk, mountError: unmountable.mountError, backup: unmountable.backup, environment: environment,
                microVM: settings, kernelRoots: try diskOption.kernelRoots(), scratch: scratch, out: out, clock: ClarityHeal.clock,
                logger: logger)
            let result: RepairPipeline.Result
            do {
                result = try TemplateGuestRepair().run(request)
            } catch {
                throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
            }
            try finish(result)
        }
    }
}
