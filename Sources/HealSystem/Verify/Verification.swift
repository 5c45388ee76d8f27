import Glibc
import HealCore
import Logging

/// `clarity-heal verify` (the seed's SystemBoot handler, issue 4 §4): on the first boot
/// after a repair (`VerifyFlag`), proves the fix again on the real system — the repaired
/// class's detectors, the core boot-chain detectors (`Validator.coreClasses`) and the units
/// failed on this boot.
///
/// ```
///  verify-pending? ──no──► nothing to do
///        │yes
///        ▼
///  checks pass? ──yes──► ledger "good", flag cleared, clarity_heal_attempts=0
///        │no
///        ▼
///  ledger "failed" ─► roll back (Applier, journaled) ─► attempt < MaxAttempts?
///                                                         │yes                     │no
///                                                         ▼                        ▼
///               repair again on a clone without every strategy     ledger "give-up", flag
///               that failed verification for this failure          cleared, advice with the
///               (ledger), apply the new fix, flag attempt+1,       support reference
///               reboot by policy                                   (`clarity-heal report FIX`)
/// ```
///
/// Giving up leaves the machine on the last state that booted: the state before the fix,
/// or, when that one never booted (`heal` repaired it from the recovery entry) and this
/// boot came up with the fix, the fix itself — not rolled back, or put back when a retry
/// found nothing — so the machine does not go back to failing boots.
public struct Verification {
    public struct Request {
        public var root: SystemRoot
        public var config: Config
        public var extraDevices: [String]
        public var pstoreDirectory: String?
        /// The running kernel's boot id: the boot whose failed units count. On an offline
        /// root (or when the journal does not know it) the journal's last boot counts.
        public var bootIDPath: String
        public var environment: RepairPipeline.EnvironmentChoice
        /// Where the retry's clone is made.
        public var scratch: String
        /// Where the retry's fix package is written (default `<root>/var/lib/clarity-heal/fixes`).
        public var fixesDirectory: String?
        public var clock: any Clock
        public var runner: any CommandRunner
        /// The strategies a retry may use, before the failed ones are taken out.
        public var candidates: @Sendable (FailureClass) -> [any RepairStrategy]
        public var logger: Logger
        /// Set by `heal` in a recovery boot: the boot after the fix never came up (GRUB
        /// counted it and booted the recovery entry), which is the verdict; the checks of a
        /// root that never ran would prove nothing.
        public var bootFailed: String? = nil

        public init(root: SystemRoot, config: Config = Config(), extraDevices: [String] = [],
                    pstoreDirectory: String? = nil, bootIDPath: String = "/proc/sys/kernel/random/boot_id",
                    environment: RepairPipeline.EnvironmentChoice = .auto, scratch: String = "/var/tmp/clarity-heal",
                    fixesDirectory: String? = nil, clock: any Clock = SystemClock(),
                    runner: any CommandRunner = SpawnCommandRunner(),
                    candidates: @escaping @Sendable (FailureClass) -> [any RepairStrategy] = { StrategyCatalogue.candidates(for: $0) },
                    logger: Logger = Logger(label: "clarity-heal.verify")) {
            self.root = root
            self.config = config
            self.extraDevices = extraDevices
            self.pstoreDirectory = pstoreDirectory
            self.bootIDPath = bootIDPath
            self.environment = environment
            self.scratch = scratch
            self.fixesDirectory = fixesDirectory
            self.clock = clock
            self.runner = runner
            self.candidates = candidates
            self.logger = logger
        }
    }

    /// Printed (`--json`), never read back: Encodable only, which keeps the decoders out
    /// of the binary every initramfs carries.
    public struct Result: Sendable, Encodable {
        public enum Status: String, Sendable, Codable {
            /// The boot is not after a repair: nothing was checked.
            case notPending = "not-pending"
            /// The fix holds: recorded good, flag cleared, boot counter reset.
            case good
            /// The fix failed, was rolled back, and the next strategy's fix is in place; a
            /// reboot (by policy) leads to its verification.
            case retrying
            /// The fix failed and was rolled back; no further attempt (bound reached, or no
            /// strategy left). A person must act.
            case stopped
        }

        /// The next fix, after a failed one.
        public struct Retry: Sendable, Encodable {
            public var fix: String
            public var strategy: String
            public var attempt: Int
            /// The strategies left out: every one that failed verification for this failure.
            public var excluded: [String]
            /// What the engine tried on the clone, in order.
            public var attempts: [FixManifest.Attempt]
            public var package: String
            public var apply: ApplyResult
        }

        public var status: Status
        public var root: String
        public var fix: String?
        public var failureClass: FailureClass?
        public var strategy: String?
        public var attempt: Int?
        public var maxAttempts: Int
        public var checks: [ValidationReport.Check]
        public var rollback: RollbackResult?
        public var retry: Retry?
        /// Set when a boot counter was reset (the grubenv path).
        public var bootCounterReset: String?
        /// After a good boot of the running system: the initramfs kept for the recovery entry.
        public var recoveryInitramfs: RecoveryInitramfs.Outcome?
        /// For `stopped`: the fix left in place because its boot came up and the state
        /// before it did not (the machine stays on the last state that booted); set too when
        /// it was put back (`reapplied`).
        public var kept: String?
        /// For `stopped`: the kept fix had been rolled back for a retry that found no next
        /// fix, and was put back.
        public var reapplied: String?
        /// For `stopped`: the command that prints the record, and what to do.
        public var supportReference: String?
        public var advice: String?
        /// Things that went wrong on the way without changing the verdict (a ledger write).
        public var notes: [String]

        enum CodingKeys: String, CodingKey {
            case status, root, fix, failureClass = "class", strategy, attempt, maxAttempts, checks, rollback, retry,
                 bootCounterReset, recoveryInitramfs, kept, reapplied, supportReference, advice, notes
        }
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        /// The flag could not be read: nothing was done.
        case flag(VerifyFlag.Error)
        /// The rollback of a failed fix could not be done; the journal (if any) is finished
        /// by the next command.
        case rollback(fix: String, Applier.Error)
        case state(String)

        public var description: String {
            switch self {
            case .flag(let error): "\(error)"
            case .rollback(let fix, let error): "cannot roll back \(fix) after its verification failed: \(error)"
            case .state(let reason): reason
            }
        }

        /// Whether the root is as it was before the command.
        public var leftRootUnchanged: Bool {
            switch self {
            case .flag: true
            case .rollback(_, let error): error.leftTargetUnchanged
            case .state: false
            }
        }
    }

    public init() {}

    /// The strategies whose verification failed for `failureClass` in the current episode:
    /// since the last `good` verification or give-up of that class, oldest first.
    public static func failedStrategies(of failureClass: FailureClass, in records: [LedgerRecord]) -> [String] {
        var failed: [String] = []
        for record in records where record.failureClass == failureClass.rawValue {
            switch (record.kind, record.outcome) {
            case (.verification, .good), (.giveUp, _):
                failed = []
            case (.verification, .failed):
                if let strategy = record.strategy, !failed.contains(strategy) { failed.append(strategy) }
            default:
                break
            }
        }
        return failed
    }

    public func run(_ request: Request) throws(Verification.Error) -> Result {
        let root = request.root
        let policy = request.config.reboot
        var result = Result(status: .notPending, root: root.path, maxAttempts: policy.maxAttempts, checks: [], notes: [])
        let flag: VerifyFlag
        do {
            guard let pending = try VerifyFlag.read(root: root) else {
                // This machine's own boot came up (the unit runs after the default target):
                // a good boot, so GRUB's count of failed ones starts again. An offline
                // root's counter is another boot's business.
                if root.isLive {
                    resetBootCounter(root, into: &result)
                    result.recoveryInitramfs = keepRecoveryInitramfs(root)
                }
                return result
            }
            flag = pending
        } catch {
            throw .flag(error)
        }
        let ledger = Ledger(root: root, logger: request.logger, clock: request.clock)
        let applier = Applier(root: root, clock: request.clock)
        func record(_ record: LedgerRecord) {
            do {
                _ = try ledger.append(record)
            } catch {
                request.logger.error("cannot write the ledger", metadata: ["error": "\(error)"])
                result.notes.append("ledger: \(error)")
            }
        }
        result.fix = flag.fix
        result.failureClass = flag.failureClass
        result.strategy = flag.strategy

        // A crash in an earlier apply or rollback is finished before anything is judged.
        do {
            if let recovered = try applier.recover() {
                result.notes.append("finished an interrupted \(recovered.operation.rawValue) of \(recovered.fixID)")
            }
        } catch {
            throw .rollback(fix: flag.fix, error)
        }

        let manifest = (try? applier.existingState()).flatMap { state in state.flatMap { try? applier.openCopy(flag.fix, in: $0) } }?.manifest
        let strategy = flag.strategy.isEmpty ? (manifest?.strategy.id ?? "") : flag.strategy
        result.strategy = strategy
        switch applier.appliedFix(flag.fix)?.state {
        case .applied:
            if let bootFailed = request.bootFailed {
                result.checks = [.init(name: "boot", verdict: .failed, detail: bootFailed)]
            } else {
                result.checks = checks(request, repaired: flag.failureClass, manifest: manifest)
                // The site's own checks, on the machine's own root only: an examined
                // root's executables never run.
                if root.isLive { result.checks += SiteChecks.run(root: root, runner: request.runner) }
            }
        case .rolledBack:
            // An earlier verify rolled it back and was cut short before the flag moved on:
            // the verdict stands, the run continues from the rollback.
            result.checks = [.init(name: "rolled-back", verdict: .failed,
                                   detail: "\(flag.fix) was already rolled back after a failed verification")]
        case nil:
            // The flag was written before the apply (so a crash in between is finished by
            // recovery); an apply that never happened leaves nothing to verify.
            result.notes.append("\(flag.fix) is not applied on \(root.path): nothing to verify")
            do {
                try VerifyFlag.clear(root: root)
            } catch {
                throw .state(error.description)
            }
            return result
        }

        // The strategies that failed before this fix (an interrupted run may have recorded
        // this one already).
        let previous = Self.failedStrategies(of: flag.failureClass, in: (try? ledger.records().records) ?? [])
            .filter { $0 != strategy }
        let attempt = max(flag.attempt, previous.count + 1)
        result.attempt = attempt
        let failed = previous + (previous.contains(strategy) || strategy.isEmpty ? [] : [strategy])
        let step = VerificationPlan.nextStep(checks: result.checks, attempt: attempt, maxAttempts: policy.maxAttempts,
                                             failedStrategies: failed)
        let summary = result.checks.map { "\($0.name): \($0.verdict.rawValue)" }.joined(separator: ", ")

        if step == .markGood {
            record(.init(kind: .verification, fix: flag.fix, failure: flag.failureClass, strategy: strategy,
                         outcome: .good, detail: ["checks": summary, "attempt": "\(attempt)"]))
            do {
                try VerifyFlag.clear(root: root)
            } catch {
                throw .state(error.description)
            }
            resetBootCounter(root, into: &result)
            if root.isLive { result.recoveryInitramfs = keepRecoveryInitramfs(root) }
            result.status = .good
            return result
        }

        // This boot came up (verify runs after the default target): whatever the verdict on
        // the fix, GRUB's count of failed boots starts again, so the reboot into the next
        // fix, or the machine left on its last good state, boots the normal entry and not
        // the recovery one.
        if root.isLive && request.bootFailed == nil {
            resetBootCounter(root, into: &result)
        }

        let failedChecks = result.checks.filter { $0.verdict == .failed }.map { "\($0.name): \($0.detail)" }.joined(separator: "; ")
        let recorded = ((try? ledger.records().records(of: flag.fix)) ?? [])
            .contains { $0.kind == .verification && $0.outcome == .failed }
        if !recorded { record(.init(kind: .verification, fix: flag.fix, failure: flag.failureClass, strategy: strategy,
                     outcome: .failed, detail: ["checks": summary, "failed": failedChecks, "attempt": "\(attempt)"])) }
        request.logger.warning("verification failed", metadata: ["fix": "\(flag.fix)", "failed": "\(failedChecks)"])

        // Giving up after a boot that came up with the fix, when the state before the first
        // fix never booted: the fix's state is the last one that booted, and the machine
        // stays on it rather than going back to failing boots.
        let keepsBootedFix = request.bootFailed == nil && flag.priorBootFailed
        func rollBack() throws(Verification.Error) {
            // Back to the state before the fix, from its verified backup, through the journal.
            do {
                // The Applier records the rollback in the ledger itself (once, even after a redo).
                result.rollback = try applier.rollback(flag.fix)
            } catch {
                record(.init(kind: .rollback, fix: flag.fix, failure: flag.failureClass, strategy: strategy,
                             outcome: .failed, detail: ["reason": error.description]))
                throw .rollback(fix: flag.fix, error)
            }
        }

        switch step {
        case .markGood:
            return result  // handled above
        case .rollBackAndStop(let reason):
            if !keepsBootedFix { try rollBack() }
            return try stop(request, flag: flag, reason: reason, failed: failed, kept: keepsBootedFix,
                            result: result, record: record)
        case .rollBackAndRetry(let next, let excluded):
            // The retry troubleshoots the rolled-back root: the rollback comes first.
            try rollBack()
            record(.init(kind: .retry, fix: flag.fix, failure: flag.failureClass, strategy: strategy,
                         outcome: .retrying,
                         detail: ["excluded": excluded.joined(separator: " "), "attempt": "\(next)"]))
            let retry: Result.Retry
            do {
                retry = try self.retry(request, after: flag, attempt: next, excluded: excluded,
                                       applier: applier, record: record)
            } catch RetryStop.stop(let reason) {
                // No next fix: back to the one that booted, from its kept package.
                let kept = keepsBootedFix && reapply(flag.fix, applier: applier, into: &result)
                return try stop(request, flag: flag, reason: reason, failed: failed, kept: kept,
                                result: result, record: record)
            } catch {
                throw .state("\(error)")
            }
            result.retry = retry
            result.status = .retrying
            return result
        }
    }

    /// Puts a rolled-back fix back from the copy of its package the state folder keeps;
    /// false (with a note) when that cannot be done.
    private func reapply(_ fix: String, applier: Applier, into result: inout Result) -> Bool {
        do {
            guard let state = try applier.existingState() else {
                result.notes.append("cannot put \(fix) back: clarity-heal's state folder is gone")
                return false
            }
            let package = try applier.openCopy(fix, in: state)
            _ = try applier.apply(package)
            result.reapplied = fix
            return true
        } catch {
            result.notes.append("cannot put \(fix) back: \(error)")
            return false
        }
    }

    /// Gives up: records it, clears the flag, and says what a person should do. `kept`:
    /// the last fix stays (its boot came up, the state before it did not); otherwise the
    /// machine is back on its state before the fix.
    private func stop(_ request: Request, flag: VerifyFlag, reason: String, failed: [String], kept: Bool,
                      result: Result, record: (LedgerRecord) -> Void) throws(Verification.Error) -> Result {
        var result = result
        let reference = VerificationPlan.supportReference(fix: flag.fix)
        let advice = VerificationPlan.advice(fix: flag.fix, failureClass: flag.failureClass, reason: reason, tried: failed,
                                             kept: kept)
        result.kept = kept ? flag.fix : nil
        record(.init(kind: .giveUp, fix: flag.fix, failure: flag.failureClass, strategy: flag.strategy,
                     outcome: .needsPerson,
                     detail: ["reason": reason, "support": reference, "tried": failed.joined(separator: " "),
                              "left": kept ? "kept \(flag.fix): the state before it did not boot" : "rolled back"]))
        do {
            try VerifyFlag.clear(root: request.root)
        } catch {
            throw .state(error.description)
        }
        result.status = .stopped
        result.supportReference = reference
        result.advice = advice
        return result
    }

    /// Sets GRUB's count of failed boots back to 0; a grubenv that cannot be written is a
    /// note, never a failed verification.
    func resetBootCounter(_ root: SystemRoot, into result: inout Result) {
        do {
            result.bootCounterReset = try BootCounter.reset(root: root)
        } catch {
            result.notes.append(error.description)
        }
    }

    /// Keeps the initramfs this good boot came up with for the recovery entry.
    func keepRecoveryInitramfs(_ root: SystemRoot) -> RecoveryInitramfs.Outcome {
        let commandLine = (try? root.files.read("/proc/cmdline", limit: 4096, sizeKnown: false))
            .map { String(decoding: $0, as: UTF8.self) } ?? ""
        return RecoveryInitramfs.keep(root: root, release: RecoveryInitramfs.runningRelease(),
                                      commandLine: commandLine)
    }

    /// The detectors of the repaired class and of the core classes, and the failed units.
    func checks(_ request: Request, repaired: FailureClass, manifest: FixManifest?) -> [ValidationReport.Check] {
        let wanted = Validator.coreClasses.union([repaired])
        let detectors = Detectors.all.filter { detector in
            detector.classes.contains { wanted.contains($0) } && !(detector is UnitFailuresDetector && repaired != .unitFailures)
        }
        let context = DetectionContext(root: request.root, thresholds: request.config.thresholds,
                                       extraDevices: request.extraDevices, pstoreDirectory: request.pstoreDirectory,
                                       countsCurrentBoot: request.root.isLive, runner: request.runner, logger: request.logger)
        let report = DetectionEngine(detectors: detectors).run(context)
        let unchecked = report.errors.filter { failure in
            detectors.contains { $0.name == failure.detector && $0.classes.contains(repaired) }
        }.map { "\($0.detector): \($0.message)" }
        var preexisting: Set<FailureClass> = []
        if let diagnosis = manifest?.diagnosis {
            preexisting = Set(((diagnosis.rootCause?.findings ?? []) + diagnosis.otherFindings).map(\.failureClass))
        }
        preexisting.remove(repaired)
        let observation = VerificationPlan.Observation(
            repaired: repaired, findings: report.findings, unchecked: unchecked, preexisting: preexisting,
            coreClasses: Validator.coreClasses, failedUnits: failedUnits(request),
            failedUnitThreshold: request.config.thresholds.failedUnits)
        return VerificationPlan.checks(observation)
    }

    /// The units that failed on this boot: the running kernel's boot when the journal has
    /// it, else the journal's last boot. Nil without a persistent journal.
    func failedUnits(_ request: Request) -> [String]? {
        guard request.root.files.statusIfPresent("/var/log/journal", followLast: true) != nil else { return nil }
        do {
            let journal = try Journal(root: request.root)
            let boots = try journal.boots()
            let current = Journal.currentBootID(procPath: request.bootIDPath)
            guard let boot = boots.first(where: { $0.id == current }) ?? boots.last else { return [] }
            return try journal.failedUnits(boot: boot.id).map(\.unit)
        } catch {
            request.logger.warning("cannot read the journal", metadata: ["error": "\(error)"])
            return nil
        }
    }

    enum RetryStop: Swift.Error {
        case stop(String)
    }

    /// Troubleshoots again on a clone of the rolled-back root without `excluded` (the same
    /// pipeline as `repair`, so the package says as much), applies the validated fix and
    /// marks the next boot.
    private func retry(_ request: Request, after failed: VerifyFlag, attempt: Int, excluded: [String],
                       applier: Applier, record: (LedgerRecord) -> Void) throws -> Result.Retry {
        let failureClass = failed.failureClass
        let pipeline = RepairPipeline(candidates: request.candidates)
        let repair: RepairPipeline.Result
        do {
            var retried = RepairPipeline.Request(
                root: request.root, devices: request.extraDevices, thresholds: request.config.thresholds,
                pstoreDirectory: request.pstoreDirectory, countsCurrentBoot: request.root.isLive,
                environment: request.environment, scratch: request.scratch,
                out: request.fixesDirectory.map { .folder($0) } ?? .rootFixes,
                failureClass: failureClass, excluded: excluded, clock: request.clock, runner: request.runner,
                logger: request.logger)
            retried.fleet = request.config.fleet
            repair = try pipeline.run(retried)
        } catch {
            // An environment that cannot be used at all will not be usable on the next run
            // either: stop. A clone that failed this time (scratch space) may work later.
            if case .unsupportedEnvironment(let reason) = error { throw RetryStop.stop(reason) }
            throw error
        }
        switch repair.status {
        case .healthy:
            throw RetryStop.stop("after the rollback \(failureClass.rawValue) is no longer detected, yet the fix failed verification: the cause lies elsewhere")
        case .unrepairable:
            record(.init(kind: .repair, failure: failureClass, outcome: .unrepairable,
                         detail: ["excluded": excluded.joined(separator: " "),
                                  "tried": repair.attempts.triedDetail,
                              "signature": repair.diagnosis?.rootCause?.signature ?? ""]))
            // Each strategy tried and why it did not validate: what a person reads first.
            let why = repair.attempts.map { "\($0.strategy) (\($0.notes.first ?? "failed"))" }.joined(separator: "; ")
            throw RetryStop.stop("no strategy left to try besides \(excluded.joined(separator: ", "))"
                                 + (why.isEmpty ? "" : "; tried \(why)"))
        case .validated:
            break
        }
        guard let package = repair.package else {
            throw RetryStop.stop("the repair of \(failureClass.rawValue) validated but wrote no fix package")
        }
        let manifest = package.manifest
        record(.init(kind: .repair, fix: manifest.id, failure: failureClass, strategy: manifest.strategy.id,
                     outcome: .validated,
                     detail: ["package": package.directory, "excluded": excluded.joined(separator: " "), "attempt": "\(attempt)",
                              "tried": repair.attempts.triedDetail,
                              "signature": repair.diagnosis?.rootCause?.signature ?? ""]))
        let flag = VerifyFlag(fix: manifest.id, failureClass: failureClass, strategy: manifest.strategy.id,
                              attempt: attempt, since: request.clock.now(), priorBootFailed: failed.priorBootFailed)
        let applied: ApplyResult
        do {
            // Recorded in the ledger by the Applier.
            applied = try flag.apply(package, root: request.root, applier: applier)
        } catch let error as Applier.Error where error.leftTargetUnchanged {
            throw RetryStop.stop("the next fix \(manifest.id) (\(manifest.strategy.id)) could not be applied: \(error)")
        }
        return Result.Retry(fix: manifest.id, strategy: manifest.strategy.id, attempt: attempt, excluded: excluded,
                            attempts: repair.attempts, package: package.directory, apply: applied)
    }
}

extension VerifyFlag {
    /// Marks the next boot of `root` as the first after `manifest`'s fix (for `apply --now`
    /// of a fix that needs a reboot, and for `boot`): the attempt is counted from the
    /// ledger (one more than the strategies that already failed for this class).
    @discardableResult
    public static func markNextBoot(after manifest: FixManifest, root: SystemRoot,
                                    clock: any Clock = SystemClock()) throws(VerifyFlag.Error) -> VerifyFlag {
        let flag = nextBoot(after: manifest, root: root, clock: clock)
        try flag.write(root: root)
        return flag
    }

    /// The flag `markNextBoot` writes, not yet written.
    public static func nextBoot(after manifest: FixManifest, root: SystemRoot, clock: any Clock = SystemClock()) -> VerifyFlag {
        let records = (try? Ledger(root: root).records().records) ?? []
        let failed = Verification.failedStrategies(of: manifest.failureClass, in: records).filter { $0 != manifest.strategy.id }
        return VerifyFlag(fix: manifest.id, failureClass: manifest.failureClass, strategy: manifest.strategy.id,
                          attempt: failed.count + 1, since: clock.now())
    }
}
