import HealCore
import Logging

/// The recovery pipeline: what a machine does by itself when GRUB booted the clarity-heal
/// recovery entry (`clarity.heal=recover`, after `[Thresholds] BootFailures` failed
/// boots), in its initramfs or its recovery boot.
///
/// ```
///  pstore ─► harvest into <root>/var/lib/clarity-heal/pstore/<UTC>/   (before anything clears it)
///  a fix applied before this boot (verify-pending)?
///     yes ─► that boot never came up: Verification with bootFailed ─► roll back,
///            retry without it (the same RepairPipeline), or give up at MaxAttempts
///     no  ─► gave up before? ─► say so, change nothing (a person must act)
///            else RepairPipeline on a clone ─► apply with backup (Applier) ─► verify flag
///  a fix in place ─► boot counter reset: the next boot is the normal entry, verified
///                    by clarity-heal-verify.service
/// ```
///
/// `repair`, `heal` and `verify`'s retry run one pipeline (`RepairPipeline`); `heal` adds
/// the apply and the counter, never a reboot of its own (the caller reboots).
public struct Heal {
    public struct Request {
        public var root: SystemRoot
        public var config: Config
        public var devices: [String]
        /// Live pstore records from here instead of `<root>/sys/fs/pstore`.
        public var pstoreDirectory: String?
        public var environment: RepairPipeline.EnvironmentChoice
        public var scratch: String
        public var clock: any Clock
        public var runner: any CommandRunner
        public var logger: Logger

        public init(root: SystemRoot, config: Config = Config(), devices: [String] = [], pstoreDirectory: String? = nil,
                    environment: RepairPipeline.EnvironmentChoice = .auto, scratch: String = "/var/tmp/clarity-heal",
                    clock: any Clock = SystemClock(), runner: any CommandRunner = SpawnCommandRunner(),
                    logger: Logger = Logger(label: "clarity-heal.heal")) {
            self.root = root
            self.config = config
            self.devices = devices
            self.pstoreDirectory = pstoreDirectory
            self.environment = environment
            self.scratch = scratch
            self.clock = clock
            self.runner = runner
            self.logger = logger
        }
    }

    public struct Result: Sendable, Encodable {
        public enum Status: String, Sendable, Codable {
            /// Nothing to repair was found.
            case healthy
            /// A fix is in place: reboot into the normal entry, which verifies it.
            case applied
            /// Nothing was changed, and a person must act (no strategy validated, or an
            /// earlier run gave up).
            case needsPerson = "needs-person"
        }

        public var status: Status
        public var root: String
        /// pstore records copied into the root's archive by this run.
        public var harvested: [String] = []
        /// The verification of the fix before this boot, when one was pending.
        public var verification: Verification.Result?
        /// The repair of a fresh failure.
        public var repair: RepairPipeline.Result?
        /// The apply of the fix (fresh repair); a retry's apply is in `verification`.
        public var apply: ApplyResult?
        /// The fix now in place, awaiting verification after the reboot.
        public var fix: String?
        /// grubenv whose counter was reset, so that the next boot is the normal entry.
        public var bootCounterReset: String?
        /// What a person should do, when one must.
        public var advice: String?
        public var notes: [String] = []
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        /// Nothing was changed.
        case unchanged(String)
        /// Stopped midway: the journal finishes it on the next command that writes.
        case midway(String)

        public var description: String {
            switch self {
            case .unchanged(let why), .midway(let why): why
            }
        }

        public var leftRootUnchanged: Bool {
            if case .unchanged = self { return true }
            return false
        }
    }

    public init() {}

    public func run(_ request: Request) throws(Heal.Error) -> Result {
        let root = request.root
        var result = Result(status: .healthy, root: root.path)
        let harvest = PstoreHarvest(root: root, liveDirectory: request.pstoreDirectory, clock: request.clock)
        do {
            result.harvested = try harvest.run()
        } catch {
            // The records stay in pstore for the next run; the repair goes on without them
            // being archived (the detectors read the live ones too).
            result.notes.append("pstore records not archived: \(error)")
        }
        if !result.harvested.isEmpty {
            request.logger.notice("pstore records archived", metadata: ["records": "\(result.harvested.joined(separator: " "))"])
        }

        let pending: VerifyFlag?
        do {
            pending = try VerifyFlag.read(root: root)
        } catch {
            throw .unchanged("cannot read the verification flag: \(error)")
        }
        if let pending {
            try retry(after: pending, request, into: &result)
        } else {
            try repair(request, into: &result)
        }
        if result.status == .applied {
            do {
                result.bootCounterReset = try BootCounter.reset(root: root)
            } catch {
                // The next boot then comes back here, where the pending fix is judged
                // failed: a note, never a reason to undo the fix.
                result.notes.append(error.description)
            }
        }
        return result
    }

    /// The fix applied before the boot that failed: judged failed (the boot never reached
    /// `clarity-heal verify`), rolled back, and the next strategy applied.
    private func retry(after flag: VerifyFlag, _ request: Request, into result: inout Result) throws(Heal.Error) {
        var verification = Verification.Request(
            root: request.root, config: request.config, extraDevices: request.devices,
            pstoreDirectory: request.pstoreDirectory, environment: request.environment, scratch: request.scratch,
            clock: request.clock, runner: request.runner, logger: request.logger)
        verification.bootFailed = "the boot after \(flag.fix) (\(flag.strategy)) never came up: "
            + "GRUB booted the clarity-heal recovery entry after the failed boot"
        let verified: Verification.Result
        do throws(Verification.Error) {
            verified = try Verification().run(verification)
        } catch {
            throw error.leftRootUnchanged ? .unchanged(error.description) : .midway(error.description)
        }
        result.verification = verified
        switch verified.status {
        case .notPending:
            try repair(request, into: &result)
        case .good:
            result.status = .healthy
        case .retrying:
            result.status = .applied
            result.fix = verified.retry?.fix
        case .stopped:
            result.status = .needsPerson
            result.advice = verified.advice
        }
    }

    /// A fresh failure: the repair pipeline on a clone, then the validated fix applied.
    private func repair(_ request: Request, into result: inout Result) throws(Heal.Error) {
        let root = request.root
        let ledger = Ledger(root: root, logger: request.logger, clock: request.clock)
        // A run that gave up leaves the machine to a person; trying the same strategies
        // again at every boot would loop forever.
        if let state = try? ledger.state(), state.attention == .needsPerson {
            result.status = .needsPerson
            result.advice = "an earlier repair gave up (see `clarity-heal status` and `clarity-heal report`): "
                + "nothing is tried again until a person has looked"
            return
        }
        let pipeline = RepairPipeline()
        let repaired: RepairPipeline.Result
        do {
            var repair = RepairPipeline.Request(
                root: root, devices: request.devices, thresholds: request.config.thresholds,
                pstoreDirectory: request.pstoreDirectory, countsCurrentBoot: false, environment: request.environment,
                microVM: request.config.microVM, scratch: request.scratch, out: .rootFixes, clock: request.clock,
                runner: request.runner, logger: request.logger)
            repair.fleet = request.config.fleet
            repaired = try pipeline.run(repair)
        } catch {
            throw .unchanged(error.description)
        }
        result.repair = repaired
        func record(_ entry: LedgerRecord) {
            do {
                _ = try ledger.append(entry)
            } catch {
                result.notes.append("ledger: \(error)")
            }
        }
        switch repaired.status {
        case .healthy:
            result.status = .healthy
            return
        case .unrepairable:
            if let finding = repaired.finding {
                record(.init(kind: .repair, failure: finding.failureClass, outcome: .unrepairable,
                             detail: ["tried": repaired.attempts.triedDetail]))
            }
            result.status = .needsPerson
            result.advice = repaired.advice
            return
        case .validated:
            break
        }
        guard let package = repaired.package else { throw .unchanged("the repair validated but wrote no fix package") }
        let manifest = package.manifest
        record(.init(kind: .repair, fix: manifest.id, failure: manifest.failureClass, strategy: manifest.strategy.id,
                     outcome: .validated, detail: ["package": package.directory, "by": "heal",
                                                   "tried": repaired.attempts.triedDetail,
                                                   "signature": repaired.diagnosis?.rootCause?.signature ?? ""]))
        var flag = VerifyFlag.nextBoot(after: manifest, root: root, clock: request.clock)
        // GRUB booted the recovery entry: the boots before this fix failed. Should every
        // fix for this failure then fail verification, the one that booted stays in place.
        flag.priorBootFailed = true
        do {
            result.apply = try flag.apply(package, root: root, applier: Applier(root: root, clock: request.clock))
        } catch let error as VerifyFlag.Error {
            throw .unchanged("cannot mark the next boot for verification: \(error)")
        } catch let error as Applier.Error where error.leftTargetUnchanged {
            throw .unchanged("\(manifest.id) could not be applied: \(error)")
        } catch {
            throw .midway("\(manifest.id) stopped midway: \(error)")
        }
        result.fix = manifest.id
        result.status = .applied
    }
}
