import Glibc
import HealCore
import Logging

/// `clarity-heal repair` as an API: detect on the real root, pick the finding to repair,
/// clone the root into an environment, let the engine find a validated strategy, write the
/// fix package. The real root is only ever read.
public struct RepairRun {
    public enum EnvironmentChoice: String, Sendable, CaseIterable, Codable {
        case auto, overlay, copy, microvm
    }

    public struct Request {
        public var root: SystemRoot
        public var extraDevices: [String]
        public var thresholds: Thresholds
        public var pstoreDirectory: String?
        /// Set on the boot path of the boot being counted (see `DetectionContext`).
        public var countsCurrentBoot = false
        public var environment: EnvironmentChoice
        /// Where clones are made (an overlay upper layer must be able to live there).
        public var scratch: String
        /// Where the fix package folder is written.
        public var out: String
        public var runner: any CommandRunner
        public var logger: Logger

        public init(root: SystemRoot, extraDevices: [String] = [], thresholds: Thresholds = Thresholds(),
                    pstoreDirectory: String? = nil, environment: EnvironmentChoice = .auto,
                    scratch: String = "/var/tmp/clarity-heal", out: String = "/var/lib/clarity-heal/fixes",
                    runner: any CommandRunner = SpawnCommandRunner(),
                    logger: Logger = Logger(label: "clarity-heal.repair")) {
            self.root = root
            self.extraDevices = extraDevices
            self.thresholds = thresholds
            self.pstoreDirectory = pstoreDirectory
            self.environment = environment
            self.scratch = scratch
            self.out = out
            self.runner = runner
            self.logger = logger
        }
    }

    public struct Result: Sendable, Codable {
        public enum Status: String, Sendable, Codable {
            /// Nothing to repair.
            case healthy
            /// A strategy validated on the clone; the fix package is written.
            case validated
            /// No strategy validated: a person has to act.
            case unrepairable
        }

        public var status: Status
        public var root: String
        public var environment: String?
        /// The finding the run repaired (the earliest in the boot chain).
        public var finding: Finding?
        /// The diagnosis that chose the finding.
        public var diagnosis: Diagnosis?
        public var attempts: [FixManifest.Attempt]
        public var fixPackage: String?
        public var validation: ValidationReport?
        /// Findings this run did not address; a later run (after applying) takes the next.
        public var remaining: [Finding]
        /// For `unrepairable`: what a person should do.
        public var advice: String?
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        case environment(String)

        public var description: String {
            switch self {
            case .environment(let why): why
            }
        }
    }

    public var engine: RepairEngine

    public init(engine: RepairEngine = RepairEngine()) {
        self.engine = engine
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

    private func diagnose(_ detection: DetectionContext) -> (Diagnosis, [Finding]) {
        let diagnosis = Diagnoser(detectors: engine.validator.detectors).run(detection)
        let findings = (diagnosis.rootCause?.findings ?? []) + diagnosis.otherFindings
        var unique: [Finding] = []
        for finding in findings where !unique.contains(finding) { unique.append(finding) }
        return (diagnosis, unique)
    }

    public func run(_ request: Request) throws(RepairRun.Error) -> Result {
        let detection = DetectionContext(root: request.root, thresholds: request.thresholds,
                                         extraDevices: request.extraDevices, pstoreDirectory: request.pstoreDirectory,
                                         countsCurrentBoot: request.countsCurrentBoot,
                                         runner: request.runner, logger: request.logger)
        let (diagnosis, findings) = diagnose(detection)
        guard let finding = Self.primary(diagnosis, findings: findings) else {
            return Result(status: .healthy, root: request.root.path, environment: nil, finding: nil, diagnosis: diagnosis,
                          attempts: [], fixPackage: nil, validation: nil, remaining: [], advice: nil)
        }
        let remaining = findings.filter { $0 != finding }
        let environment = try makeEnvironment(request)
        defer { environment.tearDown() }

        request.logger.notice("repairing", metadata: ["class": "\(finding.failureClass.rawValue)",
                                                      "environment": "\(environment.kind.rawValue)"])
        var engine = self.engine
        engine.scratch = request.scratch
        let outcome = engine.repair(finding, in: environment, detection: detection)
        guard let repair = outcome.repair else {
            return Result(status: .unrepairable, root: request.root.path, environment: environment.kind.rawValue,
                          finding: finding, diagnosis: diagnosis, attempts: outcome.attempts, fixPackage: nil, validation: nil,
                          remaining: remaining, advice: ManualSteps.advice(for: finding.failureClass))
        }
        let (entries, files) = FixPackage.changes(of: repair.changes)
        let now = time(nil)
        var manifest = FixManifest(
            id: Self.fixID(at: now, failureClass: finding.failureClass),
            created: Int(now), failureClass: finding.failureClass, strategy: repair.strategy,
            findings: [finding], operations: repair.operations.map(\.description), changes: entries,
            validation: repair.validation, attempts: outcome.attempts, environment: environment.kind.rawValue,
            needsReboot: RebootAnalysis.needsReboot(repair.changes.modifiedPaths), diagnosis: diagnosis)
        manifest.filesystem = repair.filesystem
        let package: FixPackage
        do {
            try Paths.makeDirectory(request.out)
            package = try FixPackage.write(manifest, files: files, into: request.out)
        } catch {
            throw .environment("\(error)")
        }
        return Result(status: .validated, root: request.root.path, environment: environment.kind.rawValue,
                      finding: finding, diagnosis: diagnosis, attempts: outcome.attempts, fixPackage: package.directory,
                      validation: repair.validation, remaining: remaining, advice: nil)
    }

    private func makeEnvironment(_ request: Request) throws(RepairRun.Error) -> any Environment {
        let scratch = request.scratch + "/env-\(getpid())-\(time(nil))"
        switch request.environment {
        case .microvm:
            throw .environment("the microVM environment is not built yet; use --environment overlay or copy")
        case .overlay:
            do {
                return try OverlayEnvironment(lower: request.root, scratch: scratch, runner: request.runner)
            } catch {
                throw .environment("\(error)")
            }
        case .copy:
            return try copyEnvironment(request, scratch)
        case .auto:
            do {
                return try OverlayEnvironment(lower: request.root, scratch: scratch, runner: request.runner)
            } catch {
                request.logger.warning("overlay environment unavailable; using a full copy (slower)",
                                       metadata: ["reason": "\(error)"])
                try? Paths.removeTree(scratch)
                return try copyEnvironment(request, scratch)
            }
        }
    }

    private func copyEnvironment(_ request: Request, _ scratch: String) throws(RepairRun.Error) -> any Environment {
        do {
            return try CopyEnvironment(source: request.root, scratch: scratch, runner: request.runner)
        } catch {
            throw .environment("\(error)")
        }
    }

    /// `fix-20261129T221500Z-fstab-invalid-entry-1a2b`: sortable, readable, unique enough
    /// for one machine (the suffix is from the clock's nanoseconds and the pid).
    static func fixID(at now: time_t, failureClass: FailureClass) -> String {
        var seconds = now
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let stamp = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        let suffix = String((Int(clock.tv_nsec) ^ Int(getpid())) & 0xffff, radix: 16)
        return "fix-\(stamp)-\(failureClass.rawValue)-\(suffix)"
    }
}

extension RepairRun {
    /// What `repair --dry-run` shows: the finding and every candidate strategy, ranked,
    /// with its plan computed on the real root read-only (planning writes nothing).
    public struct DryRun: Sendable, Codable {
        public struct Candidate: Sendable, Codable {
            public var strategy: StrategyDescriptor
            public var unmetPrecondition: String?
            public var operations: [String]
            public var planError: String?
        }

        public var root: String
        public var finding: Finding?
        public var candidates: [Candidate]
    }

    public func plans(_ request: Request) -> DryRun {
        let detection = DetectionContext(root: request.root, thresholds: request.thresholds,
                                         extraDevices: request.extraDevices, pstoreDirectory: request.pstoreDirectory,
                                         countsCurrentBoot: request.countsCurrentBoot,
                                         runner: request.runner, logger: request.logger)
        let (diagnosis, findings) = diagnose(detection)
        guard let finding = Self.primary(diagnosis, findings: findings) else {
            return DryRun(root: request.root.path, finding: nil, candidates: [])
        }
        let context = RepairContext(root: request.root, finding: finding, extraDevices: request.extraDevices,
                                    thresholds: request.thresholds, runner: request.runner, logger: request.logger)
        let candidates = engine.candidates(finding.failureClass).map { strategy in
            if let reason = strategy.unmetPrecondition(context) {
                return DryRun.Candidate(strategy: strategy.descriptor, unmetPrecondition: reason, operations: [], planError: nil)
            }
            do {
                return DryRun.Candidate(strategy: strategy.descriptor, unmetPrecondition: nil,
                                        operations: try strategy.plan(context).map(\.description), planError: nil)
            } catch {
                return DryRun.Candidate(strategy: strategy.descriptor, unmetPrecondition: nil, operations: [],
                                        planError: "\(error)")
            }
        }
        return DryRun(root: request.root.path, finding: finding, candidates: candidates)
    }
}
