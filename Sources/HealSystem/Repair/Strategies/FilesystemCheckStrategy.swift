import Glibc
import HealCore

/// `filesystem-errors`: `e2fsck -fy` on the filesystem the finding names.
///
/// The operation is block level, so the engine runs it on a copy-on-write snapshot of the
/// device (`BlockSnapshot`, qemu-storage-daemon over FUSE) and validates there; apply runs
/// it on the real device with an `e2fsck -z` undo file as the backup. Without the tools for
/// a snapshot the repair is not tried at all: e2fsck straight on the device would be an
/// unvalidated change.
struct FilesystemCheckStrategy: RepairStrategy {
    let descriptor = StrategyDescriptor(
        id: "e2fsck-repair",
        title: "Repair the filesystem with e2fsck -fy, proven on a copy-on-write snapshot of the device first",
        classes: [.filesystemErrors],
        risk: 5,
        sideEffects: "e2fsck -y answers yes to every question: damaged inodes are cleared, their data is lost, and orphaned files and folders are moved to lost+found under #<inode> names",
        priorEffectiveness: 0.85,
        estimatedSeconds: 60)

    static let extTypes: Set<String> = ["ext2", "ext3", "ext4"]
    /// Tools on this machine (not in the examined root): the check and the snapshot.
    static let tools = ["e2fsck", "qemu-img", "qemu-storage-daemon"]

    func unmetPrecondition(_ context: RepairContext) -> String? {
        do {
            _ = try target(context)
        } catch {
            return error.reason
        }
        if let missing = Self.tools.first(where: { Executable.find($0) == nil }) {
            return "\(missing) is not installed, so no block-level snapshot can be made and e2fsck is not tried"
        }
        guard access("/dev/fuse", R_OK | W_OK) == 0 else {
            return "/dev/fuse is not usable (\(String(cString: strerror(errno)))), so no block-level snapshot can be made and e2fsck is not tried"
        }
        return nil
    }

    func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let (device, uuid, type) = try target(context)
        return [.checkFilesystem(device: device, uuid: uuid, fsType: type)]
    }

    /// The device the finding names, probed with libblkid: it must hold ext2/3/4 with a UUID.
    private func target(_ context: RepairContext) throws(PlanError) -> (String, String, String) {
        guard let named = Self.device(of: context.finding) else {
            throw PlanError(strategy: descriptor.id, reason: "the finding names no device")
        }
        // `repair --disk` reached the filesystem through the loop device of its read-only
        // mount, which is gone by the time the fix is applied: the image is its stable name.
        let device = LoopDevice(node: named)?.backingFile ?? named
        let info: BlockInfo?
        do {
            info = try BlockProbe.identify(device)
        } catch {
            throw PlanError(strategy: descriptor.id, reason: "\(error)")
        }
        guard let type = info?.type, Self.extTypes.contains(type) else {
            throw PlanError(strategy: descriptor.id, reason: "\(device) holds \(info?.type ?? "no known filesystem"), not ext2/3/4")
        }
        guard let uuid = info?.uuid, !uuid.isEmpty else {
            throw PlanError(strategy: descriptor.id, reason: "\(device) has no filesystem UUID to identify it at apply")
        }
        return (device, uuid, type)
    }

    /// The device of a `FilesystemErrorsDetector` finding: the subject of its evidence
    /// (`e2fsck -fn <device>`, `dumpe2fs -h <device>`).
    static func device(of finding: Finding) -> String? {
        for evidence in finding.evidence {
            for prefix in ["e2fsck -fn ", "dumpe2fs -h "] where evidence.source.hasPrefix(prefix) {
                return String(evidence.source.dropFirst(prefix.count))
            }
        }
        return nil
    }

}
