import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Exhaustion strategies on real, small ext4 filesystems, loop-mounted and filled with the
/// cached root's real .debs (blocks) or many small crash dumps (inodes). The plan runs in
/// an OverlayEnvironment over the mountpoint, whose statvfs says nothing about the
/// examined filesystem; the strategy's projection must, and applying the changeset's
/// removals to the mounted filesystem for real must make the detector clean.
@Suite("ResourceStrategies", .serialized, .timeLimit(.minutes(10)))
struct ResourceStrategyTests {
    /// A mounted ext4 image with a clone over it.
    final class FullDisk {
        let directory: TemporaryDirectory
        let mount: ScenarioMount
        var root: SystemRoot { get throws { try SystemRoot(mount.path) } }

        init(megabytes: Int, _ mkfs: [String] = []) throws {
            directory = try TemporaryDirectory(prefix: "resources")
            let image = try ScenarioDisk.ext4(in: directory, "disk.img", megabytes: megabytes, mkfs)
            mount = try ScenarioMount(image: image, at: directory.path + "/mnt")
        }

        func at(_ absolute: String) -> String { mount.path + absolute }

        func usage() throws -> ResourceUsageDetector.Usage {
            try ResourceUsageDetector.usage(ofHostPath: mount.path)
        }

        func findings() throws -> [Finding] {
            try ResourceUsageDetector().detect(DetectionContext(root: root))
        }

        /// Copies the cached root's .debs into `folder` (largest first, skipping what does
        /// not fit) until df says at least `percent` %.
        func fill(_ folder: String, withDebsUntil percent: Int) throws -> [String] {
            try FileManager.default.createDirectory(atPath: at(folder), withIntermediateDirectories: true)
            let archives = TestRoot.root + "/var/cache/apt/archives"
            let debs = try FileManager.default.contentsOfDirectory(atPath: archives).filter { $0.hasSuffix(".deb") }
                .map { (name: $0, size: (try? FileManager.default.attributesOfItem(atPath: archives + "/" + $0)[.size] as? Int) ?? 0) }
                .sorted { $0.size > $1.size }
            var copied: [String] = []
            for deb in debs {
                let usage = try usage()
                if (usage.blockPercent ?? 0) >= percent { break }
                guard UInt64(deb.size) + 64 * 1024 < usage.availableBlocks * usage.blockSize else { continue }
                try ScenarioDisk.run("cp", [archives + "/" + deb.name, at(folder + "/" + deb.name)])
                copied.append(folder + "/" + deb.name)
            }
            #expect((try usage().blockPercent ?? 0) >= percent, "the .debs did not fill the image")
            return copied
        }

        /// Plans `strategy` for `finding` in a clone over the mountpoint, executes it and
        /// returns the operations, the changeset and the projected usage.
        func tryInClone(_ strategy: some RepairStrategy, _ finding: Finding,
                        projection: (RepairContext) throws -> ResourceProjection.Usage) throws
            -> (operations: [RepairOperation], changes: Changeset, projected: ResourceProjection.Usage) {
            let scratch = try TemporaryDirectory(prefix: "resources-env")
            let environment = try OverlayEnvironment(lower: try root, scratch: scratch.path + "/env")
            defer { environment.tearDown() }
            let context = RepairContext(root: environment.root, finding: finding)
            #expect(strategy.unmetPrecondition(context) == nil)
            let operations = try strategy.plan(context)
            let projected = try projection(context)
            let snapshot = try environment.snapshot()
            let outcomes = environment.execute(operations)
            let failed = outcomes.filter { !$0.succeeded }
            #expect(failed.isEmpty, "\(failed)")
            let changes = try environment.changes(since: snapshot)
            #expect(changes.undeclared(by: operations, canonical: environment.root.canonical).isEmpty)
            return (operations, changes, projected)
        }

        /// Applies the changeset's removals to the mounted filesystem, as apply would.
        func applyRemovals(_ changes: Changeset) throws {
            for path in changes.paths.reversed() where changes.changes[path] == .removed {
                try ScenarioDisk.run("rm", ["-rf", at(path)])
            }
            // ext4 gives freed blocks back when the journal commits.
            try ScenarioDisk.run("sync", ["-f", mount.path])
        }

        /// The usage once the removals have settled. An unlinked inode is freed at its last
        /// reference, and the kernel's writeback thread may still hold one after `rm` and
        /// `sync` return (seen once in CI: one inode more than projected); a remount drops
        /// every reference, so what statvfs says afterwards is final.
        func settledUsage() throws -> ResourceUsageDetector.Usage {
            try mount.remount()
            return try usage()
        }
    }

    @Test func theCleanedPackageCacheBringsTheDiskBelowTheThreshold() throws {
        let disk = try FullDisk(megabytes: 32)
        let debs = try disk.fill("/var/cache/apt/archives", withDebsUntil: 96)
        try FileManager.default.createDirectory(atPath: disk.at("/var/cache/apt/archives/partial"), withIntermediateDirectories: true)
        // The largest .deb also linked elsewhere: removing it from the cache frees nothing,
        // and a projection that counted it would miss df by megabytes.
        let linked = try #require(debs.first)
        try FileManager.default.createDirectory(atPath: disk.at("/srv"), withIntermediateDirectories: true)
        try ScenarioDisk.run("ln", [disk.at(linked), disk.at("/srv/kept.deb")])

        let finding = try #require(try disk.findings().first { $0.failureClass == .diskSpaceExhausted })
        let strategy = ResourcePackageCacheStrategy()
        let tried = try disk.tryInClone(strategy, finding) { try strategy.projectedUsage($0) }
        #expect(Set(tried.operations) == Set(debs.map { RepairOperation.removeFile(path: $0) }))
        #expect(Set(tried.changes.modifiedPaths) == Set(debs))
        #expect(tried.changes.modifiedPaths.allSatisfy { tried.changes.changes[$0] == .removed })
        #expect((tried.projected.blockPercent ?? 100) < 95)

        // The other strategies have nothing to remove on this filesystem.
        let context = RepairContext(root: try disk.root, finding: finding)
        #expect(ResourceCrashDumpStrategy().unmetPrecondition(context) == "no crash dump in /var/crash or /var/lib/systemd/coredump")
        #expect(ResourceJournalVacuumStrategy().unmetPrecondition(context) == "no archived journal file in /var/log/journal")
        #expect(ResourceOldKernelsStrategy().unmetPrecondition(context) != nil)

        // The configured threshold decides: below what the cleanup reaches, it refuses.
        var strict = RepairContext(root: try disk.root, finding: finding)
        strict.thresholds.resourceExhaustionPercent = Double(max(1, (tried.projected.blockPercent ?? 100) - 1))
        #expect(strategy.unmetPrecondition(strict)?.contains("would still be") == true, "\(String(describing: strategy.unmetPrecondition(strict)))")

        try disk.applyRemovals(tried.changes)
        #expect(try disk.findings().isEmpty)
        // The projection is what the filesystem reports after the removals, within a few
        // KiB of directory blocks ext4 may rearrange.
        let after = try disk.usage()
        let usedKiB = after.usedBlocks * after.blockSize / 1024
        #expect(usedKiB <= tried.projected.usedKiB + 64 && tried.projected.usedKiB <= usedKiB + 64,
                "projected \(tried.projected.usedKiB) KiB used, df says \(usedKiB)")
        #expect(FileManager.default.fileExists(atPath: disk.at("/srv/kept.deb")))
    }

    @Test func aCacheTooSmallToHelpIsRefused() throws {
        let disk = try FullDisk(megabytes: 32)
        // Most of the disk is data that is not the strategy's to remove.
        try FileManager.default.createDirectory(atPath: disk.at("/srv"), withIntermediateDirectories: true)
        let usage = try disk.usage()
        let total = (usage.usedBlocks + usage.availableBlocks) * usage.blockSize
        let data = Int64(total * 96 / 100) - Int64(usage.usedBlocks * usage.blockSize)
        try ScenarioDisk.run("fallocate", ["-l", "\(data)", disk.at("/srv/data")])
        let small = try FileManager.default.contentsOfDirectory(atPath: TestRoot.root + "/var/cache/apt/archives")
            .filter { $0.hasSuffix(".deb") }.sorted().first
        let deb = try #require(small)
        try FileManager.default.createDirectory(atPath: disk.at("/var/cache/apt/archives"), withIntermediateDirectories: true)
        try ScenarioDisk.run("cp", [TestRoot.root + "/var/cache/apt/archives/" + deb, disk.at("/var/cache/apt/archives/" + deb)])

        let finding = try #require(try disk.findings().first { $0.failureClass == .diskSpaceExhausted })
        let context = RepairContext(root: try disk.root, finding: finding)
        let reason = try #require(ResourcePackageCacheStrategy().unmetPrecondition(context))
        #expect(reason.hasPrefix("removing 1 item(s) frees "), "\(reason)")
        #expect(reason.contains("it would still be 9"), "\(reason)")
        #expect(throws: PlanError.self) { try ResourcePackageCacheStrategy().plan(context) }
    }

    @Test func removedCrashDumpsFreeTheInodes() throws {
        // Few inodes: small files exhaust them long before the blocks.
        let disk = try FullDisk(megabytes: 16, ["-N", "256"])
        try FileManager.default.createDirectory(atPath: disk.at("/var/crash/app"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: disk.at("/var/lib/systemd/coredump"), withIntermediateDirectories: true)
        let dump = try Data(contentsOf: URL(fileURLWithPath: TestRoot.root + "/etc/passwd"))
        var index = 0
        while (try disk.usage().inodePercent ?? 0) < 97 {
            let folder = ["/var/crash", "/var/crash/app", "/var/lib/systemd/coredump"][index % 3]
            try dump.write(to: URL(fileURLWithPath: disk.at("\(folder)/core.\(index)")))
            index += 1
        }
        let finding = try #require(try disk.findings().first { $0.failureClass == .inodeExhausted })
        #expect(ResourcePackageCacheStrategy().unmetPrecondition(RepairContext(root: try disk.root, finding: finding))
                == "no .deb in the package cache")

        let strategy = ResourceCrashDumpStrategy()
        let tried = try disk.tryInClone(strategy, finding) { try strategy.projectedUsage($0) }
        #expect(tried.operations.count == index + 1)  // every dump and the app folder
        #expect(tried.operations.contains(.removeFile(path: "/var/crash/app")))
        #expect((tried.projected.inodePercent ?? 100) < 95)
        #expect(tried.changes.modifiedPaths.allSatisfy {
            $0.hasPrefix("/var/crash/") || $0.hasPrefix("/var/lib/systemd/coredump/")
        })

        try disk.applyRemovals(tried.changes)
        #expect(try disk.findings().isEmpty)
        let after = try disk.settledUsage()
        #expect(after.usedInodes == tried.projected.usedInodes)
        // The folders the dumps live in stay.
        #expect(FileManager.default.fileExists(atPath: disk.at("/var/crash")))
        #expect(FileManager.default.fileExists(atPath: disk.at("/var/lib/systemd/coredump")))
    }

    @Test func theOldestArchivedJournalsGoFirst() throws {
        if !FileManager.default.fileExists(atPath: TestRoot.repository + "/.cache/journal-fixture/done") {
            try ScenarioDisk.run(TestRoot.repository + "/scripts/make-journal-fixture", [])
        }
        let fixture = TestRoot.repository + "/.cache/journal-fixture/journal"
        let journal = try #require(FileManager.default.subpaths(atPath: fixture)?.first { $0.hasSuffix(".journal") })
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture + "/" + journal))
        let disk = try FullDisk(megabytes: 96)
        let folder = "/var/log/journal/0123456789abcdef0123456789abcdef"
        try FileManager.default.createDirectory(atPath: disk.at(folder), withIntermediateDirectories: true)
        try bytes.write(to: URL(fileURLWithPath: disk.at(folder + "/system.journal")))
        // Eight archived copies of the real journal (8 MiB each), as journald names them on
        // rotation, each older than the next; other data tops the disk up to 96 %.
        var archived: [String] = []
        for index in 0..<8 {
            let path = folder + "/system@0123456789abcdef0123456789abcdef-\(String(format: "%016x", index))-\(String(format: "%016x", index)).journal"
            try bytes.write(to: URL(fileURLWithPath: disk.at(path)))
            try ScenarioDisk.run("touch", ["-d", "@\(1_700_000_000 + index * 3600)", disk.at(path)])
            archived.append(path)
        }
        let usage = try disk.usage()
        let total = (usage.usedBlocks + usage.availableBlocks) * usage.blockSize
        let data = Int64(total * 96 / 100) - Int64(usage.usedBlocks * usage.blockSize)
        try FileManager.default.createDirectory(atPath: disk.at("/srv"), withIntermediateDirectories: true)
        try ScenarioDisk.run("fallocate", ["-l", "\(data)", disk.at("/srv/data")])
        let filled = try disk.usage()
        let finding = try #require(try disk.findings().first { $0.failureClass == .diskSpaceExhausted },
                                   "the journals did not fill the image: \(filled)")
        let strategy = ResourceJournalVacuumStrategy()
        let tried = try disk.tryInClone(strategy, finding) { try strategy.projectedUsage($0) }
        let removed = tried.operations.map { operation -> String in
            if case .removeFile(let path) = operation { return path }
            return ""
        }
        // Oldest first, and only as many as bring the disk 5 points under the threshold.
        #expect(removed == Array(archived.prefix(removed.count)))
        #expect(removed.count < archived.count)
        #expect(!removed.contains(folder + "/system.journal"))
        #expect((tried.projected.blockPercent ?? 100) < 91)

        try disk.applyRemovals(tried.changes)
        #expect(try disk.findings().isEmpty)
        #expect(FileManager.default.fileExists(atPath: disk.at(folder + "/system.journal")))
    }

    @Test func kernelsBeyondTheNewestTwoAreRemovedAndTheBootChainStays() throws {
        let current = "6.1.0-50-cloud-amd64"
        let older = ["6.1.0-40-cloud-amd64", "6.1.0-30-cloud-amd64"]
        let repair = try KernelRepairCase { copy in
            for version in older {
                for prefix in ["vmlinuz-", "initrd.img-", "System.map-", "config-"] {
                    try ScenarioDisk.run("cp", ["-a", copy.at("/boot/" + prefix + current), copy.at("/boot/" + prefix + version)])
                }
                try ScenarioDisk.run("cp", ["-a", copy.at("/usr/lib/modules/" + current), copy.at("/usr/lib/modules/" + version)])
            }
        }
        // The copy is not full: the finding is the detector's real measurement of its
        // filesystem, reported with a threshold of 0, and the strategy's threshold is 100.
        var detection = repair.detection
        detection.thresholds.resourceExhaustionPercent = 0
        let finding = try #require(try ResourceUsageDetector().detect(detection).first { $0.failureClass == .diskSpaceExhausted })

        let strategy = ResourceOldKernelsStrategy(threshold: 100)
        let projected = try strategy.projectedUsage(repair.context(finding))
        let measured = try #require(ResourceProjection.usage(fromEvidence: finding.evidence[0].detail)).0
        // /boot is not a filesystem of its own here: the kernel files count with the modules.
        #expect(projected.usedKiB < measured.usedKiB)
        let outcome = try repair.repair(strategy, finding)
        let removed = Set(outcome.operations.compactMap { operation -> String? in
            if case .removeFile(let path) = operation { return path }
            return nil
        })
        #expect(removed.contains("/boot/vmlinuz-6.1.0-30-cloud-amd64"))
        #expect(removed.contains("/usr/lib/modules/6.1.0-30-cloud-amd64"))
        #expect(!removed.contains { $0.contains("6.1.0-40") || $0.contains(current) })
        #expect(outcome.verdict("changes-declared") == .passed)
        #expect(outcome.verdict("core-boot-chain") == .passed)
        #expect(outcome.verdict("no-regressions") == .passed)
        #expect(Set(outcome.changes.modifiedPaths).isSubset(of: removed))
    }
}
