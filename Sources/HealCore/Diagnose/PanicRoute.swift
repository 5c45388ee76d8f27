/// Where a kernel crash leads: the failure classes whose strategies can fix what the crash
/// shows, or why nothing should be repaired at all.
///
/// | the crash | routed to | why |
/// | --- | --- | --- |
/// | machine check, firmware-first fatal hardware error | nothing: a person | hardware failed; no file on disk fixes it |
/// | a kernel release the root does not have (`/lib/modules`, `/usr/lib/modules`) | nothing | an old record, or another system's |
/// | `VFS: Unable to mount root fs` | root-device-mismatch, initramfs-missing-driver, initramfs-missing, initramfs-corrupt, kernel-modules-missing, filesystem-errors | the kernel could not find or read `/`: `root=`, the initramfs and its drivers, the root fs |
/// | `No working init found` | init-missing, initramfs-missing, initramfs-corrupt, system-file-corrupt | no init could be run: the binary, the initramfs's `/init`, its libraries |
/// | `Attempted to kill init!` | init-missing, system-file-corrupt, account-database-broken, initramfs-corrupt | init ran and died: its libraries and loader, the accounts it reads, the initramfs's `/init` |
/// | any other crash naming a module | kernel-panic | keep the module out (module-blacklist), or boot a kernel without it (last-good-kernel) |
/// | any other crash | kernel-panic | boot the last kernel that worked (last-good-kernel) |
///
/// Pure: the caller says which kernel releases the root has.
public struct PanicRoute: Sendable, Hashable, Codable {
    public enum Decision: String, Sendable, Hashable, Codable {
        /// The classes' strategies may repair it.
        case repair
        /// Hardware: repair nothing, tell a person what to check.
        case needsPerson = "needs-person"
        /// A record of a kernel this root does not have: report it, act on nothing.
        case foreignKernel = "foreign-kernel"
    }

    public var decision: Decision
    /// The classes to look at and repair, most likely first; empty unless `repair`.
    public var classes: [FailureClass]
    /// Why, for a person.
    public var reason: String
    /// For `needsPerson`: what to check.
    public var checks: [String]

    public init(decision: Decision, classes: [FailureClass], reason: String, checks: [String] = []) {
        self.decision = decision
        self.classes = classes
        self.reason = reason
        self.checks = checks
    }

    /// What to check after a machine check or a fatal hardware error.
    public static let hardwareChecks = [
        "the hardware event log: the BMC's SEL (`ipmitool sel list`) or the firmware's own log",
        "memory: the DIMM the error names, EDAC counters (`ras-mc-ctl --errors`, /sys/devices/system/edac), a memory test",
        "the CPU: the bank and status of the machine check (`mcelog --ascii` on the record's lines)",
        "firmware: BIOS/UEFI and microcode versions against the vendor's errata",
    ]

    /// Routes `signature`.
    /// - Parameter installedKernels: the releases under the root's `/lib/modules` and
    ///   `/usr/lib/modules`; nil when the root has neither folder (nothing to compare with).
    public static func route(_ signature: PanicSignature, installedKernels: Set<String>?) -> PanicRoute {
        let kind = signature.crashKind
        switch kind {
        case .machineCheck, .hardwareError:
            return PanicRoute(decision: .needsPerson, classes: [],
                              reason: "the \(kind == .machineCheck ? "machine check" : "fatal hardware error") (\(signature.reason ?? kind.rawValue)) "
                                  + "is a hardware fault: nothing on disk causes or fixes it",
                              checks: hardwareChecks)
        default:
            break
        }
        if let kernel = signature.kernelVersion, let installed = installedKernels, !installed.contains(kernel) {
            return PanicRoute(decision: .foreignKernel, classes: [],
                              reason: "kernel \(kernel) is not installed here (no /lib/modules/\(kernel)): "
                                  + "the record is old or from another system, so nothing is repaired for it")
        }
        switch kind {
        case .rootMount:
            return PanicRoute(decision: .repair,
                              classes: [.rootDeviceMismatch, .initramfsMissingDriver, .initramfsMissing, .initramfsCorrupt,
                                        .kernelModulesMissing, .filesystemErrors],
                              reason: "the kernel could not mount the root fs: root=, the initramfs and its drivers, "
                                  + "the kernel's modules and the root fs itself decide that")
        case .noWorkingInit:
            return PanicRoute(decision: .repair,
                              classes: [.initMissing, .initramfsMissing, .initramfsCorrupt, .systemFileCorrupt],
                              reason: "the kernel found no init it could run: the init binary, the initramfs's /init "
                                  + "and the libraries they need")
        case .initKilled:
            return PanicRoute(decision: .repair,
                              classes: [.initMissing, .systemFileCorrupt, .accountDatabaseBroken, .initramfsCorrupt],
                              reason: "init ran and died: its binary, libc and the loader (packaged files), "
                                  + "the accounts it reads, the initramfs's /init")
        default:
            break
        }
        if let module = signature.faultingModule {
            return PanicRoute(decision: .repair, classes: [.kernelPanic],
                              reason: "the crash names module \(module): keep it from loading, or boot a kernel without it")
        }
        return PanicRoute(decision: .repair, classes: [.kernelPanic],
                          reason: "a crash in the kernel itself (\(kind.rawValue)): boot the last kernel that worked")
    }

    /// One line: `routed to a, b: why`, or what a person should do.
    public var summary: String {
        switch decision {
        case .repair: "routed to \(classes.map(\.rawValue).joined(separator: ", ")): \(reason)"
        case .needsPerson: "needs a person, nothing repaired: \(reason); check " + checks.joined(separator: "; ")
        case .foreignKernel: "not acted on: \(reason)"
        }
    }
}
