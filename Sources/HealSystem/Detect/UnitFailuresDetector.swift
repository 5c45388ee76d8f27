import Glibc
import HealCore

/// `unit-failures`: at least `thresholds.failedUnits` units entered the failed state during
/// the previous boot, as systemd logged it in the root's persistent journal.
///
/// "Previous" is the last boot in the journal; when the current boot is counted
/// (`countsCurrentBoot`) and it already writes to this journal, the one before it.
///
/// A failed unit is not counted once a repair has dealt with it, so the finding clears
/// when the repair is in place (the journal keeps the failure forever):
/// - the unit is masked now (its unit file in /etc or /run is a link to /dev/null, or
///   empty, as systemd reads a mask), or
/// - one of its unit files or drop-ins (`UnitFiles.files`) was changed after the failing
///   boot's last journal entry (reverted, edited or replaced since).
public struct UnitFailuresDetector: Detector {
    public let name = "unit-failures"
    public let classes: [FailureClass] = [.unitFailures]

    /// Where the running kernel's boot id is read when the current boot is counted (the
    /// running kernel's, not the root's: in the initramfs the root is not running yet).
    public var bootIDPath: String

    public init(bootIDPath: String = "/proc/sys/kernel/random/boot_id") {
        self.bootIDPath = bootIDPath
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let journalPath = "/var/log/journal"
        guard context.root.files.statusIfPresent(journalPath, followLast: true) != nil else {
            context.logger.debug("no persistent journal", metadata: ["path": "\(journalPath)"])
            return []
        }
        let journal = try Journal(root: context.root)
        let current = context.countsCurrentBoot ? Journal.currentBootID(procPath: bootIDPath) : nil
        guard let boot = Journal.previousBoot(in: try journal.boots(), current: current) else {
            context.logger.debug("journal has no previous boot", metadata: ["path": "\(journalPath)"])
            return []
        }
        let changedAfter = Int(boot.last / 1_000_000)
        let failed = try journal.failedUnits(boot: boot.id).filter { unit in
            if UnitFiles.isMasked(unit.unit, root: context.root) {
                context.logger.debug("failed unit is masked now", metadata: ["unit": "\(unit.unit)"])
                return false
            }
            if let changed = UnitFiles.files(of: unit.unit, root: context.root).first(where: {
                UnitFiles.modified($0, root: context.root) > changedAfter
            }) {
                context.logger.debug("failed unit changed since", metadata: ["unit": "\(unit.unit)", "path": "\(changed)"])
                return false
            }
            return true
        }
        guard failed.count >= context.thresholds.failedUnits else { return [] }
        let names = failed.map(\.unit)
        return [Finding(
            .unitFailures,
            summary: "\(failed.count) units failed on the previous boot: \(names.joined(separator: ", "))",
            evidence: failed.map { unit in
                Evidence(source: "journal \(journalPath) boot \(boot.id)",
                         detail: "\(unit.unit): \(unit.message.isEmpty ? "failed" : unit.message)")
            })]
    }
}

/// Where systemd finds a system unit's files on a root that is not running (no /run of
/// its own to speak of), highest precedence first (systemd.unit(5), "Unit File Load Path").
enum UnitFiles {
    static let directories = ["/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
                              "/usr/lib/systemd/system", "/lib/systemd/system"]

    /// The unit file names that define `unit`: itself, and its template for an instance
    /// (`getty@tty1.service` → `getty@.service`).
    static func names(of unit: String) -> [String] {
        guard let at = unit.firstIndex(of: "@"), let dot = unit.lastIndex(of: "."), at < dot,
              unit.index(after: at) != dot else { return [unit] }
        return [unit, String(unit[...at]) + String(unit[dot...])]
    }

    /// Whether `unit` is masked: the first unit file found in precedence order is a link to
    /// /dev/null or an empty file (systemd's `null_or_empty_path`).
    static func isMasked(_ unit: String, root: SystemRoot) -> Bool {
        for directory in directories {
            let path = directory + "/" + unit
            guard let st = root.files.statusIfPresent(path) else { continue }
            if (st.st_mode & S_IFMT) == S_IFLNK { return ((try? root.files.linkTarget(path)) ?? nil) == "/dev/null" }
            return (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0
        }
        return false
    }

    /// Every unit file and drop-in (`NAME.d/*.conf`) of `unit` in the load path, as the root
    /// sees them. A directory reached through a link (`/lib` on merged /usr) is listed once.
    static func files(of unit: String, root: SystemRoot) -> [String] {
        var found: [String] = []
        var seen: Set<String> = []
        for directory in directories where seen.insert(root.canonical(directory)).inserted {
            for name in names(of: unit) {
                let path = directory + "/" + name
                if root.files.statusIfPresent(path) != nil { found.append(path) }
                let dropIns = path + ".d"
                for entry in root.files.entriesIfPresent(dropIns).sorted() where entry.hasSuffix(".conf") {
                    found.append(dropIns + "/" + entry)
                }
            }
        }
        return found
    }

    /// Modification time (seconds) of `path` itself (a link's own time), 0 when absent.
    static func modified(_ path: String, root: SystemRoot) -> Int {
        root.files.statusIfPresent(path).map { Int($0.st_mtim.tv_sec) } ?? 0
    }
}
