/// A class of boot failure from the catalogue (docs/failure-catalogue.md).
///
/// The raw value is the stable slug used in JSON output, the ledger, reports and tests.
public enum FailureClass: String, CaseIterable, Sendable, Codable, Comparable {
    case kernelPanic = "kernel-panic"
    case bootFailures = "boot-failures"
    case fstabUnresolvableSource = "fstab-unresolvable-source"
    case fstabInvalidEntry = "fstab-invalid-entry"
    case rootDeviceMismatch = "root-device-mismatch"
    case initramfsMissing = "initramfs-missing"
    case initramfsCorrupt = "initramfs-corrupt"
    case initramfsMissingDriver = "initramfs-missing-driver"
    case kernelModulesMissing = "kernel-modules-missing"
    case initMissing = "init-missing"
    case diskSpaceExhausted = "disk-space-exhausted"
    case inodeExhausted = "inode-exhausted"
    case filesystemErrors = "filesystem-errors"
    case unitFailures = "unit-failures"
    case bootloaderEnvCorrupt = "bootloader-env-corrupt"
    case bootloaderDefaultInvalid = "bootloader-default-invalid"
    case systemFileCorrupt = "system-file-corrupt"
    case accountDatabaseBroken = "account-database-broken"

    /// The part of the system a failure of this class sits in.
    public var component: Component {
        switch self {
        case .kernelPanic, .kernelModulesMissing: .kernel
        case .bootFailures, .rootDeviceMismatch, .bootloaderEnvCorrupt, .bootloaderDefaultInvalid: .bootloader
        case .initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver: .drivers
        case .fstabUnresolvableSource, .fstabInvalidEntry, .filesystemErrors: .fileSystem
        case .initMissing, .unitFailures, .systemFileCorrupt: .systemServices
        case .diskSpaceExhausted, .inodeExhausted: .resources
        case .accountDatabaseBroken: .securitySubsystems
        }
    }

    /// How bad a failure of this class is when nothing more specific is known.
    public var defaultSeverity: Severity {
        switch self {
        case .kernelPanic, .bootFailures, .fstabUnresolvableSource, .rootDeviceMismatch,
             .initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver,
             .kernelModulesMissing, .initMissing, .bootloaderDefaultInvalid:
            .critical
        case .fstabInvalidEntry, .diskSpaceExhausted, .inodeExhausted, .filesystemErrors,
             .systemFileCorrupt, .accountDatabaseBroken:
            .high
        case .unitFailures, .bootloaderEnvCorrupt:
            .moderate
        }
    }

    public static func < (lhs: FailureClass, rhs: FailureClass) -> Bool {
        lhs.rank < rhs.rank
    }

    /// Catalogue order: the order of the cases above, which follows the boot chain.
    public var rank: Int { Self.allCases.firstIndex(of: self) ?? Self.allCases.count }
}

/// The component slugs of `detect --json` (docs/cli.md, "detect").
public enum Component: String, CaseIterable, Sendable, Codable {
    case kernel, bootloader, systemServices, drivers, securitySubsystems, fileSystem, resources
}

/// Severity slugs of `detect --json`, most severe first.
public enum Severity: String, CaseIterable, Sendable, Codable, Comparable {
    case critical, high, moderate

    public static func < (lhs: Severity, rhs: Severity) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .critical: 0
        case .high: 1
        case .moderate: 2
        }
    }
}
