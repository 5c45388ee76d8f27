import Glibc
import HealCore
import Logging

/// Tries strategies for one finding on a clone until one validates (docs/architecture.md,
/// data flow): snapshot, plan, execute, validate (and, in an environment that boots, boot
/// what passed the static checks); restore the snapshot when a strategy fails, so the
/// next one starts from the same clone.
public struct RepairEngine: Sendable {
    /// A strategy that validated: exactly what it changed and the proof.
    public struct ValidatedRepair: Sendable {
        public var strategy: StrategyDescriptor
        public var operations: [RepairOperation]
        public var changes: Changeset
        public var validation: ValidationReport
        /// For a block-level repair: the device and what e2fsck showed (the package's
        /// `filesystem`).
        public var filesystem: FilesystemRepair? = nil
        /// The console of the boot that validated it (the microVM environment), for the
        /// fix package and `report`.
        public var bootConsole: String? = nil
    }

    public struct Outcome: Sendable {
        public var finding: Finding
        /// Every strategy considered, in the order tried, with why it failed.
        public var attempts: [FixManifest.Attempt]
        public var repair: ValidatedRepair?
    }

    public var candidates: @Sendable (FailureClass) -> [any RepairStrategy]
    public var validator: Validator
    public var logger: Logger
    /// Where a block-level operation's snapshot is made (`BlockRepairTrial`).
    public var scratch = "/var/tmp/clarity-heal"

    public init(candidates: @escaping @Sendable (FailureClass) -> [any RepairStrategy] = { StrategyCatalogue.candidates(for: $0) },
                validator: Validator = Validator(),
                logger: Logger = Logger(label: "clarity-heal.repair")) {
        self.candidates = candidates
        self.validator = validator
        self.logger = logger
    }

    /// Repairs `finding` in `environment`.
    /// - Parameter detection: how to detect on the clone (its root is replaced by the
    ///   environment's); the baseline for "no regressions" is taken here, before any change.
    public func repair(_ finding: Finding, in environment: any Environment,
                       detection: DetectionContext) -> Outcome {
        var context = detection
        context.root = environment.root
        let baseline = DetectionEngine(detectors: validator.detectors).run(context)
        var attempts: [FixManifest.Attempt] = []

        for strategy in candidates(finding.failureClass) {
            let id = strategy.descriptor.id
            var repairContext = RepairContext(root: environment.root, finding: finding,
                                              extraDevices: detection.extraDevices, thresholds: detection.thresholds,
                                              runner: detection.runner,
                                              logger: logger)
            repairContext.bootCrashes = detection.bootCrashes
            repairContext.canBoot = environment is BootValidating
            if let reason = strategy.unmetPrecondition(repairContext) {
                logger.info("strategy skipped", metadata: ["strategy": "\(id)", "reason": "\(reason)"])
                attempts.append(.init(strategy: id, validated: false, notes: ["precondition not met: \(reason)"], operations: []))
                continue
            }
            let operations: [RepairOperation]
            let planStart = ContinuousClock.now
            let planCPU = Self.cpuMicroseconds()
            do {
                operations = try strategy.plan(repairContext)
            } catch {
                attempts.append(.init(strategy: id, validated: false, notes: ["cannot plan: \(error)"], operations: []))
                continue
            }
            let described = operations.map(\.description)
            logger.info("trying strategy", metadata: ["strategy": "\(id)", "operations": "\(operations.count)"])

            // A block-level operation runs on a snapshot of its device, never in the clone.
            if case .checkFilesystem(let device, let uuid, let fsType)? = operations.first(where: \.isBlockLevel) {
                guard operations.count == 1 else {
                    attempts.append(.init(strategy: id, validated: false,
                                          notes: ["a block-level operation cannot be mixed with file operations"], operations: described))
                    continue
                }
                let trial = BlockRepairTrial(validator: validator, scratch: scratch, logger: logger)
                let booting = environment as? BootValidating
                let outcome = trial.run(device: device, uuid: uuid, fsType: fsType, finding: finding, context: context,
                                        baseline: baseline, operations: operations,
                                        boot: booting.map { booting in { booting.validateBoot(Changeset(), disk: $0) } })
                if let validation = outcome.validation, validation.passed {
                    attempts.append(.init(strategy: id, validated: true,
                                          notes: validation.checks.map { "\($0.name): \($0.verdict.rawValue): \($0.detail)" },
                                          operations: described, checks: validation.checks))
                    return Outcome(finding: finding, attempts: attempts,
                                   repair: ValidatedRepair(strategy: strategy.descriptor, operations: operations,
                                                           changes: Changeset(), validation: validation,
                                                           filesystem: outcome.record, bootConsole: booting?.lastBootConsole))
                }
                let failed = outcome.validation?.checks.filter { $0.verdict == .failed }
                    .map { "validation failed: \($0.name): \($0.detail)" } ?? []
                attempts.append(.init(strategy: id, validated: false, notes: outcome.notes + failed, operations: described,
                                      checks: outcome.validation?.checks ?? []))
                continue
            }

            let snapshot: Snapshot
            do {
                snapshot = try environment.snapshot()
            } catch {
                attempts.append(.init(strategy: id, validated: false, notes: ["cannot snapshot the clone: \(error)"], operations: described))
                break  // without snapshots nothing can be tried safely
            }
            var notes: [String] = []
            var checks: [ValidationReport.Check] = []
            let executeStart = ContinuousClock.now
            let outcomes = environment.execute(operations)
            // scripts/bench reads these to time a strategy's own work (a restore from a
            // package next to `dpkg-deb -x`), apart from detection and validation, and the
            // process's peak RSS so far (getrusage), before the changes are read back.
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            logger.info("operations executed", metadata: [
                "strategy": "\(id)", "operations": "\(operations.count)",
                "plan_seconds": "\(Self.seconds(planStart.duration(to: executeStart)))",
                "execute_seconds": "\(Self.seconds(executeStart.duration(to: .now)))",
                "cpu_seconds": "\(Self.seconds(.microseconds(Self.cpuMicroseconds() - planCPU)))",
                "peak_rss_kib": "\(usage.ru_maxrss)",
            ])
            if let failed = outcomes.first(where: { !$0.succeeded }) {
                notes.append("operation failed: \(failed.operation): \(failed.detail)")
            } else {
                do {
                    let changes = try environment.changes(since: snapshot)
                    if changes.modifiedPaths.isEmpty {
                        notes.append("changed nothing")
                    } else {
                        let booting = environment as? BootValidating
                        var fileValidator = validator
                        fileValidator.canBoot = booting != nil
                        var validation = fileValidator.validate(repairing: finding.failureClass, context: context,
                                                                baseline: baseline, operations: operations, changes: changes)
                        if let booting {
                            // Only what passed every static check is worth a boot (a minute under TCG).
                            validation.checks += validation.passed ? booting.validateBoot(changes) : [
                                .init(name: "boot", verdict: .notRun, detail: "not booted: a static check failed"),
                                .init(name: "stability", verdict: .notRun, detail: "not booted: a static check failed"),
                            ]
                        }
                        if validation.passed {
                            notes += validation.checks.map { "\($0.name): \($0.verdict.rawValue): \($0.detail)" }
                            attempts.append(.init(strategy: id, validated: true, notes: notes, operations: described,
                                                  checks: validation.checks))
                            return Outcome(finding: finding, attempts: attempts,
                                           repair: ValidatedRepair(strategy: strategy.descriptor, operations: operations,
                                                                   changes: changes, validation: validation,
                                                                   bootConsole: booting?.lastBootConsole))
                        }
                        notes += validation.checks.filter { $0.verdict == .failed }
                            .map { "validation failed: \($0.name): \($0.detail)" }
                        checks = validation.checks
                    }
                } catch {
                    notes.append("cannot read the changes: \(error)")
                }
            }
            do {
                try environment.restore(snapshot)
                notes.append("clone restored")
            } catch {
                notes.append("cannot restore the clone: \(error)")
                attempts.append(.init(strategy: id, validated: false, notes: notes, operations: described, checks: checks))
                break  // a clone in an unknown state must not be used for the next strategy
            }
            attempts.append(.init(strategy: id, validated: false, notes: notes, operations: described, checks: checks))
        }
        return Outcome(finding: finding, attempts: attempts, repair: nil)
    }

    /// User and system time the process has used so far, in microseconds (getrusage).
    private static func cpuMicroseconds() -> Int64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000 + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }

    /// `1.234` for a log line.
    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - String(millis % 1000).count))\(millis % 1000)"
    }
}
