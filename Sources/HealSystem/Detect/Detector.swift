import HealCore
import Logging

/// What every detector is given: the root and how to look at it.
public struct DetectionContext: Sendable {
    public var root: SystemRoot
    public var thresholds: Thresholds
    /// Image files (or device nodes) that belong to the examined system besides the block
    /// devices present on this machine: `--device` on the CLI, the clone's disks in an
    /// environment, the test root's image in tests.
    public var extraDevices: [String]
    /// Where pstore records are read live (`--pstore`; default `<root>/sys/fs/pstore`).
    public var pstoreDirectory: String?
    /// True when the run is on the boot path of the boot being counted (initramfs or
    /// early userspace): the boot in progress is not a failed attempt yet.
    public var countsCurrentBoot: Bool
    /// Crashes seen on the console of a boot of the disk (`diagnose --boot`, or the
    /// pipeline's own diagnosis boot): no record of them is on the disk.
    public var bootCrashes: [PanicSignature] = []
    public var runner: any CommandRunner
    public var logger: Logger

    public init(root: SystemRoot, thresholds: Thresholds = Thresholds(), extraDevices: [String] = [],
                pstoreDirectory: String? = nil, countsCurrentBoot: Bool = false,
                runner: any CommandRunner = SpawnCommandRunner(),
                logger: Logger = Logger(label: "clarity-heal.detect")) {
        self.root = root
        self.thresholds = thresholds
        self.extraDevices = extraDevices
        self.pstoreDirectory = pstoreDirectory
        self.countsCurrentBoot = countsCurrentBoot
        self.runner = runner
        self.logger = logger
    }
}

/// Looks at one part of the boot chain and reports findings of its classes.
///
/// A detector turns bad input (a truncated record, an unparsable file) into findings or
/// logged notes; it throws only when it cannot look at all.
public protocol Detector: Sendable {
    /// A short name for logs and `--json` errors (`fstab`, `pstore`).
    var name: String { get }
    /// The classes this detector can report.
    var classes: [FailureClass] { get }
    /// Whether it is cheap enough for `detect --quick` on every boot.
    var isQuick: Bool { get }
    func detect(_ context: DetectionContext) throws -> [Finding]
}

extension Detector {
    public var isQuick: Bool { false }
}
