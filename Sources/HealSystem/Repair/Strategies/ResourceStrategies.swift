import Glibc
import HealCore

extension StrategyCatalogue {
    /// `disk-space-exhausted` / `inode-exhausted` (docs/failure-catalogue.md).
    public static var resources: [any RepairStrategy] {
        [ResourcePackageCacheStrategy(), ResourceJournalVacuumStrategy(), ResourceCrashDumpStrategy(),
         ResourceOldKernelsStrategy()]
    }
}

/// The planning the exhaustion strategies share: which filesystem the finding is about,
/// what removing candidate paths frees there, and whether that brings it below the
/// threshold.
///
/// The clone cannot be asked (statvfs of an overlay reports its scratch filesystem), so
/// the examined filesystem's usage is the one the detector measured on the real root,
/// carried in the finding's evidence, and the plan subtracts what its removals free
/// (`ResourceProjection`). A plan whose projection is still at or above the threshold is
/// refused rather than tried.
public struct ResourceCleanup {
    /// Paths removed together (a kernel's files, one cache file), children before parents.
    struct Group {
        var name: String
        var paths: [String]
    }

    /// The filesystem a finding is about and its usage when detected.
    struct Target {
        var place: String
        var usage: ResourceProjection.Usage
        var measure: ResourceProjection.Measure
        var mountPoints: [String]
    }

    /// A computed plan: what is removed, what it frees, and the usage it leaves.
    public struct Plan {
        var target: Target
        var groups: [Group]
        var freed: ResourceProjection.Freed
        var projected: ResourceProjection.Usage
        var operations: [RepairOperation] { groups.flatMap(\.paths).map { .removeFile(path: $0) } }
    }

    let strategy: String
    let threshold: Double

    func fail(_ reason: String) -> PlanError { PlanError(strategy: strategy, reason: reason) }

    /// The finding's filesystem (`statvfs /` or `statvfs /boot` in its evidence) and the
    /// usage the detector read there.
    func target(_ context: RepairContext) throws(PlanError) -> Target {
        let wanted: ResourceProjection.Measure = context.finding.failureClass == .inodeExhausted ? .inodes : .blocks
        for evidence in context.finding.evidence where evidence.source.hasPrefix("statvfs ") {
            guard let (usage, measure) = ResourceProjection.usage(fromEvidence: evidence.detail), measure == wanted else { continue }
            let place = String(evidence.source.dropFirst("statvfs ".count))
            let fstab = (try? context.root.files.text("/etc/fstab")) ?? ""
            return Target(place: place, usage: usage, measure: measure,
                          mountPoints: ResourceProjection.mountPoints(fstab: fstab))
        }
        throw fail("the finding records no \(wanted.rawValue) usage of the examined filesystem")
    }

    /// What removing `paths` in the clone frees on the target's filesystem, read with
    /// lstat in the clone (a path that is gone or on another filesystem frees nothing).
    static func removals(_ paths: [String], root: SystemRoot, target: Target) -> [ResourceProjection.Removal] {
        paths.compactMap { path in
            guard ResourceProjection.path(root.canonical(path), isOn: target.place, mountPoints: target.mountPoints),
                  let st = root.files.statusIfPresent(path) else { return nil }
            return ResourceProjection.Removal(
                path: path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), links: UInt64(st.st_nlink),
                allocatedBytes: UInt64(st.st_blocks) * 512, isDirectory: (st.st_mode & S_IFMT) == S_IFDIR)
        }
    }

    /// Removes `groups` in order — all of them, or with `stopBelow` only until the
    /// projection is `stopBelow` points under the threshold — and refuses when the result
    /// would still be exhausted.
    /// - Parameter what: names the candidates in a refusal ("no .deb in the package cache").
    func plan(_ context: RepairContext, groups: [Group], nothing what: String, stopBelow: Double? = nil) throws(PlanError) -> Plan {
        let target = try target(context)
        guard !groups.isEmpty else { throw fail(what) }
        var chosen: [Group] = []
        var removals: [ResourceProjection.Removal] = []
        var freed = ResourceProjection.Freed()
        var projected = target.usage
        for group in groups {
            chosen.append(group)
            removals += Self.removals(group.paths, root: context.root, target: target)
            freed = ResourceProjection.freed(by: removals)
            projected = ResourceProjection.project(target.usage, freeing: freed)
            if let stopBelow, ResourceProjection.isBelow(projected, target.measure, threshold: threshold - stopBelow) { break }
        }
        guard ResourceProjection.isBelow(projected, target.measure, threshold: threshold) else {
            let percent = ResourceProjection.percent(projected, target.measure).map { "\($0)%" } ?? "?"
            throw fail("removing \(chosen.count) item(s) frees \(freed.kib) KiB and \(freed.inodes) inodes on \(target.place): "
                       + "it would still be \(percent) \(target.measure == .blocks ? "full" : "of inodes used") (threshold \(Int(threshold))%)")
        }
        return Plan(target: target, groups: chosen, freed: freed, projected: projected)
    }

    /// `path` and everything under it, children before their folder (a link is not
    /// followed); empty when it does not exist.
    static func tree(_ path: String, root: SystemRoot) -> [String] {
        guard let st = root.files.statusIfPresent(path) else { return [] }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return [path] }
        return root.files.entriesIfPresent(path).flatMap { tree(path + "/" + $0, root: root) } + [path]
    }

    /// The entries of folder `path` (not the folder itself), each with what is under it.
    static func contents(_ path: String, root: SystemRoot) -> [Group] {
        root.files.entriesIfPresent(path).map { name in
            Group(name: path + "/" + name, paths: tree(path + "/" + name, root: root))
        }
    }
}

/// A strategy built on `ResourceCleanup`: refuses when nothing is removable or the
/// removals would not bring the filesystem below the threshold.
public protocol ResourceCleanupStrategy: RepairStrategy {
    /// A fixed threshold, or nil for the configured one (`RepairContext.thresholds`).
    var threshold: Double? { get }
    func cleanupPlan(_ context: RepairContext) throws(PlanError) -> ResourceCleanup.Plan
}

extension ResourceCleanupStrategy {
    public func unmetPrecondition(_ context: RepairContext) -> String? { refusal(context) }
    public func plan(_ context: RepairContext) throws -> [RepairOperation] { try cleanupPlan(context).operations }

    /// The examined filesystem's usage after the removals, projected from the finding's
    /// measurement: what `plan` checks against the threshold.
    public func projectedUsage(_ context: RepairContext) throws(PlanError) -> ResourceProjection.Usage {
        try cleanupPlan(context).projected
    }

    func cleanup(_ context: RepairContext) -> ResourceCleanup {
        ResourceCleanup(strategy: descriptor.id, threshold: threshold ?? context.thresholds.resourceExhaustionPercent)
    }

    /// Why the cleanup cannot be planned, or nil.
    func refusal(_ context: RepairContext) -> String? {
        do {
            _ = try cleanupPlan(context)
            return nil
        } catch {
            return error.reason
        }
    }
}

/// Removes the downloaded packages apt keeps: the .debs of /var/cache/apt/archives and
/// what is in partial/ (what `apt-get clean` removes there).
public struct ResourcePackageCacheStrategy: ResourceCleanupStrategy {
    public let descriptor = StrategyDescriptor(
        id: "resources-clean-package-cache",
        title: "Remove the downloaded packages in apt's cache",
        classes: [.diskSpaceExhausted, .inodeExhausted],
        risk: 1,
        sideEffects: "the cached .debs are gone: the restores of packaged files (init, system-file and unit strategies) read them from this cache, so a later restore needs them downloaded again; apt downloads again what it installs next",
        priorEffectiveness: 0.8,
        estimatedSeconds: 5)

    public let threshold: Double?

    public init(threshold: Double? = nil) {
        self.threshold = threshold
    }

    public func cleanupPlan(_ context: RepairContext) throws(PlanError) -> ResourceCleanup.Plan {
        let root = context.root
        let archives = "/var/cache/apt/archives"
        let debs = root.files.entriesIfPresent(archives).filter { name in
            name.hasSuffix(".deb") && root.files.statusIfPresent(archives + "/" + name).map { ($0.st_mode & S_IFMT) == S_IFREG } == true
        }.map { ResourceCleanup.Group(name: archives + "/" + $0, paths: [archives + "/" + $0]) }
        let partial = ResourceCleanup.contents(archives + "/partial", root: root)
        return try cleanup(context).plan(context, groups: debs + partial, nothing: "no .deb in the package cache")
    }
}

/// Removes archived journal files (`NAME@….journal`, `NAME@….journal~`) of
/// /var/log/journal, oldest first, until the filesystem is 5 points under the threshold:
/// what `journalctl --vacuum-size` does, with the files it removes named in advance. The
/// journals being written stay.
public struct ResourceJournalVacuumStrategy: ResourceCleanupStrategy {
    public let descriptor = StrategyDescriptor(
        id: "resources-vacuum-journal",
        title: "Remove the oldest archived journal files",
        classes: [.diskSpaceExhausted, .inodeExhausted],
        risk: 2,
        sideEffects: "the logs of the oldest boots are lost, with the evidence they held of past failures; the active journal files stay",
        priorEffectiveness: 0.6,
        estimatedSeconds: 5)

    public let threshold: Double?

    public init(threshold: Double? = nil) {
        self.threshold = threshold
    }

    /// Archived journal files, oldest (by modification time) first.
    static func archived(_ root: SystemRoot) -> [String] {
        let base = "/var/log/journal"
        var files: [(path: String, modified: Int)] = []
        for machine in root.files.entriesIfPresent(base) {
            let folder = base + "/" + machine
            for name in root.files.entriesIfPresent(folder)
            where name.contains("@") && (name.hasSuffix(".journal") || name.hasSuffix(".journal~")) {
                guard let st = root.files.statusIfPresent(folder + "/" + name), (st.st_mode & S_IFMT) == S_IFREG else { continue }
                files.append((folder + "/" + name, Int(st.st_mtim.tv_sec)))
            }
        }
        return files.sorted { ($0.modified, $0.path) < ($1.modified, $1.path) }.map(\.path)
    }

    public func cleanupPlan(_ context: RepairContext) throws(PlanError) -> ResourceCleanup.Plan {
        let groups = Self.archived(context.root).map { ResourceCleanup.Group(name: $0, paths: [$0]) }
        return try cleanup(context).plan(context, groups: groups, nothing: "no archived journal file in /var/log/journal", stopBelow: 5)
    }
}

/// Removes crash dumps: everything in /var/crash and /var/lib/systemd/coredump.
public struct ResourceCrashDumpStrategy: ResourceCleanupStrategy {
    public let descriptor = StrategyDescriptor(
        id: "resources-remove-crash-dumps",
        title: "Remove the crash dumps",
        classes: [.diskSpaceExhausted, .inodeExhausted],
        risk: 1,
        sideEffects: "the crash dumps of /var/crash and systemd-coredump are gone: crashes not reported yet cannot be analysed",
        priorEffectiveness: 0.5,
        estimatedSeconds: 5)

    public let threshold: Double?

    public init(threshold: Double? = nil) {
        self.threshold = threshold
    }

    public func cleanupPlan(_ context: RepairContext) throws(PlanError) -> ResourceCleanup.Plan {
        let groups = ["/var/crash", "/var/lib/systemd/coredump"].flatMap { ResourceCleanup.contents($0, root: context.root) }
        return try cleanup(context).plan(context, groups: groups, nothing: "no crash dump in /var/crash or /var/lib/systemd/coredump")
    }
}

/// Removes the files of the kernels beyond the newest two: /boot's vmlinuz, initrd,
/// System.map and config of the version, and its /lib/modules tree. Never the default
/// entry's kernel, and never the running one when the root is the live system.
///
/// The files are removed directly, not through `dpkg --purge`: tried in the overlay
/// sandbox, the package's postrm runs /etc/kernel/postrm.d/zz-update-grub, whose
/// grub-probe fails ("failed to get canonical path of `overlay'"), and dpkg leaves the
/// package half-removed with an error.
public struct ResourceOldKernelsStrategy: ResourceCleanupStrategy {
    public let descriptor = StrategyDescriptor(
        id: "resources-remove-old-kernels",
        title: "Remove the kernels beyond the newest two",
        classes: [.diskSpaceExhausted, .inodeExhausted],
        risk: 3,
        sideEffects: "dpkg still lists the removed kernels' packages as installed (apt purge removes them cleanly later); grub.cfg keeps their menu entries, which fail to boot, until the next update-grub",
        priorEffectiveness: 0.6,
        estimatedSeconds: 10)

    public let threshold: Double?
    /// The release of the running kernel; nil when the root is not the live system.
    let running: @Sendable (SystemRoot) -> String?

    public init(threshold: Double? = nil) {
        self.init(threshold: threshold, running: Self.runningRelease)
    }

    init(threshold: Double?, running: @escaping @Sendable (SystemRoot) -> String?) {
        self.threshold = threshold
        self.running = running
    }

    /// uname's release when `root` is `/`.
    static func runningRelease(_ root: SystemRoot) -> String? {
        guard root.path == "/" else { return nil }
        var name = utsname()
        guard uname(&name) == 0 else { return nil }
        return withUnsafeBytes(of: name.release) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The versions to remove, oldest first: all but the newest two, the default entry's
    /// and the running one. Refused when the default entry cannot be read.
    func removable(_ context: RepairContext) throws(PlanError) -> [String] {
        let root = context.root
        let installed = KernelInventory.scan(root).map(\.version)
        let configuration: BootConfiguration
        do {
            configuration = try BootConfiguration.load(root)
        } catch {
            throw cleanup(context).fail("cannot tell the default kernel: \(error)")
        }
        var kept = Set(installed.prefix(2))
        if let version = configuration.defaultEntry?.kernelVersion { kept.insert(version) }
        if let version = running(root) { kept.insert(version) }
        return Array(installed.filter { !kept.contains($0) }.reversed())
    }

    /// The files of kernel `version`, those that exist.
    static func files(of version: String, root: SystemRoot) -> [String] {
        let boot = ["vmlinuz-", "vmlinux-", "initrd.img-", "System.map-", "config-"].map { "/boot/" + $0 + version }
            + ["/boot/initramfs-\(version).img"]
        return boot.filter { root.files.statusIfPresent($0) != nil }
            + ResourceCleanup.tree(root.canonical("/lib/modules/" + version), root: root)
    }

    public func cleanupPlan(_ context: RepairContext) throws(PlanError) -> ResourceCleanup.Plan {
        let groups = try removable(context).map { ResourceCleanup.Group(name: $0, paths: Self.files(of: $0, root: context.root)) }
        return try cleanup(context).plan(context, groups: groups,
                                nothing: "no kernel beyond the newest two other than the default or running one")
    }
}
