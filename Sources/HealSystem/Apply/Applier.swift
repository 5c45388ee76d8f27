import FoundationEssentials
import Glibc
import HealCore

/// Puts a validated fix on a root and takes it off again, crash-safe (docs/formats.md):
/// checks first (nothing written when a check fails), a verified backup before the first
/// change, every change through the journal with write-temp, fsync, rename, fsync-dir.
///
/// Recovery, per journal phase (`JournalState.Phase`):
/// - `prepare` only: the backup was not yet verified and the target is untouched, so the
///   half-built state is discarded (the apply did not happen).
/// - `begin` without `commit`: the backup is verified and the package copy durable, so the
///   operation is rolled FORWARD: every step not marked done is redone (each is idempotent),
///   for an apply and for a rollback alike. Every file therefore ends in its old or its new
///   version, never in between.
/// - `commit`: finished; the journal is removed.
///
/// Nothing read from the root's state is trusted (the root may be hostile): the state folder
/// is used only when it is clarity-heal's own (`StateDirectory`); a plan, index or backup
/// read back from it is checked again before a step runs (`validate`); every write to the
/// root passes no symbolic link (`ConfinedDirectory`). Only commands that write call
/// `recover`; the others ask `pendingRecovery`.
public struct Applier: Sendable {
    public let root: SystemRoot
    /// The wall clock: the times of an applied fix and the ledger's stamps.
    public var clock: any Clock

    public init(root: SystemRoot, clock: any Clock = SystemClock()) {
        self.root = root
        self.clock = clock
    }

    /// The root's state folder for reading: nil when there is none.
    /// - Throws: `.untrustedState` when it is there but not clarity-heal's own.
    public func existingState() throws(Applier.Error) -> StateDirectory? {
        do {
            return try StateDirectory.open(root)
        } catch {
            throw .untrustedState(error.description)
        }
    }

    /// The root's state folder for writing, made when missing.
    func writableState() throws(Applier.Error) -> StateDirectory {
        do {
            return try StateDirectory.make(root)
        } catch {
            // A folder that cannot be made (a read-only root, a full disk) is an I/O
            // failure; one that is not clarity-heal's own is refused.
            if case .io(let failure) = error { throw .io(path: root.host(failure.path), reason: failure.reason) }
            throw .untrustedState(error.description)
        }
    }

    // MARK: Entry points the CLI and other stages use

    /// Finishes or discards an operation a crash interrupted on `root`; nil when there was
    /// none. Only commands that write call this (they hold the root's lock); the others
    /// report a pending recovery and change nothing.
    public static func recover(root: SystemRoot, clock: any Clock = SystemClock()) throws(Applier.Error) -> RecoveryReport? {
        try Applier(root: root, clock: clock).recover()
    }

    /// Checks `package` against `root` and copies it, verified, to
    /// `<root>/var/lib/clarity-heal/staged/<fix-id>/` for the next boot to apply.
    public static func stage(package: FixPackage, root: SystemRoot,
                             clock: any Clock = SystemClock()) throws(Applier.Error) -> StagedFix {
        try Applier(root: root, clock: clock).stage(package)
    }

    /// Opens a fix package given as a folder, or as a fix id staged or kept on `root`
    /// (`staged/<id>`, then `/var/lib/clarity-heal/fixes/<id>`).
    public static func openPackage(_ reference: String, root: SystemRoot) throws(Applier.Error) -> FixPackage {
        do {
            if FileReading.status(atPath: reference, followLinks: true) != nil || !PackagePath.isUsableFixID(reference) {
                return try FixPackage.open(reference)
            }
            // A fix id: staged on the root, or kept in its fixes folder; both inside the
            // state folder, reached without a link.
            guard let state = try Applier(root: root).existingState() else {
                throw FixPackage.Error.read(path: reference, reason: "no such folder, and \(root.path) has no fix with that id")
            }
            for folder in [ApplyLayout.staged(reference), "/fixes/" + reference] where state.files.exists(folder) {
                do {
                    return try FixPackage.open(state.files.subdirectory(folder, links: .refuse))
                } catch let error as FileError {
                    throw FixPackage.Error.read(path: state.host(folder), reason: error.reason)
                }
            }
            throw FixPackage.Error.read(path: reference, reason: "no such folder, and \(root.path) has no fix with that id")
        } catch let error as Applier.Error {
            throw error
        } catch {
            throw .refused(.package(fix: reference, reason: "\(error)"))
        }
    }

    // MARK: Checks

    /// Every check that comes before a write: the plan, each path resolved inside the root
    /// (no link out of it), no path named twice, no clarity-heal state touched, no folder
    /// replaced by a file. Reads the root; writes nothing.
    public func check(_ package: FixPackage) throws(Applier.Error) -> ApplyPlan {
        let manifest = package.manifest
        let root = self.root
        let plan: ApplyPlan
        do {
            plan = try ApplyPlan.make(manifest) { (path) throws(ApplyRefusal) -> String in
                try RootPaths.resolve(path, in: root, fix: manifest.id)
            }
        } catch {
            throw .refused(error)
        }
        try checkSteps(plan, manifestPaths: true)
        return plan
    }

    /// The checks every step passes before it runs, whether the plan was just made or read
    /// back from the state folder (which a hostile root may have planted): a normalised
    /// path, never clarity-heal's own state, no folder replaced by a file, nothing made
    /// where a file stands as a folder.
    func checkSteps(_ plan: ApplyPlan, manifestPaths: Bool) throws(Applier.Error) {
        let fix = plan.fixID
        guard PackagePath.isUsableFixID(fix) else { throw .refused(.invalidFixID(fix)) }
        for step in plan.steps {
            if let problem = PackagePath.problem(step.path) {
                throw .refused(.invalidPath(fix: fix, path: step.path, reason: problem))
            }
            if Self.isOwnState(step.path, makesFolder: step.action == .makeDirectory) {
                throw .refused(.invalidPath(fix: fix, path: manifestPaths ? step.manifestPath : step.path,
                                            reason: "is clarity-heal's own state"))
            }
            if step.action == .writeFile, step.sha256.map({ $0.utf8.count == 64 && $0.utf8.allSatisfy(FixPackage.isHex) }) != true {
                throw .refused(.incomplete(fix: fix, path: step.path, reason: "is a file without a checksum of its contents"))
            }
            if !manifestPaths {
                // Read back from the state folder: the rules `ApplyPlan.make` and
                // `RootPaths` enforced when the plan was made are enforced again.
                if let link = plan.steps.first(where: { $0.action == .makeSymlink && step.path.hasPrefix($0.path + "/") }) {
                    throw .refused(.passesThroughLink(fix: fix, path: step.path, link: link.path, target: link.target ?? ""))
                }
                do {
                    _ = try RootPaths.resolve(step.path, in: root, fix: fix)
                } catch {
                    throw .refused(error)
                }
            }
            guard let st = root.files.statusIfPresent(step.path, links: .refuse) else { continue }
            let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
            switch step.action {
            case .makeDirectory where !isDirectory:
                throw .refused(.incomplete(fix: fix, path: step.path, reason: "exists and is not a folder; a fix does not turn it into one"))
            case .writeFile where isDirectory, .makeSymlink where isDirectory:
                throw .refused(.incomplete(fix: fix, path: step.path, reason: "is a folder; a fix does not replace a folder with a file"))
            default:
                continue
            }
        }
    }

    // MARK: Apply

    /// Whether a fix would write clarity-heal's own state (journal, backups, staged fixes,
    /// ledger). Crash records and the list of those a repair handled
    /// (`/var/lib/clarity-heal/pstore/`) are data a fix may write — the module-blacklist
    /// repair marks the records it handled — and their folders may be made as parents.
    static func isOwnState(_ path: String, makesFolder: Bool) -> Bool {
        let state = StateDirectory.path, pstore = state + "/pstore"
        guard path == state || path.hasPrefix(state + "/") else { return false }
        if path.hasPrefix(pstore + "/") { return false }
        if makesFolder && (path == state || path == pstore) { return false }
        return true
    }

    /// Applies `package` now: recovery first, checks, verified backup, then every step
    /// through the journal. Applying a fix that is already applied changes nothing.
    /// - Parameter device: for a block-level fix, the device to repair when it is no longer
    ///   at the path the package names (it must still carry the package's UUID).
    /// - Throws: `Applier.Error`; `.refused` and `.backup` leave the target untouched.
    public func apply(_ package: FixPackage, device: String? = nil) throws(Applier.Error) -> ApplyResult {
        let recovered = try recover()
        if var filesystem = package.manifest.filesystem {
            if let device { filesystem.device = device }
            return try applyFilesystem(package, filesystem, recovered: recovered)
        }
        let plan: ApplyPlan
        do {
            plan = try check(package)
        } catch {
            recordRefusal(.apply, fix: package.manifest.id, manifest: package.manifest, error: error)
            throw error
        }
        let fix = plan.fixID
        if let state = appliedFix(fix), state.state == .applied {
            var result = try result(for: state, plan: plan, status: .alreadyApplied)
            result.recovered = recovered
            return result
        }
        // Everything recovery needs to roll forward, built aside and renamed into place.
        let (state, journal, partial) = try prepareApply(package, fix: fix)
        let index: BackupIndex
        let backupSHA: String
        do {
            let tar = partial + "/backup.tar"
            index = try BackupArchive.write(plan, root: root, to: tar, in: state)
            try BackupArchive.verifyAgainstLive(tar: tar, in: state, index: index, root: root)
            backupSHA = try BackupArchive.digest(tar, in: state)
        } catch {
            try? state.files.removeTree(partial)
            try? ApplyJournal.remove(in: state)
            let failure: Applier.Error = if case .backup = error { error } else { .backup(fix: fix, reason: "\(error)") }
            recordRefusal(.apply, fix: fix, manifest: package.manifest, error: failure)
            throw failure
        }
        let indexJSON = try Self.encode(index), planJSON = try Self.encode(plan)
        try write(partial + "/backup-index.json", indexJSON, in: state)
        try write(partial + "/plan.json", planJSON, in: state)
        let sums = "\(backupSHA)  backup.tar\n\(SHA256.hex(indexJSON))  backup-index.json\n\(SHA256.hex(planJSON))  plan.json\n"
        try write(partial + "/SHA256SUMS", Array(sums.utf8), in: state)
        try publish(partial, as: ApplyLayout.applied(fix), in: state)
        CrashPoint.reached()

        try journal.append(.begin(.apply, fixID: fix, steps: plan.steps.count, backupSHA256: backupSHA))
        try runApplySteps(plan, done: [], journal: journal, state: state)
        let applied = try finishApply(plan, backupSHA: backupSHA, journal: journal, outcome: .applied, state: state)
        var result = try result(for: applied, plan: plan, status: .applied, index: index)
        result.recovered = recovered
        return result
    }

    private func runApplySteps(_ plan: ApplyPlan, done: Set<Int>, journal: ApplyJournal,
                               state: StateDirectory) throws(Applier.Error) -> Void {
        let contents = ApplyLayout.package(plan.fixID) + "/files/"
        for step in plan.steps where !done.contains(step.index) {
            try journal.append(.intent(step: step.index))
            let existing = root.files.statusIfPresent(step.path, links: .refuse)
            let owner = (uid: step.owner ?? existing?.st_uid ?? 0, gid: step.group ?? existing?.st_gid ?? 0)
            do throws(FileError) {
                switch step.action {
                case .makeDirectory:
                    try root.files.makeDirectory(step.path, mode: step.mode ?? 0o755, owner: owner)
                case .writeFile:
                    let digest = step.sha256 ?? ""
                    // The verified package copy in the state folder; the bytes are hashed
                    // again as they stream into the root.
                    let source = try state.files.open(contents + digest, limit: step.size ?? FixPackage.fileLimit, links: .refuse)
                    try root.files.replaceFile(step.path, mode: step.mode ?? 0o644, owner: owner) { (target) throws(FileError) in
                        let hasher = StreamingSHA256()
                        try source.stream(limit: FixPackage.fileLimit) { (piece) throws(FileError) in
                            hasher.update(piece)
                            try target.write(piece)
                        }
                        let actual = hasher.finish()
                        guard actual == digest else {
                            throw FileError.system(path: state.host(contents + digest), call: "sha256 \(actual) is not \(digest)", errno: EIO)
                        }
                    }
                case .makeSymlink:
                    try root.files.replaceSymlink(step.path, target: step.target ?? "", owner: owner)
                case .remove:
                    try root.files.remove(step.path)
                }
            } catch {
                throw .io(path: step.path, reason: error.reason)
            }
            try journal.append(.done(step: step.index))
        }
    }

    private func finishApply(_ plan: ApplyPlan, backupSHA: String, journal: ApplyJournal,
                             outcome: LedgerRecord.Outcome, state: StateDirectory) throws(Applier.Error) -> AppliedFix {
        let package = try openCopy(plan.fixID, in: state)
        let manifest = package.manifest
        let paths = plan.paths
        // Folders are listed because their files changed; the files decide the reboot.
        let changed = plan.steps.filter { $0.action != .makeDirectory }.map(\.path)
        // A redo after a crash keeps the order the first try gave (state.json was written).
        let previous = appliedFix(plan.fixID).flatMap { $0.state == .applied && $0.backupSHA256 == backupSHA ? $0 : nil }
        let order = previous?.order ?? (appliedFixes().map(\.order).max() ?? 0) + 1
        let applied = AppliedFix(fixID: plan.fixID, failureClass: manifest.failureClass, strategy: manifest.strategy.id,
                                 state: .applied, appliedAt: Int(clock.now()), rolledBackAt: nil, order: order,
                                 backup: state.host(ApplyLayout.backup(plan.fixID)), backupSHA256: backupSHA,
                                 needsReboot: manifest.needsReboot || RebootAnalysis.needsReboot(changed),
                                 rebootPaths: RebootAnalysis.rebootPaths(changed), paths: paths)
        try writeState(applied, in: state)
        // Before the commit record: a crash in between redoes this, and recordOnce skips a
        // record already written for this apply (same order).
        recordOnce(.apply, state: applied, outcome: outcome)
        try journal.append(.commit(.apply, fixID: plan.fixID))
        try ApplyJournal.remove(in: state)
        return applied
    }

    // MARK: Rollback

    /// Puts back what the fix replaced or removed, and removes what it created, through the
    /// journal. Without a fix id: the last fix applied on this root.
    public func rollback(_ fixID: String? = nil) throws(Applier.Error) -> RollbackResult {
        let recovered = try recover()
        guard let state = try existingState() else {
            if let fixID { throw .notApplied(fix: fixID, reason: "it was never applied on \(root.path)") }
            throw .nothingApplied(root: root.path)
        }
        let fixes = appliedFixes()
        let fix: String
        if let fixID {
            fix = fixID
        } else {
            guard let last = fixes.filter({ $0.state == .applied }).max(by: { $0.order < $1.order }) else {
                throw .nothingApplied(root: root.path)
            }
            fix = last.fixID
        }
        guard PackagePath.isUsableFixID(fix), let applied = appliedFix(fix) else {
            throw .notApplied(fix: fix, reason: "it was never applied on \(root.path)")
        }
        if let plan = filesystemPlan(fix) {
            return try rollbackFilesystem(applied, plan, recovered: recovered, state: state)
        }
        let index = try loadIndex(fix, in: state)
        let plan = RollbackPlan.make(index)
        if applied.state == .rolledBack {
            var result = rollbackResult(applied, plan: plan, index: index, status: .alreadyRolledBack)
            result.recovered = recovered
            return result
        }
        // No verified backup, no rollback: a damaged backup must not overwrite the system.
        do {
            try BackupArchive.verifyStored(tar: ApplyLayout.backup(fix), in: state, sha256: applied.backupSHA256, index: index)
        } catch {
            throw .notApplied(fix: fix, reason: "its backup does not verify: \(error)")
        }
        let journal = try ApplyJournal.create(in: state)
        try journal.append(.prepare(.rollback, fixID: fix))
        try journal.append(.begin(.rollback, fixID: fix, steps: plan.steps.count, backupSHA256: applied.backupSHA256))
        try runRollbackSteps(plan, index: index, done: [], journal: journal, state: state)
        let final = try finishRollback(applied, journal: journal, state: state)
        var result = rollbackResult(final, plan: plan, index: index, status: .rolledBack)
        result.recovered = recovered
        return result
    }

    private func runRollbackSteps(_ plan: RollbackPlan, index: BackupIndex, done: Set<Int>,
                                  journal: ApplyJournal, state: StateDirectory) throws(Applier.Error) -> Void {
        let tar = ApplyLayout.backup(plan.fixID)
        let members = try BackupArchive.members(of: tar, in: state)
        var restored = Set(plan.steps.filter { done.contains($0.index) && $0.action == .restore }.map(\.path))
        for step in plan.steps where !done.contains(step.index) {
            try journal.append(.intent(step: step.index))
            switch step.action {
            case .restore:
                // Hard links between restored paths come back as links: link to a member of
                // the same inode group already restored.
                let group = Self.linkGroup(of: step.path, in: members)
                let source = group.first { $0 != step.path && restored.contains($0) }
                try BackupArchive.restore(step.path, tar: tar, in: state, root: root, linkSource: source)
                restored.insert(step.path)
            case .restoreMetadata:
                try BackupArchive.restoreMetadata(step.path, tar: tar, in: state, root: root)
            case .remove:
                let entry = index.entries.first { $0.path == step.path }
                do {
                    if entry?.kind == .absent, root.files.kind(step.path) == .directory {
                        try root.files.removeEmptyDirectory(step.path)
                    } else {
                        try root.files.remove(step.path)
                    }
                } catch {
                    throw .io(path: step.path, reason: error.reason)
                }
            }
            try journal.append(.done(step: step.index))
        }
    }

    static func linkGroup(of path: String, in members: [String: BackupArchive.Member]) -> [String] {
        let head = members[path]?.hardlink ?? path
        return members.filter { $0.key == head || $0.value.hardlink == head }.map(\.key).sorted()
    }

    func finishRollback(_ applied: AppliedFix, journal: ApplyJournal, recovered: Bool = false,
                        state: StateDirectory) throws(Applier.Error) -> AppliedFix {
        var final = applied
        final.state = .rolledBack
        final.rolledBackAt = Int(clock.now())
        try writeState(final, in: state)
        recordOnce(.rollback, state: final, outcome: .rolledBack,
                   extra: recovered ? ["recovered": "true"] : [:])
        try journal.append(.commit(.rollback, fixID: applied.fixID))
        try ApplyJournal.remove(in: state)
        return final
    }

    // MARK: Recovery

    /// See the type's documentation for what happens in each phase. What the journal and
    /// the state folder say is checked before any step runs: a usable fix id, a plan or
    /// index whose paths pass the checks of a new apply.
    public func recover() throws(Applier.Error) -> RecoveryReport? {
        guard let state = try existingState(), let records = try ApplyJournal.records(in: state) else { return nil }
        guard let journalState = JournalState(records) else {
            // Only a header (or less) was durable: nothing was announced, nothing happened.
            try ApplyJournal.remove(in: state)
            return nil
        }
        let fix = journalState.fixID
        guard PackagePath.isUsableFixID(fix) else { throw .recovery(fix: fix, reason: "the journal names an unusable fix id") }
        switch journalState.phase {
        case .prepared:
            if journalState.operation == .apply {
                let manifest = (try? openCopy(fix, in: state, folder: ApplyLayout.partial(fix) + "/package"))?.manifest
                    ?? (try? openCopy(fix, in: state))?.manifest
                do {
                    try state.files.removeTree(ApplyLayout.partial(fix))
                    // Renamed into place but never begun: no state record, nothing applied.
                    if appliedFix(fix) == nil { try state.files.removeTree(ApplyLayout.applied(fix)) }
                } catch {
                    throw .recovery(fix: fix, reason: error.description)
                }
                record(.apply, fix: fix, manifest: manifest, outcome: .undone,
                       detail: ["reason": "interrupted before the backup was verified; nothing was changed"])
            }
            try ApplyJournal.remove(in: state)
            return RecoveryReport(fixID: fix, operation: journalState.operation, action: .discarded, redone: [])
        case .committed:
            try ApplyJournal.remove(in: state)
            return RecoveryReport(fixID: fix, operation: journalState.operation, action: .closed, redone: [])
        case .started(let steps, let backupSHA, let done):
            let journal = try ApplyJournal.reopen(in: state)
            if let plan = filesystemPlan(fix) {
                return try recoverFilesystem(plan, operation: journalState.operation, done: done, journal: journal, state: state)
            }
            let redone = (0..<steps).filter { !done.contains($0) }
            switch journalState.operation {
            case .apply:
                let plan: ApplyPlan
                do {
                    plan = try Self.decode(ApplyPlan.self, state.files.read(ApplyLayout.applied(fix) + "/plan.json",
                                                                            limit: 64 << 20, links: .refuse))
                } catch {
                    throw .recovery(fix: fix, reason: "cannot read its plan: \(error)")
                }
                guard plan.fixID == fix, plan.steps.count == steps else {
                    throw .recovery(fix: fix, reason: "the plan and the journal disagree")
                }
                do {
                    try checkSteps(plan, manifestPaths: false)
                } catch {
                    throw .recovery(fix: fix, reason: "its plan fails the checks of an apply: \(error)")
                }
                try runApplySteps(plan, done: done, journal: journal, state: state)
                _ = try finishApply(plan, backupSHA: backupSHA, journal: journal, outcome: .recovered, state: state)
            case .rollback:
                guard let applied = appliedFix(fix) else { throw .recovery(fix: fix, reason: "its state record is missing") }
                let index = try loadIndex(fix, in: state)
                let plan = RollbackPlan.make(index)
                guard plan.steps.count == steps else { throw .recovery(fix: fix, reason: "the backup index and the journal disagree") }
                try runRollbackSteps(plan, index: index, done: done, journal: journal, state: state)
                _ = try finishRollback(applied, journal: journal, recovered: true, state: state)
            }
            return RecoveryReport(fixID: fix, operation: journalState.operation, action: .rolledForward, redone: redone)
        }
    }

    // MARK: Staging

    /// Checks `package` against this root and copies it, verified, into
    /// `staged/<fix-id>/` (built aside, renamed into place).
    public func stage(_ package: FixPackage) throws(Applier.Error) -> StagedFix {
        _ = try recover()
        let plan: ApplyPlan
        do {
            plan = try check(package)
        } catch {
            recordRefusal(.stage, fix: package.manifest.id, manifest: package.manifest, error: error)
            throw error
        }
        let state = try writableState()
        let final = ApplyLayout.staged(plan.fixID)
        let partial = ApplyLayout.staged + "/." + plan.fixID + ".partial"
        do {
            try state.files.makeDirectories(ApplyLayout.staged)
            try state.files.removeTree(partial)
        } catch {
            throw .file(error, in: state)
        }
        try copyPackage(package, to: partial, in: state)
        try publish(partial, as: final, in: state)
        record(.stage, fix: plan.fixID, manifest: package.manifest, outcome: .staged,
               detail: ["staged": state.host(final)])
        return StagedFix(fixID: plan.fixID, directory: state.host(final),
                         needsReboot: package.manifest.needsReboot || RebootAnalysis.needsReboot(plan.paths))
    }

    // MARK: State

    /// Every fix with a state record on this root, oldest apply first (none when the state
    /// folder is missing or not trusted).
    public func appliedFixes() -> [AppliedFix] {
        guard let state = try? existingState() else { return [] }
        return state.files.entriesIfPresent(ApplyLayout.applied)
            .filter { !$0.hasPrefix(".") }
            .compactMap(appliedFix)
            .sorted { $0.order < $1.order }
    }

    /// The state record of one fix, nil when it has none.
    public func appliedFix(_ fixID: String) -> AppliedFix? {
        guard PackagePath.isUsableFixID(fixID), let state = try? existingState(),
              let bytes = try? state.files.read(ApplyLayout.applied(fixID) + "/state.json", limit: 1 << 20, links: .refuse),
              let decoded = try? Self.decode(AppliedFix.self, bytes), decoded.fixID == fixID else { return nil }
        return decoded
    }

    /// Checks the stored backup of an applied fix: its checksum, readable to the end, every
    /// indexed file's contents.
    public func verifyBackup(_ fixID: String) throws(Applier.Error) {
        guard let state = try existingState(), let applied = appliedFix(fixID) else {
            throw .notApplied(fix: fixID, reason: "it has no state on \(root.path)")
        }
        if filesystemPlan(fixID) != nil {
            try verifyUndoFile(applied, state: state)
            return
        }
        try BackupArchive.verifyStored(tar: ApplyLayout.backup(fixID), in: state, sha256: applied.backupSHA256,
                                       index: try loadIndex(fixID, in: state))
    }

    // MARK: Ledger

    /// Appends to the ledger. A ledger that cannot be written does not undo a change that
    /// is already durable: the state folder and the journal stay the authority.
    func record(_ kind: LedgerRecord.Kind, fix: String, manifest: FixManifest?, outcome: LedgerRecord.Outcome,
                detail: [String: String] = [:]) {
        _ = try? Ledger(root: root, clock: clock).append(
            LedgerRecord(kind: kind, fix: fix, failure: manifest?.failureClass, strategy: manifest?.strategy.id,
                         outcome: outcome, detail: detail))
    }

    /// Records a refusal, only in a ledger that is already there: a refused fix changes
    /// nothing on the root, not even by making the state folder.
    func recordRefusal(_ kind: LedgerRecord.Kind, fix: String, manifest: FixManifest?, error: Applier.Error) {
        guard (try? existingState()) != nil else { return }
        record(kind, fix: fix, manifest: manifest, outcome: .refused, detail: ["reason": "\(error)"])
    }

    /// Appends the record of a finished apply or rollback unless the ledger already holds
    /// it (a redo after a crash between the append and the journal's commit).
    func recordOnce(_ kind: LedgerRecord.Kind, state: AppliedFix, outcome: LedgerRecord.Outcome, extra: [String: String] = [:]) {
        let ledger = Ledger(root: root, clock: clock)
        let order = String(state.order)
        if let records = try? ledger.records().records(of: state.fixID),
           records.contains(where: { $0.kind == kind && $0.detail["order"] == order }) { return }
        var detail = ["order": order, "backup": state.backup, "backupSHA256": state.backupSHA256,
                      "paths": state.paths.joined(separator: " "), "needsReboot": String(state.needsReboot)]
        detail.merge(extra) { _, new in new }
        _ = try? ledger.append(LedgerRecord(kind: kind, fix: state.fixID, failure: state.failureClass,
                                            strategy: state.strategy, outcome: outcome, detail: detail))
    }

    func writeState(_ applied: AppliedFix, in state: StateDirectory) throws(Applier.Error) {
        try write(ApplyLayout.applied(applied.fixID) + "/state.json", try Self.encode(applied), in: state)
    }

    /// Writes small bytes durably in the state folder.
    func write(_ path: String, _ bytes: [UInt8], in state: StateDirectory) throws(Applier.Error) {
        do {
            try state.files.replaceFile(path, bytes: bytes)
        } catch {
            throw .file(error, in: state)
        }
    }

    /// The backup index of an applied fix, its paths checked as a plan's are: it says what
    /// a rollback writes.
    func loadIndex(_ fix: String, in state: StateDirectory) throws(Applier.Error) -> BackupIndex {
        let index: BackupIndex
        do {
            index = try Self.decode(BackupIndex.self, state.files.read(ApplyLayout.applied(fix) + "/backup-index.json",
                                                                       limit: 64 << 20, links: .refuse))
        } catch {
            throw .notApplied(fix: fix, reason: "its backup index cannot be read: \(error)")
        }
        guard index.fixID == fix else { throw .notApplied(fix: fix, reason: "its backup index names another fix") }
        for entry in index.entries {
            if let problem = PackagePath.problem(entry.path) {
                throw .notApplied(fix: fix, reason: "its backup index names \(entry.path.debugDescription), which \(problem)")
            }
            if Self.isOwnState(entry.path, makesFolder: entry.kind == .directory) {
                throw .notApplied(fix: fix, reason: "its backup index names \(entry.path), which is clarity-heal's own state")
            }
        }
        return index
    }

    /// The verified copy of a fix's package in the state folder.
    func openCopy(_ fix: String, in state: StateDirectory, folder: String? = nil) throws(Applier.Error) -> FixPackage {
        do {
            let package = try FixPackage.open(state.files.subdirectory(folder ?? ApplyLayout.package(fix), links: .refuse))
            guard package.manifest.id == fix else {
                throw FixPackage.Error.malformed(path: package.directory, reason: "its manifest names \(package.manifest.id)")
            }
            return package
        } catch {
            throw .recovery(fix: fix, reason: "its package copy does not verify: \(error)")
        }
    }

    /// Opens the journal with `prepare` and an empty `partial/<fix>` folder holding a copy
    /// of the package: the start every apply shares, file or filesystem.
    func prepareApply(_ package: FixPackage, fix: String) throws(Applier.Error)
        -> (state: StateDirectory, journal: ApplyJournal, partial: String)
    {
        let state = try writableState()
        do {
            try state.files.makeDirectories(ApplyLayout.applied)
        } catch {
            throw .file(error, in: state)
        }
        let journal = try ApplyJournal.create(in: state)
        try journal.append(.prepare(.apply, fixID: fix))
        let partial = ApplyLayout.partial(fix)
        do {
            try state.files.removeTree(partial)
            try state.files.makeDirectories(partial)
        } catch {
            throw .file(error, in: state)
        }
        try copyPackage(package, to: partial + "/package", in: state)
        return (state, journal, partial)
    }

    /// Puts the folder built at `partial` in place of `final` (an old one removed): its
    /// entries synced first, the rename then synced in its folder, so a crash leaves either
    /// no folder or the whole one.
    func publish(_ partial: String, as final: String, in state: StateDirectory) throws(Applier.Error) {
        do {
            try state.files.sync(partial)
            try state.files.removeTree(final)
            try state.files.rename(partial, to: final)
        } catch {
            throw .file(error, in: state)
        }
    }

    /// Copies the package into the state folder: its manifest, its checksums and only the
    /// contents files the manifest names, streamed; then opens the copy, which must verify
    /// like the original (it is what recovery rolls forward from).
    func copyPackage(_ package: FixPackage, to destination: String, in state: StateDirectory) throws(Applier.Error) {
        do throws(FileError) {
            try state.files.makeDirectories(destination + "/files")
            for name in ["/manifest.json", "/SHA256SUMS"] {
                let source = try package.folder.open(name, limit: FixPackage.metadataLimit, links: .refuse)
                try state.files.replaceFile(destination + name) { (target) throws(FileError) in
                    try source.stream { (piece) throws(FileError) in try target.write(piece) }
                }
            }
            var copied: Set<String> = []
            for contents in package.manifest.contentsFiles {
                guard let digest = contents.sha256, copied.insert(digest).inserted else { continue }
                let source: OpenFile
                do {
                    source = try package.contentsFile(digest, size: contents.size)
                } catch {
                    throw FileError.system(path: package.directory + "/files/" + digest, call: "\(error)", errno: EIO)
                }
                try state.files.replaceFile(destination + "/files/" + digest) { (target) throws(FileError) in
                    try source.stream(limit: FixPackage.fileLimit) { (piece) throws(FileError) in try target.write(piece) }
                }
            }
            try state.files.sync(destination + "/files")
            try state.files.sync(destination)
        } catch {
            throw .file(error, in: state)
        }
        do {
            _ = try FixPackage.open(state.files.subdirectory(destination, links: .refuse))
        } catch {
            throw .refused(.package(fix: package.manifest.id, reason: "the copy does not verify: \(error)"))
        }
    }

    private func result(for state: AppliedFix, plan: ApplyPlan, status: ApplyResult.Status,
                        index known: BackupIndex? = nil) throws(Applier.Error) -> ApplyResult {
        let index: BackupIndex
        if let known {
            index = known
        } else {
            guard let folder = try existingState() else { throw .notApplied(fix: state.fixID, reason: "it has no state on \(root.path)") }
            index = try loadIndex(state.fixID, in: folder)
        }
        let before = Dictionary(index.entries.map { ($0.path, $0.kind.rawValue) }, uniquingKeysWith: { a, _ in a })
        return ApplyResult(fixID: state.fixID, failureClass: state.failureClass, status: status,
                           changes: plan.steps.map { .init(path: $0.path, action: $0.action.rawValue, before: before[$0.path] ?? "absent") },
                           backup: state.backup, backupSHA256: state.backupSHA256,
                           reboot: .init(needed: state.needsReboot, paths: state.rebootPaths), recovered: nil)
    }

    private func rollbackResult(_ state: AppliedFix, plan: RollbackPlan, index: BackupIndex,
                                status: RollbackResult.Status) -> RollbackResult {
        RollbackResult(fixID: state.fixID, status: status,
                       restored: plan.steps.filter { $0.action != .remove }.map(\.path),
                       removed: plan.steps.filter { $0.action == .remove }.map(\.path),
                       backup: state.backup, backupSHA256: state.backupSHA256,
                       reboot: .init(needed: state.needsReboot, paths: state.rebootPaths), recovered: nil)
    }

    static func encode<T: Encodable>(_ value: T) throws(Applier.Error) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value)) + [0x0a]
        } catch {
            throw .io(path: "json", reason: "\(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}
