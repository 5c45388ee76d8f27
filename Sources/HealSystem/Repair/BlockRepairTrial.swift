import Glibc
import HealCore
import Logging

/// Tries a block-level operation (`RepairOperation.checkFilesystem`) where a file-level
/// clone cannot: on a copy-on-write snapshot of the device (`BlockSnapshot`). The device
/// itself is only read.
///
/// 1. `e2fsck -fn` on the device: the state before, recorded in the package;
/// 2. the files readable on the device are hashed, boot chain first (read from the snapshot
///    mounted `ro,noload,loop` before any repair, so the device is never mounted);
/// 3. `e2fsck -fy` on the snapshot: 0 or 1 repaired, 2 repaired but a reboot is needed,
///    4 and above failed;
/// 4. validation: `e2fsck -fn` on the snapshot exits 0, the filesystem-errors detector finds
///    nothing on it, the validator's checks on the clone with the snapshot in place of the
///    device, and every file hashed in step 2 is still there with the same bytes on the
///    repaired snapshot (mounted `ro,noload,loop`) — one that e2fsck moved to lost+found
///    is named so.
struct BlockRepairTrial {
    var validator: Validator
    /// Where the snapshot's folder and the mount points are made.
    var scratch: String
    var logger: Logger

    /// At most this many files and bytes are hashed on each side; the boot chain always is.
    static let fileBudget = 20_000
    static let byteBudget: Int64 = 1 << 30

    /// Paths of the boot chain, as they lie on a root filesystem and on a separate /boot.
    static let bootChain = [
        "/etc/fstab", "/etc/passwd", "/etc/shadow", "/etc/group", "/etc/default/grub", "/sbin/init",
        "/lib/systemd/systemd", "/usr/lib/systemd/systemd", "/boot/grub/grub.cfg", "/boot/grub/grubenv",
        "/grub/grub.cfg", "/grub/grubenv",
    ]

    struct Outcome {
        var notes: [String]
        var validation: ValidationReport?
        var record: FilesystemRepair?
    }

    /// - Parameter boot: in an environment that boots what it validates, boots the repaired
    ///   snapshot (its path given) and returns the `boot` and `stability` checks; called only
    ///   once every static check passed, while the snapshot still exists.
    func run(device: String, uuid: String, fsType: String, finding: Finding, context: DetectionContext,
             baseline: DetectionReport, operations: [RepairOperation],
             boot: ((String) -> [ValidationReport.Check])? = nil) -> Outcome {
        let runner = context.runner
        let before: CommandResult
        do {
            before = try runner.run("e2fsck", ["-fn", device])
        } catch {
            return Outcome(notes: ["\(error)"])
        }
        // Owned by this process (ScratchFolder): the snapshot, its daemon and the mounts in
        // it are undone on SIGTERM, or by the next run if this one is killed outright.
        let owned: ScratchFolder
        do {
            owned = try ScratchFolder(claiming: scratch + "/block-\(getpid())-\(Self.nextTrial())")
        } catch {
            return Outcome(notes: ["\(error)"])
        }
        defer { owned.release() }
        let folder = owned.path
        let snapshot: BlockSnapshot
        do {
            snapshot = try BlockSnapshot(base: device, directory: folder + "/snapshot", runner: runner)
        } catch {
            return Outcome(notes: ["\(error)"])
        }
        defer { snapshot.close() }
        logger.info("block snapshot ready", metadata: ["device": "\(device)", "snapshot": "\(snapshot.path)"])

        // The files before the repair are read from the snapshot, still identical to the
        // device, never from the device itself: ext4 records an error it meets (a cleared
        // inode) in the superblock even on a read-only mount when the block device below is
        // writable. ReadOnlyDisk attaches a read-only loop device for that reason; reading
        // the snapshot keeps the device out of reach even so.
        let baseFiles: [String: String]
        do {
            let disk = try ReadOnlyDisk(image: snapshot.path, scratch: folder + "/before", runner: runner)
            defer { disk.release() }
            baseFiles = Self.hashFiles(disk.root.path)
        } catch {
            return Outcome(notes: ["cannot read the files of \(device) before the repair: \(error)"])
        }

        let repair: CommandResult
        do {
            repair = try runner.run("e2fsck", ["-fy", snapshot.path])
        } catch {
            return Outcome(notes: ["\(error)"])
        }
        let outcome = FilesystemRepair.Outcome(status: repair.status)
        let repairNote = "e2fsck -fy on the snapshot exited \(repair.status)"
        guard outcome.succeeded else {
            return Outcome(notes: [repairNote + ": " + FilesystemRepair.tail(repair.output + repair.errorOutput, lines: 5)])
        }
        let record = FilesystemRepair(
            device: device, uuid: uuid, fsType: fsType, size: snapshot.size,
            checkStatus: before.status, checkOutput: FilesystemRepair.tail(before.output + before.errorOutput),
            repairStatus: repair.status, repairOutput: FilesystemRepair.tail(repair.output + repair.errorOutput))

        var checks: [ValidationReport.Check] = []
        let after = (try? runner.run("e2fsck", ["-fn", snapshot.path]))
        checks.append(.init(
            name: "filesystem-check",
            verdict: after?.status == 0 ? .passed : .failed,
            detail: after?.status == 0 ? "\(repairNote); e2fsck -fn on the repaired snapshot exits 0"
                : "\(repairNote); e2fsck -fn on the repaired snapshot exits \(after.map { String($0.status) } ?? "-"): "
                    + FilesystemRepair.tail((after?.output ?? "") + (after?.errorOutput ?? ""), lines: 5)))

        let repairedFiles: [String: String]
        let lostAndFound: [String]
        do {
            let disk = try ReadOnlyDisk(image: snapshot.path, scratch: folder + "/repaired", runner: runner)
            defer { disk.release() }
            repairedFiles = Self.hashFiles(disk.root.path, only: Set(baseFiles.keys))
            lostAndFound = Self.lostAndFound(disk.root.path)
        } catch {
            return Outcome(notes: ["cannot read the repaired snapshot: \(error)"] + checks.map(\.note))
        }
        checks.append(Self.criticalFiles(before: baseFiles, after: repairedFiles, lostAndFound: lostAndFound))

        // The validator's checks on the clone, with the snapshot standing in for the device.
        var repaired = context
        repaired.extraDevices = context.extraDevices.filter { $0 != device } + [snapshot.path]
        var fileValidator = validator
        fileValidator.canBoot = boot != nil
        var report = fileValidator.validate(repairing: finding.failureClass, context: repaired, baseline: baseline,
                                            operations: operations, changes: Changeset())
        let stillBroken = (try? FilesystemErrorsDetector().detect(
            DetectionContext(root: context.root, extraDevices: [snapshot.path], runner: runner, logger: context.logger)))?
            .filter { FilesystemCheckStrategy.device(of: $0) == snapshot.path }
        report.checks = report.checks.map { check in
            switch check.name {
            case "resolved":
                // The validator also sees the unrepaired device when fstab reaches it; only the
                // snapshot's own finding counts.
                guard let stillBroken else {
                    return .init(name: check.name, verdict: .failed, detail: "the filesystem detector could not check the snapshot")
                }
                return .init(name: check.name, verdict: stillBroken.isEmpty ? .passed : .failed,
                             detail: stillBroken.isEmpty ? "filesystem-errors no longer detected on the repaired snapshot of \(device)"
                                : "still detected: " + stillBroken.map(\.summary).joined(separator: "; "))
            case "changes-declared":
                return .init(name: check.name, verdict: .passed,
                             detail: "block level: no file of the clone changed; only \(device) changes, through e2fsck")
            default:
                return check
            }
        }
        report.checks.insert(contentsOf: checks, at: 1)
        if let boot {
            // Only a snapshot that passed every static check is worth a boot.
            report.checks += report.passed ? boot(snapshot.path) : [
                .init(name: "boot", verdict: .notRun, detail: "not booted: a static check failed"),
                .init(name: "stability", verdict: .notRun, detail: "not booted: a static check failed"),
            ]
        }
        return Outcome(notes: [], validation: report, record: record)
    }

    /// `critical-files`: every file hashed on the device is there with the same bytes.
    static func criticalFiles(before: [String: String], after: [String: String],
                              lostAndFound: [String]) -> ValidationReport.Check {
        let missing = before.keys.filter { after[$0] == nil }.sorted()
        let changed = before.keys.filter { after[$0] != nil && after[$0] != before[$0] }.sorted()
        let boot = bootChain.filter { before[$0] != nil }.count
        guard missing.isEmpty && changed.isEmpty else {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("gone: " + missing.prefix(10).joined(separator: ", ")) }
            if !changed.isEmpty { parts.append("changed: " + changed.prefix(10).joined(separator: ", ")) }
            if !lostAndFound.isEmpty {
                parts.append("lost+found now holds \(lostAndFound.count) entries (\(lostAndFound.prefix(5).joined(separator: ", ")))")
            }
            return .init(name: "critical-files", verdict: .failed, detail: parts.joined(separator: "; "))
        }
        return .init(name: "critical-files", verdict: .passed,
                     detail: "\(before.count) files readable before (\(boot) of the boot chain) have the same bytes after"
                        + (lostAndFound.isEmpty ? "" : "; lost+found holds \(lostAndFound.count) entries, none of them a file read before"))
    }

    /// SHA-256 of the regular files under `mount` that can be read, keyed by path inside the
    /// filesystem: the boot chain first, then a walk in name order within the budget. A file
    /// that cannot be read (a cleared inode) is left out: only what was readable counts.
    static func hashFiles(_ mount: String, only: Set<String>? = nil) -> [String: String] {
        var hashes: [String: String] = [:]
        var bytes: Int64 = 0
        // The filesystem is the examined one, so its links are followed inside it only.
        guard let files = try? ConfinedDirectory(mount) else { return [:] }
        func add(_ path: String) {
            guard hashes[path] == nil, only?.contains(path) ?? true,
                  let st = files.statusIfPresent(path), (st.st_mode & S_IFMT) == S_IFREG,
                  let digest = try? StreamingSHA256.digest(of: files.open(path, limit: .max, links: .refuse)) else { return }
            hashes[path] = digest
            bytes += Int64(st.st_size)
        }
        for path in bootChain { add(path) }
        for kernelFolder in ["/boot", ""] {
            for name in files.entriesIfPresent(kernelFolder.isEmpty ? "/" : kernelFolder)
            where name.hasPrefix("vmlinuz-") || name.hasPrefix("initrd.img-") {
                add(kernelFolder + "/" + name)
            }
        }
        var stack = [""]
        walk: while let folder = stack.popLast() {
            for name in files.entriesIfPresent(folder.isEmpty ? "/" : folder).reversed() {
                let path = folder + "/" + name
                if path == "/lost+found" { continue }
                guard let st = files.statusIfPresent(path, links: .refuse) else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    stack.append(path)
                } else if only != nil || (hashes.count < fileBudget && bytes + Int64(st.st_size) <= byteBudget) {
                    add(path)
                } else {
                    break walk
                }
            }
        }
        return hashes
    }

    /// The names in the filesystem's lost+found.
    static func lostAndFound(_ mount: String) -> [String] {
        ((try? ConfinedDirectory(mount))?.entriesIfPresent("/lost+found")) ?? []
    }

    nonisolated(unsafe) private static var trials = 0
    private static func nextTrial() -> Int {
        trials += 1
        return trials
    }
}

extension ValidationReport.Check {
    fileprivate var note: String { "\(name): \(verdict.rawValue): \(detail)" }
}
