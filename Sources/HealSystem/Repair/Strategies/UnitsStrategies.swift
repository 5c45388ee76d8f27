import Glibc
import HealCore

/// The failed units a `unit-failures` finding names, and the boot they failed on.
struct FailedUnitsFinding {
    var units: [String]
    /// The failing boot's id (32 hex digits), from the evidence's source.
    var bootID: String?

    /// Evidence reads `journal /var/log/journal boot ID` / `UNIT: message`.
    init(_ finding: Finding) {
        var units: [String] = []
        for evidence in finding.evidence where evidence.source.hasPrefix("journal ") {
            guard let colon = evidence.detail.firstRange(of: ": ") else { continue }
            let unit = String(evidence.detail[..<colon.lowerBound])
            if !unit.isEmpty, !units.contains(unit) { units.append(unit) }
            if bootID == nil, let id = evidence.source.split(separator: " ").last { bootID = String(id) }
        }
        self.units = units
    }

    /// The extra validation for units: `systemd-analyze verify` of the default
    /// target in the clone, so a repair that leaves a unit the boot pulls in unloadable
    /// fails there and not on the machine. Nothing when the root has no systemd-analyze.
    static func verification(_ root: SystemRoot) -> [RepairOperation] {
        guard root.files.statusIfPresent("/usr/bin/systemd-analyze", followLast: true) != nil else { return [] }
        // --man=no: the clone has no man pages to check Documentation= against. The
        // manager it starts stamps /run/systemd/systemd-units-load: runtime state that
        // must not travel into the fix.
        return [.runTool(arguments: ["systemd-analyze", "verify", "--man=no", "default.target"], mayChange: []),
                .removeFile(path: "/run/systemd/systemd-units-load")]
    }
}

/// `unit-failures`: masks the failed units that are not essential (`EssentialUnits`), so
/// the next boot does not start them, then checks the default target still
/// verifies. The mask is what `systemctl mask` writes: `/etc/systemd/system/UNIT` →
/// `/dev/null`.
public struct UnitMaskStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "unit-mask-failed",
        title: "Mask the failed units that are not essential",
        classes: [.unitFailures],
        risk: 3,
        sideEffects: "the masked units never start until a person runs systemctl unmask; a unit file written in /etc/systemd/system is replaced by the mask (the fix package keeps it as backup)",
        priorEffectiveness: 0.75,
        estimatedSeconds: 5)

    public init() {}

    func maskable(_ context: RepairContext) -> [String] {
        FailedUnitsFinding(context.finding).units.filter {
            !EssentialUnits.contains($0) && !UnitFiles.isMasked($0, root: context.root)
        }
    }

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        let units = FailedUnitsFinding(context.finding).units
        guard !units.isEmpty else { return "the finding names no failed unit" }
        return maskable(context).isEmpty ? "every failed unit is essential or masked already: \(units.joined(separator: ", "))" : nil
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let units = maskable(context)
        guard !units.isEmpty else { throw PlanError(strategy: descriptor.id, reason: "no failed unit may be masked") }
        return units.map { RepairOperation.makeSymlink(path: "/etc/systemd/system/" + $0, target: "/dev/null") }
            + FailedUnitsFinding.verification(context.root)
    }
}

/// `unit-failures`: reverts what changed in the failed units' files —
/// a packaged unit file or drop-in that differs from its package is restored from the
/// cached .deb (checksum verified); a local drop-in or override in /etc written between
/// the last good boot and the failing boot is removed.
public struct UnitRevertStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "unit-revert-changed",
        title: "Revert the failed units' files changed since the last good boot",
        classes: [.unitFailures],
        risk: 2,
        sideEffects: "local edits to those unit files and drop-ins are undone (kept in the fix package's backup)",
        priorEffectiveness: 0.8,
        estimatedSeconds: 10)

    public init() {}

    /// The time window of suspicious local changes: after the last boot before the failing
    /// one ended, up to the failing boot's start. Nil when the journal has no earlier boot.
    func window(_ root: SystemRoot, bootID: String?) -> (after: Int, before: Int)? {
        guard let bootID, let journal = try? Journal(root: root), let boots = try? journal.boots(),
              let index = boots.firstIndex(where: { $0.id == bootID }), index > 0 else { return nil }
        return (Int(boots[index - 1].last / 1_000_000), Int(boots[index].first / 1_000_000))
    }

    func operations(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let root = context.root
        let finding = FailedUnitsFinding(context.finding)
        let source = PackagedFiles(root: root, strategy: descriptor.id)
        let window = window(root, bootID: finding.bootID)
        var operations: [RepairOperation] = []
        for unit in finding.units {
            for path in UnitFiles.files(of: unit, root: root) {
                guard let st = root.files.statusIfPresent(path) else { continue }
                if let owner = try? source.owner(of: path), let expected = source.expectedDigest(owner) {
                    let actual = (st.st_mode & S_IFMT) == S_IFREG
                        ? (try? root.files.read(path, limit: 16 << 20)).map(MD5File.digest(of:)) : nil
                    guard actual != expected else { continue }
                    guard case .file(let contents, let mode) = try source.pristine(owner) else { continue }
                    if (st.st_mode & S_IFMT) != S_IFREG { operations.append(.removeFile(path: path)) }
                    operations.append(.writeFile(path: path, contents: contents, mode: mode))
                } else if path.hasPrefix("/etc/"), let window {
                    let modified = Int(st.st_mtim.tv_sec)
                    let isDropIn = path.hasSuffix(".conf") && path.contains(".d/")
                    let overridesPackage = !isDropIn && UnitFiles.files(of: unit, root: root).contains { !$0.hasPrefix("/etc/") && !$0.contains(".d/") }
                    if modified > window.after && modified <= window.before && (isDropIn || overridesPackage) {
                        operations.append(.removeFile(path: path))
                    }
                }
            }
        }
        return operations
    }

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        do {
            return try operations(context).isEmpty
                ? "no file of the failed units differs from its package or changed before the failing boot" : nil
        } catch {
            return error.reason
        }
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let operations = try operations(context)
        guard !operations.isEmpty else {
            throw PlanError(strategy: descriptor.id, reason: "no file of the failed units differs from its package or changed before the failing boot")
        }
        return operations + FailedUnitsFinding.verification(context.root)
    }
}
