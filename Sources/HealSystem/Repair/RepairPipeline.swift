import Glibc
import HealCore
import Logging

/// Finding a validated repair: one pipeline for every command that repairs — `repair`,
/// `verify`'s retry after a fix failed, and `heal` — so their fix packages carry the same
/// things.
///
/// ```
///  detect + diagnose the root (read-only)
///        │  the finding: the request's class if it names one, else the root cause, else
///        ▼  the earliest boot-chain stage
///  rank the strategies of its class (StrategyCatalogue), without `excluded`
///        ▼
///  clone the root (overlay, else copy) ─► RepairEngine: snapshot, plan, execute, validate;
///        │                                 restore and try the next strategy on failure
///        ▼
///  the first strategy that validates ─► fix package in `out`: findings, diagnosis,
///                                        operations, changes, validation, attempts,
///                                        filesystem (block-level repairs)
/// ```
///
/// The examined root is only ever read. Writing the ledger, applying the package and
/// rebooting belong to the caller; the result is a value saying what was found and tried.
public struct RepairPipeline {
    /// Where strategies are tried.
    public enum EnvironmentChoice: String, Sendable, CaseIterable, Codable {
        case auto, overlay, copy, microvm
    }

    /// Where a validated fix package goes.
    public enum Output: Sendable {
        /// A folder of this machine, given by its path.
        case folder(String)
        /// `/var/lib/clarity-heal/fixes` of the examined root.
        case rootFixes
    }

    public struct Request {
        /// The root to repair; only read.
        public var root: SystemRoot
        /// Block devices beyond those the root names (`--device`, a disk image's device).
        public var devices: [String]
        public var thresholds: Thresholds
        public var pstoreDirectory: String?
        /// Set on the boot path of the boot being counted (see `DetectionContext`).
        public var countsCurrentBoot: Bool
        public var environment: EnvironmentChoice
        /// The disk `root` is mounted from (`repair --disk`): what the microVM boots. Nil
        /// for a root given as a folder, which cannot be booted.
        public var disk: String?
        /// `[MicroVM]` of the config.
        public var microVM: MicroVMSettings
        /// Where clones are made (an overlay upper layer must be able to live there).
        public var scratch: String
        /// Where the fix package folder is written: a host folder (made when missing), or
        /// the examined root's own `fixes` folder inside its state folder (verify's retry),
        /// reached without a link.
        public var out: Output
        /// The class to repair (verify's retry: the class of the fix that failed); nil for
        /// the one diagnosis settles on.
        public var failureClass: FailureClass?
        /// Strategy ids not to try: the ones that already failed for this failure.
        public var excluded: [String]
        /// Stamps the fix package (its id and `created`).
        public var clock: any Clock
        public var runner: any CommandRunner
        public var logger: Logger
        /// Crashes a diagnosis boot saw on the console (set by the pipeline).
        var bootCrashes: [PanicSignature] = []
        /// `[Fleet]` of the config: which of the fleet's insights change the ranking.
        public var fleet = FleetSettings()
        /// What ranks the strategies; nil: loaded from the root's ledger and insights.
        public var learning: StrategyLearning?

        public init(root: SystemRoot, devices: [String] = [], thresholds: Thresholds = Thresholds(),
                    pstoreDirectory: String? = nil, countsCurrentBoot: Bool = false,
                    environment: EnvironmentChoice = .auto, disk: String? = nil,
                    microVM: MicroVMSettings = MicroVMSettings(), scratch: String = "/var/tmp/clarity-heal",
                    out: Output = .folder("/var/lib/clarity-heal/fixes"), failureClass: FailureClass? = nil,
                    excluded: [String] = [], clock: any Clock = SystemClock(),
                    runner: any CommandRunner = SpawnCommandRunner(),
                    logger: Logger = Logger(label: "clarity-heal.repair")) {
            self.root = root
            self.devices = devices
            self.thresholds = thresholds
            self.pstoreDirectory = pstoreDirectory
            self.countsCurrentBoot = countsCurrentBoot
            self.environment = environment
            self.disk = disk
            self.microVM = microVM
            self.scratch = scratch
            self.out = out
            self.failureClass = failureClass
            self.excluded = excluded
            self.clock = clock
            self.runner = runner
            self.logger = logger
        }

        /// How the pipeline detects on the root (and, with the root replaced, on the clone).
        var detection: DetectionContext {
            var context = DetectionContext(root: root, thresholds: thresholds, extraDevices: devices, pstoreDirectory: pstoreDirectory,
                                           countsCurrentBoot: countsCurrentBoot, runner: runner, logger: logger)
            context.bootCrashes = bootCrashes
            return context
        }
    }

    /// What a run found, tried and wrote (`repair --json` prints it).
    public struct Result: Sendable, Encodable {
        public enum Status: String, Sendable, Codable {
            /// Nothing to repair: no finding (with a requested class: none of that class).
            case healthy
            /// A strategy validated on the clone; the fix package is written.
            case validated
            /// No strategy validated: a person has to act.
            case unrepairable
        }

        public var status: Status
        public var root: String
        public var environment: String?
        /// The finding the run repaired.
        public var finding: Finding?
        /// The diagnosis that chose the finding.
        public var diagnosis: Diagnosis?
        /// The strategies tried, in order; excluded ones are not among them.
        public var attempts: [FixManifest.Attempt]
        /// The strategies left out by the request.
        public var excluded: [String]
        /// The fix package's folder and id, when one was written.
        public var fixPackage: String?
        public var fix: String?
        public var validation: ValidationReport?
        /// Findings this run did not address; a later run (after applying) takes the next.
        public var remaining: [Finding]
        /// For `unrepairable`: what a person should do.
        public var advice: String?
        /// The package written (its manifest is what `apply` reads); not printed, the
        /// folder is.
        public var package: FixPackage?

        enum CodingKeys: String, CodingKey {
            case status, root, environment, finding, diagnosis, attempts, excluded, fixPackage, fix, validation,
                 remaining, advice
        }
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        /// The environment asked for cannot be used at all (the microVM is not built yet).
        case unsupportedEnvironment(String)
        /// The clone could not be made.
        case environment(String)
        /// The fix package could not be written.
        case package(String)
        /// Nothing was found, but part of the root could not be examined (a detector could
        /// not look): the root is not known to be healthy.
        case incomplete([String])

        public var description: String {
            switch self {
            case .unsupportedEnvironment(let why), .environment(let why), .package(let why): why
            case .incomplete(let failures):
                "nothing to repair was found, but part of the root could not be examined: " + failures.joined(separator: "; ")
            }
        }
    }

    /// The strategies for a class, best first.
    public var candidates: @Sendable (FailureClass) -> [any RepairStrategy]
    /// What proves a strategy on the clone (its detectors also detect and diagnose).
    public var validator: Validator

    public init(candidates: @escaping @Sendable (FailureClass) -> [any RepairStrategy] = { StrategyCatalogue.candidates(for: $0) },
                validator: Validator = Validator()) {
        self.candidates = candidates
        self.validator = validator
    }

    /// The finding to repair: the root cause diagnosis settled on (its own class's
    /// finding), or — when the knowledge base concluded nothing — the finding of the
    /// earliest boot-chain stage.
    public static func primary(_ diagnosis: Diagnosis, findings: [Finding]) -> Finding? {
        if let cause = diagnosis.rootCause,
           let own = cause.findings.first(where: { $0.failureClass == cause.failureClass }) ?? findings.first(where: { $0.failureClass == cause.failureClass }) {
            return own
        }
        return findings.min { ($0.failureClass.stage, $0.severity) < ($1.failureClass.stage, $1.severity) }
    }

    /// Detects and diagnoses the root; returns the diagnosis, every finding once, and the
    /// one to repair. When only the boot counter says the disk fails to boot, the disk is
    /// booted (when the request may boot it) and the diagnosis starts from its console.
    private func select(_ request: inout Request) -> (diagnosis: Diagnosis, findings: [Finding], finding: Finding?) {
        var diagnosis = Diagnoser(detectors: validator.detectors).run(request.detection)
        let classes = Set(([diagnosis.rootCause?.failureClass].compactMap { $0 }) + diagnosis.otherFindings.map(\.failureClass))
        if classes == [.bootFailures], let disk = request.disk, [.auto, .microvm].contains(request.environment) {
            request.logger.notice("only the boot counter says the disk fails to boot: booting it to see why")
            do {
                let booted = try DiagnosisBoot.observe(disk: disk, root: request.root, settings: request.microVM,
                                                       scratch: request.scratch, runner: request.runner, logger: request.logger)
                request.bootCrashes = booted.panic.map { [$0] } ?? []
                diagnosis = Diagnoser(detectors: validator.detectors).run(request.detection, booted: booted)
            } catch {
                request.logger.notice("the disk could not be booted to diagnose it", metadata: ["reason": "\(error)"])
            }
        }
        var findings: [Finding] = []
        for finding in (diagnosis.rootCause?.findings ?? []) + diagnosis.otherFindings where !findings.contains(finding) {
            findings.append(finding)
        }
        let finding = request.failureClass.map { wanted in findings.first { $0.failureClass == wanted } }
            ?? Self.primary(diagnosis, findings: findings)
        return (diagnosis, findings, finding)
    }

    /// Where the crash of a `kernel-panic` finding leads (nil for other findings, and for
    /// a crash seen only on a boot's console, which came with this root's kernel).
    static func route(of finding: Finding, _ request: Request) -> PanicRoute? {
        KernelPanicDetector.route(of: finding, root: request.root, pstoreDirectory: request.pstoreDirectory)
    }

    /// The ranked strategies for a class, without the excluded ones: the catalogue's order
    /// (by its prior) changed by what the root's ledger and the fleet's insights say.
    private func ranked(_ request: Request) -> @Sendable (FailureClass) -> [any RepairStrategy] {
        let learning = Self.learning(request)
        let catalogueOrder = self.catalogueOrder(request)
        return { failureClass in Self.learned(catalogueOrder(failureClass), learning, failureClass).map(\.strategy) }
    }

    /// The strategies for a class in the catalogue's order, without the excluded ones.
    private func catalogueOrder(_ request: Request) -> @Sendable (FailureClass) -> [any RepairStrategy] {
        let candidates = self.candidates
        let excluded = request.excluded
        return { failureClass in candidates(failureClass).filter { !excluded.contains($0.descriptor.id) } }
    }

    /// `strategies` in the learned order, each with its rank.
    private static func learned(_ strategies: [any RepairStrategy], _ learning: StrategyLearning,
                                _ failureClass: FailureClass) -> [(strategy: any RepairStrategy, rank: StrategyLearning.Rank)] {
        learning.rank(strategies.map(\.descriptor), signature: failureClass.rawValue).compactMap { descriptor, rank in
            strategies.first { $0.descriptor.id == descriptor.id }.map { ($0, rank) }
        }
    }

    static func learning(_ request: Request) -> StrategyLearning {
        if let learning = request.learning { return learning }
        let (learning, notes) = StrategyLearning.load(root: request.root, settings: request.fleet, now: request.clock.now())
        for note in notes { request.logger.notice("\(note)") }
        return learning
    }

    /// Runs the pipeline on `request.root`.
    /// - Throws: `RepairPipeline.Error` when the clone cannot be made or the package cannot
    ///   be written; the examined root is unchanged either way.
    public func run(_ request: Request) throws(RepairPipeline.Error) -> Result {
        var request = request
        let (diagnosis, findings, selected) = select(&request)
        guard let finding = selected else {
            // "Healthy" only when every step could look (a separate /boot that is not
            // mounted hides the whole boot chain). Verify's retry asks about one class and
            // keeps its own answer.
            if request.failureClass == nil, findings.isEmpty, !diagnosis.errors.isEmpty {
                throw .incomplete(diagnosis.errors.map(\.message))
            }
            return Result(status: .healthy, root: request.root.path, environment: nil, finding: nil, diagnosis: diagnosis,
                          attempts: [], excluded: request.excluded, remaining: findings)
        }
        let remaining = findings.filter { $0 != finding }
        if let route = Self.route(of: finding, request), route.decision != .repair {
            // A machine check, or a record of a kernel this root does not have: nothing on
            // disk is to be changed for it.
            request.logger.notice("not repairing the crash", metadata: ["routing": "\(route.decision.rawValue)"])
            return Result(status: .unrepairable, root: request.root.path, environment: nil, finding: finding,
                          diagnosis: diagnosis, attempts: [], excluded: request.excluded, remaining: remaining,
                          advice: route.summary)
        }
        let (environment, unbooted) = try makeEnvironment(request)
        defer { environment.tearDown() }

        request.logger.notice("repairing", metadata: ["class": "\(finding.failureClass.rawValue)",
                                                      "environment": "\(environment.kind.rawValue)",
                                                      "excluded": "\(request.excluded.joined(separator: " "))"])
        var engine = RepairEngine(candidates: ranked(request), validator: validator, logger: request.logger)
        if let unbooted { engine.validator.bootUnavailable = unbooted }
        engine.scratch = request.scratch
        let outcome = engine.repair(finding, in: environment, detection: request.detection)
        var result = Result(status: .unrepairable, root: request.root.path, environment: environment.kind.rawValue,
                            finding: finding, diagnosis: diagnosis, attempts: outcome.attempts, excluded: request.excluded,
                            remaining: remaining)
        guard let repair = outcome.repair else {
            result.advice = ManualSteps.advice(for: finding.failureClass)
            return result
        }
        var (entries, files) = FixPackage.changes(of: repair.changes)
        var manifest = Self.manifest(repair, changes: entries, finding: finding, diagnosis: diagnosis,
                                     attempts: outcome.attempts, environment: environment.kind, at: request.clock.now())
        if let console = repair.bootConsole {
            // The last megabyte: a boot that printed more kept its end, where it failed or settled.
            let bytes = Array(Array(console.utf8).suffix(FixPackage.consoleLimit))
            let digest = SHA256.hex(bytes)
            files[digest] = bytes
            manifest.bootConsole = .init(sha256: digest, size: bytes.count)
        }
        let package: FixPackage
        do {
            switch request.out {
            case .folder(let out):
                package = try FixPackage.write(manifest, files: files, into: out)
            case .rootFixes:
                let state = try StateDirectory.make(request.root)
                try state.files.makeDirectories("/fixes")
                package = try FixPackage.write(manifest, files: files, into: state.files.subdirectory("/fixes", links: .refuse))
            }
        } catch {
            throw .package("\(error)")
        }
        result.status = .validated
        result.fixPackage = package.directory
        result.fix = manifest.id
        result.validation = repair.validation
        result.package = package
        return result
    }

    /// The manifest of a validated repair: everything a package says about how it came to be.
    static func manifest(_ repair: RepairEngine.ValidatedRepair, changes: [FixManifest.Change], finding: Finding,
                         diagnosis: Diagnosis, attempts: [FixManifest.Attempt], environment: EnvironmentKind,
                         at now: Int64) -> FixManifest {
        var manifest = FixManifest(
            id: fixID(at: now, failureClass: finding.failureClass), created: Int(now),
            failureClass: finding.failureClass, strategy: repair.strategy, findings: [finding],
            operations: repair.operations.map(\.description), changes: changes,
            validation: repair.validation, attempts: attempts, environment: environment.rawValue,
            needsReboot: RebootAnalysis.needsReboot(repair.changes.modifiedPaths), diagnosis: diagnosis)
        manifest.filesystem = repair.filesystem
        return manifest
    }

    /// The environment the request asks for, and — when `auto` could not use the microVM —
    /// why the repaired disk will not be booted (the `not-run` boot checks say it).
    private func makeEnvironment(_ request: Request) throws(RepairPipeline.Error) -> (any Environment, String?) {
        let scratch = request.scratch + "/env-\(getpid())-\(request.clock.now())"
        func overlay() throws(RepairPipeline.Error) -> any Environment {
            do {
                return try OverlayEnvironment(lower: request.root, scratch: scratch, runner: request.runner)
            } catch {
                try? Paths.removeTree(scratch)
                throw .environment("\(error)")
            }
        }
        func copy() throws(RepairPipeline.Error) -> any Environment {
            do {
                return try CopyEnvironment(source: request.root, scratch: scratch, runner: request.runner)
            } catch {
                try? Paths.removeTree(scratch)
                throw .environment("\(error)")
            }
        }
        switch request.environment {
        case .microvm:
            switch microVM(request, scratch: scratch) {
            case .success(let environment): return (environment, nil)
            case .failure(let reason): throw .unsupportedEnvironment(reason.description)
            }
        case .overlay:
            return (try overlay(), nil)
        case .copy:
            return (try copy(), nil)
        case .auto:
            // The microVM when it can boot the clone; otherwise the validation says why the
            // boot checks did not run.
            var unbooted: String?
            if request.disk != nil {
                switch microVM(request, scratch: scratch) {
                case .success(let environment): return (environment, nil)
                case .failure(let reason):
                    request.logger.notice("the microVM cannot be used; the repaired disk will not be booted",
                                          metadata: ["reason": "\(reason)"])
                    unbooted = "not booted: \(reason)"
                }
            }
            do {
                return (try overlay(), unbooted)
            } catch {
                request.logger.warning("overlay environment unavailable; using a full copy (slower)",
                                       metadata: ["reason": "\(error)"])
                return (try copy(), unbooted)
            }
        }
    }

    /// The microVM environment for the request's disk, or why it cannot be used: no disk
    /// (a root given as a folder), no QEMU, no default entry with a kernel on the disk.
    private func microVM(_ request: Request, scratch: String) -> Swift.Result<any Environment, MicroVMError> {
        guard let disk = request.disk else {
            return .failure(.unbootable("only a disk can be booted (repair --disk IMAGE): a root given as a folder, "
                + "or a system mounted read-write, has no consistent block-level image; use --environment overlay"))
        }
        let kernel: String
        switch GuestBoot.probeKernel(of: request.root) {
        case .success(let path): kernel = path
        case .failure(let reason): return .failure(reason)
        }
        do {
            try Paths.makeDirectory(request.scratch)
            let hypervisor = try Hypervisor.find(kernel: kernel, wanted: request.microVM.accelerator.rawValue,
                                                 scratch: request.scratch)
            request.logger.notice("microVM", metadata: ["accelerator": "\(hypervisor.accelerator.rawValue)",
                                                        "reason": "\(hypervisor.reason)"])
            return .success(try MicroVMEnvironment(lower: request.root, disk: disk, hypervisor: hypervisor,
                                                   settings: request.microVM, scratch: scratch, runner: request.runner, logger: request.logger))
        } catch let error as MicroVMError {
            return .failure(error)
        } catch {
            return .failure(.launch("\(error)"))
        }
    }

    /// `fix-20261129T221500Z-fstab-invalid-entry-1a2b`: sortable by the clock's time,
    /// readable, and unique on one machine (the suffix is random: two fixes in the same
    /// second, or under a clock that stands still, still differ).
    static func fixID(at now: Int64, failureClass: FailureClass) -> String {
        let time = CivilTime(seconds: now)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let stamp = "\(time.year)\(two(time.month))\(two(time.day))T\(two(time.hour))\(two(time.minute))\(two(time.second))Z"
        let suffix = String(UInt16.random(in: .min ... .max), radix: 16)
        return "fix-\(stamp)-\(failureClass.rawValue)-\(String(repeating: "0", count: 4 - suffix.count) + suffix)"
    }
}

extension RepairPipeline {
    /// What `repair --dry-run` shows: the finding and every candidate strategy, ranked,
    /// with its plan computed on the real root read-only (planning writes nothing).
    public struct DryRun: Sendable, Encodable {
        public struct Candidate: Sendable, Encodable {
            public var strategy: StrategyDescriptor
            /// Where it ranks and why: prior, outcomes here and in the fleet, score.
            public var rank: StrategyLearning.Rank?
            public var unmetPrecondition: String?
            public var operations: [String]
            public var planError: String?

            public init(strategy: StrategyDescriptor, rank: StrategyLearning.Rank? = nil, unmetPrecondition: String?,
                        operations: [String], planError: String?) {
                self.strategy = strategy
                self.rank = rank
                self.unmetPrecondition = unmetPrecondition
                self.operations = operations
                self.planError = planError
            }
        }

        public var root: String
        public var finding: Finding?
        /// For a `kernel-panic` finding: which classes the crash was routed to and why; a
        /// route that is not `repair` leaves no candidates.
        public var route: PanicRoute?
        public var candidates: [Candidate]
        /// The fleet's insights about the finding's signature, each with why it does not
        /// count when it does not (confidence, age).
        public var insights: [StrategyLearning.InsightUse]

        public init(root: String, finding: Finding?, route: PanicRoute? = nil, candidates: [Candidate],
                    insights: [StrategyLearning.InsightUse] = []) {
            self.root = root
            self.finding = finding
            self.route = route
            self.candidates = candidates
            self.insights = insights
        }
    }

    /// The finding the pipeline would repair and the plan of every strategy it would try.
    public func plans(_ request: Request) -> DryRun {
        var request = request
        guard let finding = select(&request).finding else {
            return DryRun(root: request.root.path, finding: nil, candidates: [])
        }
        var context = RepairContext(root: request.root, finding: finding, extraDevices: request.devices,
                                    thresholds: request.thresholds, runner: request.runner, logger: request.logger)
        context.bootCrashes = request.bootCrashes
        let route = Self.route(of: finding, request)
        if let route, route.decision != .repair {
            return DryRun(root: request.root.path, finding: finding, route: route, candidates: [])
        }
        let learning = Self.learning(request)
        let signature = finding.failureClass.rawValue
        let candidates = Self.learned(catalogueOrder(request)(finding.failureClass), learning, finding.failureClass).map { strategy, rank in
            if let reason = strategy.unmetPrecondition(context) {
                return DryRun.Candidate(strategy: strategy.descriptor, rank: rank, unmetPrecondition: reason, operations: [], planError: nil)
            }
            do {
                return DryRun.Candidate(strategy: strategy.descriptor, rank: rank, unmetPrecondition: nil,
                                        operations: try strategy.plan(context).map(\.description), planError: nil)
            } catch {
                return DryRun.Candidate(strategy: strategy.descriptor, rank: rank, unmetPrecondition: nil, operations: [],
                                        planError: "\(error)")
            }
        }
        return DryRun(root: request.root.path, finding: finding, route: route, candidates: candidates,
                      insights: learning.insightUses(signature: signature))
    }
}
