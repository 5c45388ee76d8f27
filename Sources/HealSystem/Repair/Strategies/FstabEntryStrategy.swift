import Glibc
import HealCore

/// `fstab-invalid-entry`, first choice: a line whose type is not what is on the disk gets
/// the type blkid sees there (what `findmnt --verify` asks for).
struct FstabSetDetectedTypeStrategy: PlanFirstStrategy {
    let descriptor = StrategyDescriptor(
        id: "fstab-set-detected-type",
        title: "Set the fstab type to the filesystem type blkid sees on the device",
        classes: [.fstabInvalidEntry],
        risk: 2,
        sideEffects: "options written for the old type stay; one the detected type does not know makes the mount fail as before",
        priorEffectiveness: 0.85,
        estimatedSeconds: 5)

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let survey = try FstabSurvey.load(context, strategy: descriptor.id)
        guard !survey.typeMismatches.isEmpty else { throw refuse("no fstab line has a type that differs from its device's") }
        if let other = survey.otherInvalid.first {
            throw refuse("/etc/fstab line \(other.line) is invalid for another reason (\(other.reason)): a type change cannot fix it")
        }
        var bytes = survey.bytes
        for (entry, detected) in survey.typeMismatches {
            do throws(FstabEdit.Error) {
                bytes = try FstabEdit.replacing(.type, with: detected, line: entry.line, in: bytes)
            } catch {
                throw refuse("\(error)")
            }
        }
        return [survey.write(bytes)]
    }
}

/// `fstab-invalid-entry`, second choice: a copy of fstab that a person or an editor left
/// beside it, when that copy is itself sound — libmount parses every line, every source
/// the boot waits for resolves, every type matches — and keeps the `/` line. The newest
/// such copy wins.
struct FstabRestoreBackupStrategy: PlanFirstStrategy {
    /// Where backups of fstab are left: editors (`~`, `.bak`, `.orig`, `.save` of nano),
    /// by hand (`.old`, `.backup`), shadow-style (`-`), dpkg/ucf conffile handling.
    static let backups = ["/etc/fstab~", "/etc/fstab.bak", "/etc/fstab.orig", "/etc/fstab.old", "/etc/fstab.save",
                          "/etc/fstab.backup", "/etc/fstab-", "/etc/fstab.dpkg-old", "/etc/fstab.ucf-old"]

    let descriptor = StrategyDescriptor(
        id: "fstab-restore-backup",
        title: "Restore the newest sound backup of fstab",
        classes: [.fstabInvalidEntry],
        risk: 4,
        sideEffects: "every change made to fstab after the backup is undone, good ones included",
        priorEffectiveness: 0.75,
        estimatedSeconds: 5)

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let survey = try FstabSurvey.load(context, strategy: descriptor.id)
        let hasRootLine = survey.fstab.entries.contains { $0.target == "/" }
        var rejected: [String] = []
        var sound: [(path: String, bytes: [UInt8], modified: Int)] = []
        for path in Self.backups {
            guard let st = context.root.files.statusIfPresent(path, followLast: true) else { continue }
            guard (st.st_mode & S_IFMT) == S_IFREG else { rejected.append("\(path) is not a file"); continue }
            if let problem = Self.problem(ofBackup: path, context: context, devices: survey.devices, needsRoot: hasRootLine) {
                rejected.append(problem)
                continue
            }
            guard let bytes = try? context.root.files.read(path, limit: 16 << 20), bytes != survey.bytes else {
                rejected.append("\(path) is the same as /etc/fstab")
                continue
            }
            sound.append((path, bytes, Int(st.st_mtim.tv_sec)))
        }
        guard let newest = sound.max(by: { $0.modified < $1.modified }) else {
            throw refuse(rejected.isEmpty ? "no backup of /etc/fstab (\(Self.backups.joined(separator: ", ")))"
                         : "no usable backup of /etc/fstab: " + rejected.joined(separator: "; "))
        }
        context.logger.info("fstab backup chosen", metadata: ["path": "\(newest.path)"])
        return [survey.write(newest.bytes)]
    }

    /// Why the backup at `path` is not a sound fstab, or nil when it is.
    static func problem(ofBackup path: String, context: RepairContext, devices: BlockDevices, needsRoot: Bool) -> String? {
        let backup: Fstab
        do throws(Fstab.Error) {
            backup = try Fstab.load(root: context.root, path: path)
        } catch {
            return "\(error)"
        }
        if let bad = backup.invalidLines.first { return "\(path) line \(bad.line): \(bad.reason)" }
        if needsRoot, !backup.entries.contains(where: { $0.target == "/" }) { return "\(path) has no line for /" }
        let detector = FstabDetector(path: path)
        for entry in backup.entries {
            if let finding = detector.check(entry, devices: devices, root: context.root).first {
                return finding.summary
            }
        }
        return nil
    }
}
