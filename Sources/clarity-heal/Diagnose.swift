import ArgumentParser
import HealCore
import HealSystem
import Logging

extension ClarityHeal {
    struct Diagnose: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find the root cause of a boot failure, broad to narrow along the boot chain.",
            discussion: """
                Runs the detectors stage by stage (boot loader, kernel, initramfs, root device,
                fstab, init, services, resources, integrity), adds targeted steps when one finds
                something (a crashing module: its file, dependencies, initramfs, package), and
                settles the root cause with the knowledge base: the built-in signatures plus
                <root>/etc/clarity-heal/knowledge.d/*.json. Only reads: a bad config setting is
                a warning (its default is used), an interrupted apply is reported, not finished.
                With --disk IMAGE --boot, the disk is first booted in QEMU over a throwaway
                layer (the disk is never written): a panic, an emergency shell, a root device
                that never appeared or a hang on its console is the first finding, and the
                diagnosis goes on from it.
                A kernel crash is routed to the classes that can fix it (a root fs it could not
                mount: root=, the initramfs and its drivers; a dead init: init, packaged files,
                accounts; a module: the module and the kernels without it); the kernel-panic
                finding's "routing" evidence says where and why.
                Exits 0 when healthy, 1 when a root cause was found, 2 on a usage error or a bad
                knowledge file, 3 when nothing was found but a step could not look, or the boot
                asked for could not be made, 4 when the root cause is a machine check or a fatal
                hardware error (a person checks the hardware; nothing is repaired).
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var system: SystemOptions

        @OptionGroup var diskOption: DiskOptions

        @Flag(name: .long, help: "Boot the disk (--disk) in QEMU first and read the failure from its console.")
        var boot = false

        @Option(name: .long, help: ArgumentHelp("Scratch space for the disk's mount and the boot.", valueName: "dir"))
        var scratch: String = "/var/tmp/clarity-heal"

        func validate() throws {
            if boot && diskOption.disk == nil {
                throw ValidationError("--boot needs --disk: only a disk image or an unmounted device can be booted")
            }
            try diskOption.validate(global)
        }

        func run() throws {
            global.bootstrapLogging()
            let logger = Logger(label: "clarity-heal.diagnose")
            var mountedDisk: ReadOnlyDisk?
            defer { mountedDisk?.release() }
            var devices = system.device
            let root: SystemRoot
            do {
                root = try diskOption.root(global, scratch: scratch, devices: &devices, mounted: &mountedDisk)
            } catch let unmountable as DiskOptions.Unmountable {
                let backup = unmountable.backup
                throw CommandFailure(.failed, "\(unmountable.mountError); its primary superblock is unreadable, but the backup at block "
                    + "\(backup.superblock) names a \(backup.fsType) filesystem (UUID \(backup.uuid)): `clarity-heal repair --disk "
                    + "\(unmountable.disk)` repairs it in a template guest", status: ExitStatus.failedSafely)
            }
            let config = SystemOptions.config(root)
            let knowledge: KnowledgeBase
            do {
                knowledge = try KnowledgeBase.load(root: root)
            } catch {
                throw CommandFailure(.config, "\(error)", status: ExitStatus.usage)
            }
            let notes = DocumentNotes(warnings: config.warnings, pendingRecovery: reportPendingRecovery(root))
            let context = DetectionContext(root: root, thresholds: config.config.thresholds, extraDevices: devices,
                                           pstoreDirectory: system.pstore, logger: logger)
            var booted: BootObservation?
            var notBooted: [Diagnosis.Failure] = []
            var templateStep: DiagnosisStep?
            if boot, let disk = diskOption.disk {
                do {
                    booted = try DiagnosisBoot.observe(disk: disk, root: root, settings: config.config.microVM,
                                                       scratch: scratch, logger: logger)
                } catch {
                    guard case .unbootable(let reason) = error else {
                        throw CommandFailure(.failed, "cannot boot \(disk): \(error)", status: ExitStatus.failedSafely)
                    }
                    // No kernel that boots: what can still be checked is, in a template guest.
                    notBooted.append(.init(step: "boot the disk in QEMU", message: "the disk was not booted: \(reason)"))
                    let (step, failure) = DiagnosisBoot.templateCheck(
                        disk: disk, root: root, kernelRoots: try diskOption.kernelRoots(), settings: config.config.microVM,
                        scratch: scratch, logger: logger)
                    templateStep = step
                    notBooted += failure.map { [$0] } ?? []
                }
            }
            var diagnosis = Diagnoser(knowledgeBase: knowledge).run(context, booted: booted)
            if let templateStep { diagnosis.steps.insert(templateStep, at: 0) }
            diagnosis.errors = notBooted + diagnosis.errors
            if global.json {
                try printJSON(diagnosis, notes: notes)
            } else {
                print(DiagnosisText.render(diagnosis), terminator: "")
            }
            // A machine check: hardware, which no repair fixes (PanicRoute).
            if diagnosis.rootCause?.specifics["routing"] == PanicRoute.Decision.needsPerson.rawValue {
                throw ExitStatus.needsPerson
            }
            if diagnosis.rootCause != nil { throw ExitStatus.findings }
            if !diagnosis.errors.isEmpty { throw ExitStatus.failedSafely }
            // The boot asked for said nothing (QEMU failed, TCG ran out of time): not healthy.
            if booted?.judged == false { throw ExitStatus.failedSafely }
        }
    }
}

/// The readable form of a diagnosis: the verdict first, then the evidence, then every step.
enum DiagnosisText {
    static func render(_ diagnosis: Diagnosis) -> String {
        var out = ""
        guard let cause = diagnosis.rootCause else {
            out += "\(diagnosis.root): no root cause found (\(diagnosis.steps.count) steps)\n"
            out += errors(diagnosis) + steps(diagnosis)
            return out
        }
        out += "\(diagnosis.root): root cause \(cause.failureClass.rawValue) (confidence \(percent(cause.confidence)))\n"
        out += "  \(cause.explanation)\n"
        out += "  signature: \(cause.signature)\n"
        if !cause.specifics.isEmpty {
            out += "  specifics:\n"
            for (name, value) in cause.specifics.sorted(by: { $0.key < $1.key }) { out += "    \(name): \(value)\n" }
        }
        out += "  affected: \(diagnosis.affectedComponents.map(\.rawValue).joined(separator: ", "))\n"
        if let estimate = diagnosis.estimatedRepair {
            out += "  estimated repair: \(estimate.seconds) s, at most \(estimate.worstCaseSeconds) s (\(estimate.basis))\n"
        }
        out += "\nevidence\n" + findings(cause.findings)
        if !diagnosis.otherFindings.isEmpty {
            out += "\nother findings\n" + findings(diagnosis.otherFindings)
        }
        return out + errors(diagnosis) + steps(diagnosis)
    }

    private static func percent(_ value: Double) -> String {
        "\(Int((value * 100).rounded())) %"
    }

    private static func findings(_ list: [Finding]) -> String {
        var out = ""
        for finding in list {
            out += "  \(finding.failureClass.rawValue): \(finding.summary)\n"
            for evidence in finding.evidence { out += "    - \(evidence.source): \(evidence.detail)\n" }
        }
        return out
    }

    private static func errors(_ diagnosis: Diagnosis) -> String {
        guard !diagnosis.errors.isEmpty else { return "" }
        return "\ncould not check\n" + diagnosis.errors.map { "  \($0.step): \($0.message)\n" }.joined()
    }

    private static func steps(_ diagnosis: Diagnosis) -> String {
        var out = "\nsteps\n"
        for (index, step) in diagnosis.steps.enumerated() {
            out += "  \(index + 1). [\(step.stage.rawValue)] \(step.name)\n"
            if let reason = step.reason { out += "     because \(reason)\n" }
            for ran in step.ran { out += "     ran \(ran)\n" }
            if step.found.isEmpty { out += "     found nothing\n" }
            for found in step.found { out += "     \(step.significant ? "!" : "-") \(found.source): \(found.detail)\n" }
        }
        return out
    }
}
