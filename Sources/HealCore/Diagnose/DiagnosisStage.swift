/// A link of the boot chain, in the order a machine walks it. Diagnosis goes broad to
/// narrow along these stages (docs/architecture.md, data flow), and when several independent
/// faults are found the earliest stage holds the root cause: a later stage never runs
/// on a machine that stops at an earlier one.
public enum DiagnosisStage: String, CaseIterable, Sendable, Codable, Comparable {
    case bootloader
    case kernel
    case initramfs
    case rootDevice = "root-device"
    case fstab
    case `init`
    case services
    case resources
    case integrity

    /// What the stage looks at, for a person.
    public var title: String {
        switch self {
        case .bootloader: "boot loader: environment block, default entry, boot counter"
        case .kernel: "kernel: crash records, module index"
        case .initramfs: "initramfs: image, /init, drivers for the root"
        case .rootDevice: "root device: root= of the default entry"
        case .fstab: "fstab and file systems"
        case .`init`: "init: /sbin/init and its ELF interpreter"
        case .services: "services: failed units"
        case .resources: "resources: space and inodes"
        case .integrity: "integrity: packaged files, account databases"
        }
    }

    public static func < (lhs: DiagnosisStage, rhs: DiagnosisStage) -> Bool {
        lhs.rank < rhs.rank
    }

    public var rank: Int { Self.allCases.firstIndex(of: self) ?? Self.allCases.count }
}

extension FailureClass {
    /// The boot-chain stage a failure of this class stops the boot at.
    public var stage: DiagnosisStage {
        switch self {
        case .bootFailures, .bootloaderEnvCorrupt, .bootloaderDefaultInvalid: .bootloader
        case .kernelPanic, .kernelModulesMissing: .kernel
        case .initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver: .initramfs
        case .rootDeviceMismatch: .rootDevice
        case .fstabUnresolvableSource, .fstabInvalidEntry, .filesystemErrors: .fstab
        case .initMissing: .`init`
        case .unitFailures: .services
        case .diskSpaceExhausted, .inodeExhausted: .resources
        case .systemFileCorrupt, .accountDatabaseBroken: .integrity
        }
    }
}
