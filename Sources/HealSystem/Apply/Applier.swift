import FoundationEssentials
import Glibc
import HealCore

/// Puts a validated fix on a root and takes it off again, crash-safe (DESIGN.md §7):
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
public struct Applier: Sendable {
    public let root: SystemRoot
    public let layout: ApplyLayout
    /// The wall clock: the times of an applied fix and the ledger's stamps.
    public var clock: any Clock

    public init(root: SystemRoot, clock: any Clock = SystemClock()) {
        self.root = root
        layout = ApplyLayout(root: root)
        self.clock = clock
    }

    // MARK: Entry points the CLI and other stages use

    /// Finishes or discards an operation a crash interrupted on `root`; nil when there was
    /// none. Every command calls this first.
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
        var candidates = [reference]
        if PackagePath.isUsableFixID(reference) {
            candidates += [ApplyLayout(root: root).staged(reference), root.host("/var/lib/clarity-heal/fixes/" + reference)]
        }
        let directory = candidates.first { FileReading.status(atPath: $0, followLinks: true) != nil } ?? reference
        do {
            return try FixPackage.open(directory)
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
        do {
            _ = try RootPaths.resolve("/var/lib/clarity-heal/applied/" + plan.fixID, in: root, fix: plan.fixID)
        } catch {
            throw .refused(error)
        }
        for step in plan.steps {
            if Self.isOwnState(step.path, makesFolder: step.action == .makeDirectory) {
                throw .refused(.invalidPath(fix: plan.fixID, path: step.manifestPath, reason: "is clarity-heal's own state"))
            }
            guard let st = FileReading.status(atPath: root.host(step.path)) else { continue }
            let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
            switch step.action {
            case .makeDirectory where !isDirectory:
                throw .refused(.incomplete(fix: plan.fixID, path: step.path, reason: "exists and is not a folder; a fix does not turn it into one"))
            case .writeFile where isDirectory, .makeSymlink where isDirectory:
                throw .refused(.incomplete(fix: plan.fixID, path: step.path, reason: "is a folder; a fix does not replace a folder with a file"))
            default:
                continue
            }
        }
        for step in plan.steps where step.action == .writeFile {
            guard let digest = step.sha256,
                  FileReading.status(atPath: package.directory + "/files/" + digest)?.st_size == Int(step.size ?? -1)
                    || step.size == nil else {
                throw .refused(.package(fix: plan.fixID, reason: "the contents of \(step.manifestPath) are truncated"))
            }
        }
        return plan
    }

    // MARK: Apply

    /// Whether a fix would write clarity-heal's own state (journal, backups, staged fixes,
    /// ledger). Crash records and the list of those a repair handled
    /// (`/var/lib/clarity-heal/pstore/`) are data a fix may write — the module-blacklist
    /// repair marks the records it handled — and their folders may be made as parents.
    static func isOwnState(_ path: String, makesFolder: Bool) -> Bool {
        let state = "/var/lib/clarity-heal", pstore = state + "/pstore"
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
            record(.apply, fix: package.manifest.id, manifest: package.manifest, outcome: .refused,
                   detail: ["reason": "\(error)"])
            throw error
        }
        let fix = plan.fixID
        if let state = appliedFix(fix), state.state == .applied {
            var result = try result(for: state, plan: plan, status: .alreadyApplied)
            result.recovered = recovered
            return result
        }
        // Everything recovery needs to roll forward, built aside and renamed into place.
        let (journal, partial) = try prepareApply(package, fix: fix)
        let index: BackupIndex
        let backupSHA: String
        do {
            index = try BackupArchive.write(plan, root: root, to: partial + "/backup.tar")
            try BackupArchive.verifyAgainstLive(tar: partial + "/backup.tar", index: index, root: root)
            backupSHA = try StreamingSHA256.file(partial + "/backup.tar")
        } catch {
            try? DurableFiles.removeTree(partial)
            try? ApplyJournal.remove(at: layout.journal)
            let failure: Applier.Error = if case .backup = error { error } else { .backup(fix: fix, reason: "\(error)") }
            record(.apply, fix: fix, manifest: package.manifest, outcome: .refused,
                   detail: ["reason": "\(failure)"])
            throw failure
        }
        let indexJSON = try Self.encode(index), planJSON = try Self.encode(plan)
        try DurableFiles.writeSmallFile(partial + "/backup-index.json", indexJSON)
        try DurableFiles.writeSmallFile(partial + "/plan.json", planJSON)
        let sums = "\(backupSHA)  backup.tar\n\(SHA256.hex(indexJSON))  backup-index.json\n\(SHA256.hex(planJSON))  plan.json\n"
        try DurableFiles.writeSmallFile(partial + "/SHA256SUMS", Array(sums.utf8))
        try publish(partial, as: layout.applied(fix), in: layout.applied)
        CrashPoint.reached()

        try journal.append(.begin(.apply, fixID: fix, steps: plan.steps.count, backupSHA256: backupSHA))
        try runApplySteps(plan, done: [], journal: journal)
        let state = try finishApply(plan, backupSHA: backupSHA, journal: journal, outcome: .applied)
        var result = try result(for: state, plan: plan, status: .applied, index: index)
        result.recovered = recovered
        return result
    }

    private func runApplySteps(_ plan: ApplyPlan, done: Set<Int>, journal: ApplyJournal) throws(Applier.Error) -> Void {
        let contents = layout.applied(plan.fixID) + "/package/files/"
        for step in plan.steps where !done.contains(step.index) {
            try journal.append(.intent(step: step.index))
            let host = root.host(step.path)
            let existing = FileReading.status(atPath: host)
            let owner = step.owner ?? existing?.st_uid ?? 0, group = step.group ?? existing?.st_gid ?? 0
            switch step.action {
            case .makeDirectory:
                try DurableFiles.makeDirectory(host, mode: step.mode ?? 0o755, owner: owner, group: group)
            case .writeFile:
                let digest = step.sha256 ?? ""
                try DurableFiles.replaceFile(host, from: contents + digest, sha256: digest, mode: step.mode ?? 0o644,
                                             owner: owner, group: group)
            case .makeSymlink:
                try DurableFiles.replaceSymlink(host, target: step.target ?? "", owner: owner, group: group)
            case .remove:
                try DurableFiles.remove(host)
            }
            try journal.append(.done(step: step.index))
        }
    }

    private func finishApply(_ plan: ApplyPlan, backupSHA: String, journal: ApplyJournal,
                             outcome: LedgerRecord.Outcome) throws(Applier.Error) -> AppliedFix {
        let package = try openCopy(plan.fixID)
        let manifest = package.manifest
        let paths = plan.paths
        // Folders are listed because their files changed; the files decide the reboot.
        let changed = plan.steps.filter { $0.action != .makeDirectory }.map(\.path)
        // A redo after a crash keeps the order the first try gave (state.json was written).
        let previous = appliedFix(plan.fixID).flatMap { $0.state == .applied && $0.backupSHA256 == backupSHA ? $0 : nil }
        let order = previous?.order ?? (appliedFixes().map(\.order).max() ?? 0) + 1
        let state = AppliedFix(fixID: plan.fixID, failureClass: manifest.failureClass, strategy: manifest.strategy.id,
                               state: .applied, appliedAt: Int(clock.now()), rolledBackAt: nil, order: order,
                               backup: layout.backup(plan.fixID), backupSHA256: backupSHA,
                               needsReboot: manifest.needsReboot || RebootAnalysis.needsReboot(changed),
                               rebootPaths: RebootAnalysis.rebootPaths(changed), paths: paths)
        try writeState(state)
        // Before the commit record: a crash in between redoes this, and recordOnce skips a
        // record already written for this apply (same order).
        recordOnce(.apply, state: state, outcome: outcome)
        try journal.append(.commit(.apply, fixID: plan.fixID))
        try ApplyJournal.remove(at: layout.journal)
        return state
    }

    // MARK: Rollback

    /// Puts back what the fix replaced or removed, and removes what it created, through the
    /// journal. Without a fix id: the last fix applied on this root.
    public func rollback(_ fixID: String? = nil) throws(Applier.Error) -> RollbackResult {
        let recovered = try recover()
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
        guard PackagePath.isUsableFixID(fix), let state = appliedFix(fix) else {
            throw .notApplied(fix: fix, reason: "it was never applied on \(root.path)")
        }
        if let plan = filesystemPlan(fix) {
            return try rollbackFilesystem(state, plan, recovered: recovered)
        }
        let index = try loadIndex(fix)
        let plan = RollbackPlan.make(index)
        if state.state == .rolledBack {
            var result = rollbackResult(state, plan: plan, index: index, status: .alreadyRolledBack)
            result.recovered = recovered
            return result
        }
        // No verified backup, no rollback: a damaged backup must not overwrite the system.
        do {
            try BackupArchive.verifyStored(tar: layout.backup(fix), sha256: state.backupSHA256, index: index)
        } catch {
            throw .notApplied(fix: fix, reason: "its backup does not verify: \(error)")
        }
        let journal = try ApplyJournal.create(at: layout.journal)
        try journal.append(.prepare(.rollback, fixID: fix))
        try journal.append(.begin(.rollback, fixID: fix, steps: plan.steps.count, backupSHA256: state.backupSHA256))
        try runRollbackSteps(plan, index: index, done: [], journal: journal)
        let final = try finishRollback(state, journal: journal)
        var result = rollbackResult(final, plan: plan, index: index, status: .rolledBack)
        result.recovered = recovered
        return result
    }

    private func runRollbackSteps(_ plan: RollbackPlan, index: BackupIndex, done: Set<Int>,
                                  journal: ApplyJournal) throws(Applier.Error) -> Void {
        let tar = layout.backup(plan.fixID)
        let members = try BackupArchive.members(of: tar)
        var restored = Set(plan.steps.filter { done.contains($0.index) && $0.action == .restore }.map(\.path))
        for step in plan.steps where !done.contains(step.index) {
            try journal.append(.intent(step: step.index))
            switch step.action {
            case .restore:
                // Hard links between restored paths come back as links: link to a member of
                // the same inode group already restored.
                let group = Self.linkGroup(of: step.path, in: members)
                let source = group.first { $0 != step.path && restored.contains($0) }
                try BackupArchive.restore(step.path, tar: tar, root: root, linkSource: source)
                restored.insert(step.path)
            case .restoreMetadata:
                try BackupArchive.restoreMetadata(step.path, tar: tar, root: root)
            case .remove:
                let entry = index.entries.first { $0.path == step.path }
                if entry?.kind == .absent, let st = FileReading.status(atPath: root.host(step.path)),
                   (st.st_mode & S_IFMT) == S_IFDIR {
                    try DurableFiles.removeEmptyDirectory(root.host(step.path))
                } else {
                    try DurableFiles.remove(root.host(step.path))
                }
            }
            try journal.append(.done(step: step.index))
        }
    }

    static func linkGroup(of path: String, in members: [String: BackupArchive.Member]) -> [String] {
        let head = members[path]?.hardlink ?? path
        return members.filter { $0.key == head || $0.value.hardlink == head }.map(\.key).sorted()
    }

    func finishRollback(_ state: AppliedFix, journal: ApplyJournal, recovered: Bool = false) throws(Applier.Error) -> AppliedFix {
        var final = state
        final.state = .rolledBack
        final.rolledBackAt = Int(clock.now())
        try writeState(final)
        recordOnce(.rollback, state: final, outcome: .rolledBack,
                   extra: recovered ? ["recovered": "true"] : [:])
        try journal.append(.commit(.rollback, fixID: state.fixID))
        try ApplyJournal.remove(at: layout.journal)
        return final
    }

    // MARK: Recovery

    /// See the type's documentation for what happens in each phase.
    public func recover() throws(Applier.Error) -> RecoveryReport? {
        guard let records = try ApplyJournal.records(at: layout.journal) else { return nil }
        guard let state = JournalState(records) else {
            // Only a header (or less) was durable: nothing was announced, nothing happened.
            try ApplyJournal.remove(at: layout.journal)
            return nil
        }
        let fix = state.fixID
        guard PackagePath.isUsableFixID(fix) else { throw .recovery(fix: fix, reason: "the journal names an unusable fix id") }
        switch state.phase {
        case .prepared:
            if state.operation == .apply {
                let manifest = (try? FixPackage.open(layout.partial(fix) + "/package"))?.manifest
                    ?? (try? FixPackage.open(layout.applied(fix) + "/package"))?.manifest
                try DurableFiles.removeTree(layout.partial(fix))
                // Renamed into place but never begun: no state record, nothing applied.
                if appliedFix(fix) == nil { try DurableFiles.removeTree(layout.applied(fix)) }
                record(.apply, fix: fix, manifest: manifest, outcome: .undone,
                       detail: ["reason": "interrupted before the backup was verified; nothing was changed"])
            }
            try ApplyJournal.remove(at: layout.journal)
            return RecoveryReport(fixID: fix, operation: state.operation, action: .discarded, redone: [])
        case .committed:
            try ApplyJournal.remove(at: layout.journal)
            return RecoveryReport(fixID: fix, operation: state.operation, action: .closed, redone: [])
        case .started(let steps, let backupSHA, let done):
            let journal = try ApplyJournal.reopen(at: layout.journal)
            if let plan = filesystemPlan(fix) {
                return try recoverFilesystem(plan, operation: state.operation, done: done, journal: journal)
            }
            let redone = (0..<steps).filter { !done.contains($0) }
            switch state.operation {
            case .apply:
                let plan: ApplyPlan
                do {
                    plan = try Self.decode(ApplyPlan.self, FileReading.bytes(atPath: layout.applied(fix) + "/plan.json"))
                } catch {
                    throw .recovery(fix: fix, reason: "cannot read its plan: \(error)")
                }
                guard plan.steps.count == steps else { throw .recovery(fix: fix, reason: "the plan and the journal disagree") }
                try runApplySteps(plan, done: done, journal: journal)
                _ = try finishApply(plan, backupSHA: backupSHA, journal: journal, outcome: .recovered)
            case .rollback:
                guard let applied = appliedFix(fix) else { throw .recovery(fix: fix, reason: "its state record is missing") }
                let index = try loadIndex(fix)
                let plan = RollbackPlan.make(index)
                guard plan.steps.count == steps else { throw .recovery(fix: fix, reason: "the backup index and the journal disagree") }
                try runRollbackSteps(plan, index: index, done: done, journal: journal)
                _ = try finishRollback(applied, journal: journal, recovered: true)
            }
            return RecoveryReport(fixID: fix, operation: state.operation, action: .rolledForward, redone: redone)
        }
    }

    // MARK: Staging

    /// Checks `package` against this root and copies it, verified, into
    /// `staged/<fix-id>/` (built aside, renamed into place).
    public func stage(_ package: FixPackage) throws(Applier.Error) -> StagedFix {
        _ = try recover()
        let plan = try check(package)
        let final = layout.staged(plan.fixID)
        let partial = layout.staged + "/." + plan.fixID + ".partial"
        try DurableFiles.makeDirectories(layout.staged)
        try DurableFiles.removeTree(partial)
        try DurableFiles.makeDirectories(partial)
        try copyPackage(package, to: partial)
        try publish(partial, as: final, in: layout.staged)
        record(.stage, fix: plan.fixID, manifest: package.manifest, outcome: .staged,
               detail: ["staged": final])
        return StagedFix(fixID: plan.fixID, directory: final,
                         needsReboot: package.manifest.needsReboot || RebootAnalysis.needsReboot(plan.paths))
    }

    // MARK: State

    /// Every fix with a state record on this root, oldest apply first.
    public func appliedFixes() -> [AppliedFix] {
        FileReading.directoryEntries(atPath: layout.applied)
            .filter { !$0.hasPrefix(".") }
            .compactMap(appliedFix)
            .sorted { $0.order < $1.order }
    }

    /// The state record of one fix, nil when it has none.
    public func appliedFix(_ fixID: String) -> AppliedFix? {
        guard PackagePath.isUsableFixID(fixID),
              let bytes = try? FileReading.bytes(atPath: layout.applied(fixID) + "/state.json") else { return nil }
        return try? Self.decode(AppliedFix.self, bytes)
    }

    /// Checks the stored backup of an applied fix: its checksum, readable to the end, every
    /// indexed file's contents.
    public func verifyBackup(_ fixID: String) throws(Applier.Error) {
        guard let state = appliedFix(fixID) else { throw .notApplied(fix: fixID, reason: "it has no state on \(root.path)") }
        if filesystemPlan(fixID) != nil {
            try verifyUndoFile(state)
            return
        }
        try BackupArchive.verifyStored(tar: layout.backup(fixID), sha256: state.backupSHA256, index: try loadIndex(fixID))
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

    func writeState(_ state: AppliedFix) throws(Applier.Error) {
        try DurableFiles.writeSmallFile(layout.applied(state.fixID) + "/state.json", try Self.encode(state))
    }

    private func loadIndex(_ fix: String) throws(Applier.Error) -> BackupIndex {
        do {
            return try Self.decode(BackupIndex.self, FileReading.bytes(atPath: layout.applied(fix) + "/backup-index.json"))
        } catch {
            throw .notApplied(fix: fix, reason: "its backup index cannot be read: \(error)")
        }
    }

    private func openCopy(_ fix: String) throws(Applier.Error) -> FixPackage {
        do {
            return try FixPackage.open(layout.applied(fix) + "/package")
        } catch {
            throw .recovery(fix: fix, reason: "its package copy does not verify: \(error)")
        }
    }

    /// Opens the journal with `prepare` and an empty `partial/<fix>` folder holding a copy
    /// of the package: the start every apply shares, file or filesystem.
    func prepareApply(_ package: FixPackage, fix: String) throws(Applier.Error) -> (journal: ApplyJournal, partial: String) {
        try DurableFiles.makeDirectories(layout.applied)
        let journal = try ApplyJournal.create(at: layout.journal)
        try journal.append(.prepare(.apply, fixID: fix))
        let partial = layout.partial(fix)
        try DurableFiles.removeTree(partial)
        try DurableFiles.makeDirectories(partial)
        try copyPackage(package, to: partial + "/package")
        return (journal, partial)
    }

    /// Puts the folder built at `partial` in place of `final` (an old one removed): its
    /// entries synced first, the rename then synced in `parent`, so a crash leaves either
    /// no folder or the whole one.
    func publish(_ partial: String, as final: String, in parent: String) throws(Applier.Error) {
        try DurableFiles.fsyncPath(partial, directory: true)
        try DurableFiles.removeTree(final)
        guard rename(partial, final) == 0 else { throw .errno(final) }
        try DurableFiles.fsyncPath(parent, directory: true)
    }

    func copyPackage(_ package: FixPackage, to destination: String) throws(Applier.Error) {
        try DurableFiles.makeDirectories(destination + "/files")
        for name in ["manifest.json", "SHA256SUMS"] {
            try DurableFiles.copyFile(package.directory + "/" + name, to: destination + "/" + name)
        }
        for name in FileReading.directoryEntries(atPath: package.directory + "/files") {
            try DurableFiles.copyFile(package.directory + "/files/" + name, to: destination + "/files/" + name)
        }
        try DurableFiles.fsyncPath(destination + "/files", directory: true)
        try DurableFiles.fsyncPath(destination, directory: true)
        // The copy is what recovery rolls forward from: it must verify like the original.
        do {
            _ = try FixPackage.open(destination)
        } catch {
            throw .refused(.package(fix: package.manifest.id, reason: "the copy does not verify: \(error)"))
        }
    }

    private func result(for state: AppliedFix, plan: ApplyPlan, status: ApplyResult.Status,
                        index: BackupIndex? = nil) throws(Applier.Error) -> ApplyResult {
        let index = if let index { index } else { try loadIndex(state.fixID) }
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
