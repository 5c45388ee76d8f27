import HealCore
import Logging

/// What a strategy is given to plan a repair: the clone to read (never the real root), the
/// finding it repairs, and how to look at the system's devices.
public struct RepairContext: Sendable {
    /// The clone in the environment. Planning only reads it; operations change it.
    public var root: SystemRoot
    /// The finding being repaired (its class is one of the strategy's classes).
    public var finding: Finding
    /// Image files or device nodes of the examined system (`--device`, the clone's disks).
    public var extraDevices: [String]
    /// The configured thresholds (a cleanup must bring usage below them).
    public var thresholds: Thresholds
    /// Crashes seen on the console of a boot of the disk, with no record on the disk.
    public var bootCrashes: [PanicSignature] = []
    /// Whether the environment boots what passes the static checks (the microVM): a
    /// strategy whose sufficiency only a boot can show is tried only then.
    public var canBoot = false
    public var runner: any CommandRunner
    public var logger: Logger

    public init(root: SystemRoot, finding: Finding, extraDevices: [String] = [],
                thresholds: Thresholds = Thresholds(),
                runner: any CommandRunner = SpawnCommandRunner(),
                logger: Logger = Logger(label: "clarity-heal.repair")) {
        self.root = root
        self.finding = finding
        self.extraDevices = extraDevices
        self.thresholds = thresholds
        self.runner = runner
        self.logger = logger
    }
}

/// A way to repair one or more failure classes (docs/failure-catalogue.md), tried on a clone first.
///
/// `plan` reads the clone and computes the operations without changing anything, so
/// `--dry-run` can print them; the environment executes them idempotently. Text
/// transformations (an fstab line, a grubenv block) belong in HealCore as pure functions.
public protocol RepairStrategy: Sendable {
    var descriptor: StrategyDescriptor { get }
    /// Why this strategy cannot be tried on this system, or nil when it can.
    func unmetPrecondition(_ context: RepairContext) -> String?
    /// The operations that repair the finding on this system.
    func plan(_ context: RepairContext) throws -> [RepairOperation]
}

/// A strategy that could not compute its plan; the engine records it and moves on.
public struct PlanError: Error, Equatable, CustomStringConvertible {
    public var strategy: String
    public var reason: String

    public init(strategy: String, reason: String) {
        self.strategy = strategy
        self.reason = reason
    }

    public var description: String { "\(strategy) cannot plan: \(reason)" }
}
