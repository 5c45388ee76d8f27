import Glibc
import HealCore

/// The state of a block-level fix on the device it repairs (`filesystem.json` in the fix's
/// state folder): which device, and the SHA-256 of its primary superblock before apply,
/// which tells a rollback (and recovery) whether the device is back where it started.
struct FilesystemApplyPlan: Sendable, Hashable, Codable {
    var fixID: String
    var device: String
    var uuid: String
    var superblockBefore: String
    /// For a repair from a backup superblock: where it is, so that recovery of an apply
    /// interrupted before e2fsck rewrote the primary one still identifies the device.
    var backupSuperblock: Int?
    var blockSize: Int?
}

/// Apply, rollback and recovery of a block-level fix (`FixManifest.filesystem`):
/// `e2fsck -fy -z <undo>` on the real device, the undo file kept as the backup,
/// `e2undo <undo> <device>` to take it off again.
///
/// ```
///  <root>/var/lib/clarity-heal/applied/<fix-id>/
///  ├── package/          verified copy of the fix package
///  ├── filesystem.json   FilesystemApplyPlan: device, UUID, superblock SHA-256 before
///  ├── backup.e2undo     e2fsck's undo file: the old contents of every block it wrote
///  └── state.json        AppliedFix; backup = backup.e2undo, backupSHA256 = its SHA-256
/// ```
///
/// The journal has one step. Recovery of an apply interrupted inside it does not roll
/// forward as file steps do: running e2fsck again would replace the undo file, the only
/// way back. It puts the device back with `e2undo` and the apply did not happen. (e2fsck(8)
/// warns that an undo file is not a power-loss guard: e2fsck does not sync it before each
/// block write. It covers a killed process; after a power cut, recovery stops with an
/// error unless e2undo accepts the file.)
extension Applier {
    static let undoName = "backup.e2undo"

    /// The undo file of a fix, inside the state folder.
    func undoFile(_ fix: String) -> String { ApplyLayout.applied(fix) + "/" + Self.undoName }

    /// The plan of a block-level fix applied (or being applied) on this root; nil for a fix
    /// of file changes.
    func filesystemPlan(_ fix: String) -> FilesystemApplyPlan? {
        guard PackagePath.isUsableFixID(fix), let state = try? existingState(),
              let bytes = try? state.files.read(ApplyLayout.applied(fix) + "/filesystem.json", limit: 1 << 20, links: .refuse),
              let plan = try? Self.decode(FilesystemApplyPlan.self, bytes), plan.fixID == fix else { return nil }
        return plan
    }

    // MARK: Checks

    /// Every check before e2fsck may touch `repair.device`: it exists, carries the fix's
    /// UUID, is mounted nowhere (by device number, and through any loop device backed by
    /// it), and does not hold the state folder where the undo file goes.
    func checkDevice(_ repair: FilesystemRepair, fix: String) throws(Applier.Error) {
        let device = repair.device
        func refuse(_ reason: String) -> Applier.Error { .refused(.deviceUnsafe(fix: fix, device: device, reason: reason)) }
        guard FileReading.status(atPath: device, followLinks: true) != nil else { throw refuse("does not exist") }
        let uuid: String?
        do {
            uuid = try Self.filesystemUUID(device, backupSuperblock: repair.backupSuperblock, blockSize: repair.blockSize)
        } catch {
            throw refuse("cannot be probed: \(error)")
        }
        guard uuid == repair.uuid else {
            throw refuse("carries UUID \(uuid ?? "none"), not \(repair.uuid): it is not the filesystem the fix was made for")
        }
        if let mount = try Self.mountOf(device) {
            throw refuse("is mounted on \(mount); e2fsck must not repair a mounted filesystem")
        }
        let numbers = MountInfo.deviceNumbers(of: device)
        let stateFolder = root.host(StateDirectory.path)
        if let st = root.files.statusIfPresent(StateDirectory.path, followLast: true) ?? root.files.statusIfPresent("/"),
           numbers.contains(UInt64(st.st_dev)) {
            throw refuse("holds \(stateFolder), where the undo file would be written")
        }
    }

    /// The UUID of the filesystem on `device`: libblkid's, or — for a repair from a backup
    /// superblock, whose primary one is unreadable until e2fsck rewrites it — the backup's.
    static func filesystemUUID(_ device: String, backupSuperblock: Int?, blockSize: Int?) throws(BlockProbe.Error) -> String? {
        if let uuid = try BlockProbe.identify(device)?.uuid { return uuid }
        guard let backupSuperblock, let blockSize else { return nil }
        return ExtBackupSuperblock.read(device, superblock: backupSuperblock, blockSize: blockSize)?.uuid
    }

    /// Where `device` is mounted on this machine, if anywhere.
    static func mountOf(_ device: String) throws(Applier.Error) -> String? {
        let mounts: MountInfo
        do {
            mounts = try MountInfo.current()
        } catch {
            throw .refused(.deviceUnsafe(fix: "", device: device, reason: "cannot be proven unmounted: \(error)"))
        }
        let numbers = MountInfo.deviceNumbers(of: device)
        return mounts.mounts.first { numbers.contains($0.device) }?.target
    }

    /// SHA-256 of the primary superblock (1024 bytes at offset 1024, for every block size).
    static func superblockDigest(_ device: String) throws(Applier.Error) -> String {
        let fd = retryingEINTR { open(device, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw .errno(device) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1024)
        let n = bytes.withUnsafeMutableBytes { buffer in retryingEINTR { pread(fd, buffer.baseAddress, 1024, 1024) } }
        guard n == 1024 else { throw .io(path: device, reason: "cannot read its superblock") }
        return SHA256.hex(bytes)
    }

    // MARK: Apply

    func applyFilesystem(_ package: FixPackage, _ repair: FilesystemRepair,
                         recovered: RecoveryReport?) throws(Applier.Error) -> ApplyResult {
        let manifest = package.manifest
        let fix = manifest.id
        do throws(Applier.Error) {
            guard PackagePath.isUsableFixID(fix) else { throw Applier.Error.refused(.invalidFixID(fix)) }
            guard manifest.changes.isEmpty else {
                throw Applier.Error.refused(.package(fix: fix, reason: "a block-level fix carries no file changes"))
            }
            if let state = appliedFix(fix), state.state == .applied {
                var result = filesystemResult(state, repair, status: .alreadyApplied)
                result.recovered = recovered
                return result
            }
            try checkDevice(repair, fix: fix)
        } catch {
            recordRefusal(.apply, fix: fix, manifest: manifest, error: error)
            throw error
        }
        let plan = FilesystemApplyPlan(fixID: fix, device: repair.device, uuid: repair.uuid,
                                       superblockBefore: try Self.superblockDigest(repair.device),
                                       backupSuperblock: repair.backupSuperblock, blockSize: repair.blockSize)
        let (state, journal, partial) = try prepareApply(package, fix: fix)
        try write(partial + "/filesystem.json", try Self.encode(plan), in: state)
        try publish(partial, as: ApplyLayout.applied(fix), in: state)
        CrashPoint.reached()

        // The backup checksum of `begin` is the superblock's: the undo file is written by
        // the step itself.
        try journal.append(.begin(.apply, fixID: fix, steps: 1, backupSHA256: plan.superblockBefore))
        try journal.append(.intent(step: 0))
        // e2fsck writes the undo file by its host path: the state folder was reached without
        // a link, so that path stays inside it.
        let undo = state.host(undoFile(fix))
        let result = try tool("e2fsck", repair.repairArguments + ["-z", undo, repair.device])
        // A crash here has changed the device without a `done`: recovery must undo it.
        CrashPoint.reached()
        let outcome = FilesystemRepair.Outcome(status: result.status)
        guard outcome.succeeded else {
            // Errors left uncorrected: the device goes back to what it was, and the apply
            // did not happen.
            let undone = try? tool("e2undo", [undo, repair.device])
            try? state.files.removeTree(ApplyLayout.applied(fix))
            try? ApplyJournal.remove(in: state)
            let back = undone?.succeeded == true ? "put back with e2undo" : "e2undo could not put it back; restore it from \(undo)"
            let reason = "e2fsck -fy exited \(result.status) (\(FilesystemRepair.tail(result.output + result.errorOutput, lines: 3))); \(back)"
            record(.apply, fix: fix, manifest: manifest, outcome: .failed, detail: ["reason": reason])
            throw .io(path: repair.device, reason: reason)
        }
        do {
            try state.files.sync(undoFile(fix))
        } catch {
            throw .file(error, in: state)
        }
        try journal.append(.done(step: 0))
        let applied = try finishFilesystemApply(plan, rebootNeeded: outcome == .correctedRebootNeeded,
                                                journal: journal, outcome: .applied,
                                                extra: ["e2fsck": "exit \(result.status)"], state: state)
        var applyResult = filesystemResult(applied, repair, status: .applied)
        applyResult.recovered = recovered
        return applyResult
    }

    private func finishFilesystemApply(_ plan: FilesystemApplyPlan, rebootNeeded: Bool, journal: ApplyJournal,
                                       outcome: LedgerRecord.Outcome, extra: [String: String] = [:],
                                       state: StateDirectory) throws(Applier.Error) -> AppliedFix {
        let manifest = try openCopy(plan.fixID, in: state).manifest
        let undoSHA = try BackupArchive.digest(undoFile(plan.fixID), in: state)
        let previous = appliedFix(plan.fixID).flatMap { $0.state == .applied && $0.backupSHA256 == undoSHA ? $0 : nil }
        let order = previous?.order ?? (appliedFixes().map(\.order).max() ?? 0) + 1
        let applied = AppliedFix(fixID: plan.fixID, failureClass: manifest.failureClass, strategy: manifest.strategy.id,
                                 state: .applied, appliedAt: Int(clock.now()), rolledBackAt: nil, order: order,
                                 backup: state.host(undoFile(plan.fixID)), backupSHA256: undoSHA,
                                 needsReboot: manifest.needsReboot || rebootNeeded, rebootPaths: [], paths: [plan.device])
        try writeState(applied, in: state)
        recordOnce(.apply, state: applied, outcome: outcome, extra: extra.merging(["device": plan.device]) { a, _ in a })
        try journal.append(.commit(.apply, fixID: plan.fixID))
        try ApplyJournal.remove(in: state)
        return applied
    }

    private func filesystemResult(_ state: AppliedFix, _ repair: FilesystemRepair,
                                  status: ApplyResult.Status) -> ApplyResult {
        ApplyResult(fixID: state.fixID, failureClass: state.failureClass, status: status,
                    changes: [.init(path: repair.device, action: "e2fsck",
                                    before: "\(repair.fsType) with errors (e2fsck -fn exit \(repair.checkStatus))")],
                    backup: state.backup, backupSHA256: state.backupSHA256,
                    reboot: .init(needed: state.needsReboot, paths: state.rebootPaths), recovered: nil)
    }

    // MARK: Rollback

    func rollbackFilesystem(_ applied: AppliedFix, _ plan: FilesystemApplyPlan,
                            recovered: RecoveryReport?, state: StateDirectory) throws(Applier.Error) -> RollbackResult {
        if applied.state == .rolledBack {
            var result = filesystemRollbackResult(applied, status: .alreadyRolledBack)
            result.recovered = recovered
            return result
        }
        let fix = applied.fixID
        try verifyUndoFile(applied, state: state)
        try checkPlannedDevice(plan)
        if let mount = try Self.mountOf(plan.device) {
            throw .notApplied(fix: fix, reason: "\(plan.device) is mounted on \(mount); e2undo must not write a mounted filesystem")
        }
        // e2undo -n checks that the undo file matches the filesystem now on the device,
        // writing nothing: a device changed since apply is refused before the journal.
        let dryRun = try tool("e2undo", ["-n", state.host(undoFile(fix)), plan.device])
        guard dryRun.succeeded else {
            throw .notApplied(fix: fix, reason: "e2undo refuses \(plan.device): "
                + FilesystemRepair.tail(dryRun.errorOutput + dryRun.output, lines: 2))
        }
        let journal = try ApplyJournal.create(in: state)
        try journal.append(.prepare(.rollback, fixID: fix))
        try journal.append(.begin(.rollback, fixID: fix, steps: 1, backupSHA256: applied.backupSHA256))
        try undoDevice(plan, journal: journal, state: state)
        let final = try finishRollback(applied, journal: journal, state: state)
        var result = filesystemRollbackResult(final, status: .rolledBack)
        result.recovered = recovered
        return result
    }

    /// Step 0 of a rollback: e2undo, then the superblock must be the one from before apply.
    private func undoDevice(_ plan: FilesystemApplyPlan, journal: ApplyJournal, state: StateDirectory) throws(Applier.Error) {
        try journal.append(.intent(step: 0))
        if try Self.superblockDigest(plan.device) != plan.superblockBefore {
            let result = try tool("e2undo", [state.host(undoFile(plan.fixID)), plan.device])
            guard result.succeeded else {
                throw .io(path: plan.device, reason: "e2undo exited \(result.status): "
                    + FilesystemRepair.tail(result.errorOutput + result.output, lines: 3))
            }
        }
        guard try Self.superblockDigest(plan.device) == plan.superblockBefore else {
            throw .io(path: plan.device, reason: "after e2undo its superblock is not the one from before the apply")
        }
        try journal.append(.done(step: 0))
    }

    private func filesystemRollbackResult(_ state: AppliedFix, status: RollbackResult.Status) -> RollbackResult {
        RollbackResult(fixID: state.fixID, status: status, restored: state.paths, removed: [],
                       backup: state.backup, backupSHA256: state.backupSHA256,
                       reboot: .init(needed: state.needsReboot, paths: state.rebootPaths), recovered: nil)
    }

    /// The undo file of an applied block-level fix is there with its recorded checksum.
    func verifyUndoFile(_ applied: AppliedFix, state: StateDirectory) throws(Applier.Error) {
        let actual: String
        do {
            actual = try BackupArchive.digest(undoFile(applied.fixID), in: state)
        } catch {
            throw .notApplied(fix: applied.fixID, reason: "its undo file cannot be read: \(error)")
        }
        guard actual == applied.backupSHA256 else {
            throw .notApplied(fix: applied.fixID, reason: "its undo file does not verify (sha256 \(actual), recorded \(applied.backupSHA256))")
        }
    }

    /// The device a plan read back from the state folder names is still the filesystem the
    /// fix was made for (its UUID) and mounted nowhere: a planted `filesystem.json` cannot
    /// point e2undo at another disk of the machine.
    func checkPlannedDevice(_ plan: FilesystemApplyPlan) throws(Applier.Error) {
        let uuid: String?
        do {
            uuid = try Self.filesystemUUID(plan.device, backupSuperblock: plan.backupSuperblock, blockSize: plan.blockSize)
        } catch {
            throw .recovery(fix: plan.fixID, reason: "\(plan.device) cannot be probed: \(error)")
        }
        guard uuid == plan.uuid else {
            throw .recovery(fix: plan.fixID, reason: "\(plan.device) carries UUID \(uuid ?? "none"), not \(plan.uuid); it is left alone")
        }
        if let mount = try Self.mountOf(plan.device) {
            throw .recovery(fix: plan.fixID, reason: "\(plan.device) is mounted on \(mount); e2undo must not write it")
        }
    }

    // MARK: Recovery

    /// Finishes a block-level apply or rollback a crash interrupted after `begin`.
    func recoverFilesystem(_ plan: FilesystemApplyPlan, operation: JournalRecord.Operation, done: Set<Int>,
                           journal: ApplyJournal, state: StateDirectory) throws(Applier.Error) -> RecoveryReport {
        let fix = plan.fixID
        switch operation {
        case .apply where done.contains(0):
            // e2fsck finished and its undo file is durable: only the state record is missing.
            _ = try finishFilesystemApply(plan, rebootNeeded: false, journal: journal,
                                          outcome: .recovered, state: state)
            return RecoveryReport(fixID: fix, operation: operation, action: .rolledForward, redone: [])
        case .apply:
            let undo = state.host(undoFile(fix))
            if (state.files.statusIfPresent(undoFile(fix), links: .refuse)?.st_size ?? 0) > 0,
               try Self.superblockDigest(plan.device) != plan.superblockBefore {
                try checkPlannedDevice(plan)
                let result = try tool("e2undo", [undo, plan.device])
                guard result.succeeded else {
                    throw .recovery(fix: fix, reason: "e2fsck was interrupted on \(plan.device) and e2undo exited \(result.status): "
                        + FilesystemRepair.tail(result.errorOutput + result.output, lines: 3) + "; the undo file is kept at \(undo)")
                }
            }
            let manifest = (try? openCopy(fix, in: state))?.manifest
            do {
                try state.files.removeTree(ApplyLayout.applied(fix))
            } catch {
                throw .file(error, in: state)
            }
            record(.apply, fix: fix, manifest: manifest, outcome: .undone,
                   detail: ["reason": "e2fsck was interrupted; \(plan.device) was put back with e2undo"])
            try ApplyJournal.remove(in: state)
            return RecoveryReport(fixID: fix, operation: operation, action: .undone, redone: [])
        case .rollback:
            guard let applied = appliedFix(fix) else { throw .recovery(fix: fix, reason: "its state record is missing") }
            if !done.contains(0) {
                try checkPlannedDevice(plan)
                do {
                    try undoDevice(plan, journal: journal, state: state)
                } catch {
                    throw .recovery(fix: fix, reason: "\(error)")
                }
            }
            _ = try finishRollback(applied, journal: journal, recovered: true, state: state)
            return RecoveryReport(fixID: fix, operation: operation, action: .rolledForward, redone: done.contains(0) ? [] : [0])
        }
    }

    private func tool(_ executable: String, _ arguments: [String]) throws(Applier.Error) -> CommandResult {
        do {
            return try SpawnCommandRunner().run(executable, arguments)
        } catch {
            throw .io(path: executable, reason: "\(error)")
        }
    }
}
