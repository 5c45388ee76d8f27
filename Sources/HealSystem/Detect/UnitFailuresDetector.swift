import HealCore

/// `unit-failures`: at least `thresholds.failedUnits` units entered the failed state during
/// the previous boot, as systemd logged it in the root's persistent journal.
///
/// "Previous" is the last boot in the journal; when the current boot is counted
/// (`countsCurrentBoot`) and it already writes to this journal, the one before it.
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
        guard FileReading.status(atPath: context.root.host(journalPath), followLinks: true) != nil else {
            context.logger.debug("no persistent journal", metadata: ["path": "\(journalPath)"])
            return []
        }
        let journal = try Journal(root: context.root)
        let current = context.countsCurrentBoot ? Journal.currentBootID(procPath: bootIDPath) : nil
        guard let boot = Journal.previousBoot(in: try journal.boots(), current: current) else {
            context.logger.debug("journal has no previous boot", metadata: ["path": "\(journalPath)"])
            return []
        }
        let failed = try journal.failedUnits(boot: boot.id)
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
