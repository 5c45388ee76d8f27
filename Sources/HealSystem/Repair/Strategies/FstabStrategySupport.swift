import Glibc
import HealCore

/// A strategy whose precondition is "its plan can be computed": one function decides both,
/// so `unmetPrecondition` can never promise a plan that `plan` then refuses.
protocol PlanFirstStrategy: RepairStrategy {
    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation]
}

extension PlanFirstStrategy {
    func unmetPrecondition(_ context: RepairContext) -> String? {
        do {
            _ = try decide(context)
            return nil
        } catch {
            return error.reason
        }
    }

    func plan(_ context: RepairContext) throws -> [RepairOperation] {
        try decide(context)
    }

    func refuse(_ reason: String) -> PlanError {
        PlanError(strategy: descriptor.id, reason: reason)
    }
}

/// Mounts that nothing can stand in for: `/` (the root, root-device work) and `/usr`
/// (mounted by the initramfs before fstab is read). `nofail` or a commented line there
/// only trades one failed boot for another.
let essentialMountPoints: Set<String> = ["/", "/usr"]

/// The clone's fstab as the repairs see it: its bytes and mode, what libmount parsed, and
/// what the fstab detector finds wrong with each line.
struct FstabSurvey {
    static let path = "/etc/fstab"

    var bytes: [UInt8]
    var mode: UInt32
    var fstab: Fstab
    var devices: BlockDevices
    /// Entries the boot waits for whose source names no device.
    var unresolvable: [Fstab.Entry] = []
    /// Entries whose written type is not the one blkid sees, with that type.
    var typeMismatches: [(entry: Fstab.Entry, detected: String)] = []
    /// Other lines the detector reports as invalid (unparsable lines, unsupported tags,
    /// bad swap options, `auto` on a device without a filesystem), with the reason.
    var otherInvalid: [(line: Int, reason: String)] = []

    /// Reads and checks the clone's fstab with the detector's own rules.
    static func load(_ context: RepairContext, strategy: String) throws(PlanError) -> FstabSurvey {
        let fstab: Fstab
        do throws(Fstab.Error) {
            fstab = try Fstab.load(root: context.root, path: path)
        } catch {
            throw PlanError(strategy: strategy, reason: "\(error)")
        }
        let bytes: [UInt8]
        do {
            bytes = try context.root.files.read(path, limit: 16 << 20)
        } catch {
            throw PlanError(strategy: strategy, reason: "\(error)")
        }
        let mode = context.root.files.statusIfPresent(path, followLast: true).map { UInt32($0.st_mode & 0o7777) } ?? 0o644
        var survey = FstabSurvey(bytes: bytes, mode: mode, fstab: fstab,
                                 devices: BlockDevices(extraImages: context.extraDevices))
        survey.otherInvalid = fstab.invalidLines.map { ($0.line, $0.reason) }
        let detector = FstabDetector(path: path)
        for entry in fstab.entries {
            for finding in detector.check(entry, devices: survey.devices, root: context.root) {
                switch finding.failureClass {
                case .fstabUnresolvableSource:
                    survey.unresolvable.append(entry)
                default:
                    if let device = FstabDetector.resolve(entry.source, devices: survey.devices, root: context.root),
                       let detected = device.info.type, detected != entry.fstype,
                       entry.fstype != "auto", entry.fstype != "none" {
                        survey.typeMismatches.append((entry, detected))
                    } else {
                        survey.otherInvalid.append((entry.line, finding.summary))
                    }
                }
            }
        }
        survey.otherInvalid.sort { $0.line < $1.line }
        return survey
    }

    /// The mount point written on line `line` (also for a line libmount rejected).
    func mountPoint(line: Int) -> String? {
        if let entry = fstab.entries.first(where: { $0.line == line }) { return entry.target }
        return FstabEdit.fields(line: line, in: bytes).flatMap { $0.count > 1 ? FstabEdit.unescape($0[1]) : nil }
    }

    /// The operation that writes `bytes` as the new fstab, with the old mode.
    func write(_ bytes: [UInt8]) -> RepairOperation {
        .writeFile(path: Self.path, contents: bytes, mode: mode)
    }
}
