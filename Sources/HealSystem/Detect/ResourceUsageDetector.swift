import Glibc
import HealCore

/// Reports `/` and `/boot` of the root at or above the exhaustion threshold, for blocks
/// (`disk-space-exhausted`) and inodes (`inode-exhausted`). `/boot` counts separately
/// only when it is another filesystem than `/`.
///
/// Percentages are df's: used / (used + available to unprivileged users), rounded up, so
/// a finding names the number `df` shows.
public struct ResourceUsageDetector: Detector {
    public let name = "resources"
    public let classes: [FailureClass] = [.diskSpaceExhausted, .inodeExhausted]

    public init() {}

    /// df's view of one filesystem.
    public struct Usage: Sendable, Hashable {
        public var blockSize: UInt64
        public var usedBlocks: UInt64
        public var availableBlocks: UInt64
        public var usedInodes: UInt64
        public var totalInodes: UInt64

        /// df's Use%: used / (used + avail), rounded up; nil for a filesystem without blocks.
        public var blockPercent: Int? { Self.percent(usedBlocks, of: usedBlocks + availableBlocks) }
        /// df -i's IUse%: nil for a filesystem without inode accounting (vfat, btrfs).
        public var inodePercent: Int? { Self.percent(usedInodes, of: totalInodes) }

        static func percent(_ used: UInt64, of total: UInt64) -> Int? {
            guard total > 0 else { return nil }
            return Int((used * 100 + total - 1) / total)
        }
    }

    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        case cannotStat(path: String, reason: String)

        public var description: String {
            switch self {
            case .cannotStat(let path, let reason): "cannot statvfs \(path): \(reason)"
            }
        }
    }

    /// statvfs(3) of a host path, as df reads it.
    public static func usage(ofHostPath path: String) throws(ResourceUsageDetector.Error) -> Usage {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else {
            throw .cannotStat(path: path, reason: String(cString: strerror(errno)))
        }
        let used = st.f_blocks >= st.f_bfree ? st.f_blocks - st.f_bfree : 0
        let usedInodes = st.f_files >= st.f_ffree ? st.f_files - st.f_ffree : 0
        return Usage(blockSize: UInt64(st.f_frsize), usedBlocks: UInt64(used), availableBlocks: UInt64(st.f_bavail),
                     usedInodes: UInt64(usedInodes), totalInodes: UInt64(st.f_files))
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let root = context.root
        var places = ["/"]
        if let rootStat = root.files.statusIfPresent("/", followLast: true),
           let bootStat = root.files.statusIfPresent("/boot", followLast: true),
           (bootStat.st_mode & S_IFMT) == S_IFDIR, bootStat.st_dev != rootStat.st_dev {
            places.append("/boot")
        }
        let threshold = context.thresholds.resourceExhaustionPercent
        var findings: [Finding] = []
        for place in places {
            // statvfs by a host path that passes no link: the canonical path inside the root.
            let usage = try Self.usage(ofHostPath: root.host(root.canonical(place)))
            let source = "statvfs \(place)"
            if let percent = usage.blockPercent, Double(percent) >= threshold {
                let kib = usage.blockSize / 1024
                findings.append(Finding(.diskSpaceExhausted,
                    summary: "\(place) is \(percent)% full (\(usage.availableBlocks * kib) KiB available)",
                    evidence: [Evidence(source: source, detail:
                        "used \(usage.usedBlocks * kib) KiB, available \(usage.availableBlocks * kib) KiB, use \(percent)%")]))
            }
            if let percent = usage.inodePercent, Double(percent) >= threshold {
                findings.append(Finding(.inodeExhausted,
                    summary: "\(place) has \(percent)% of its inodes in use (\(usage.totalInodes - usage.usedInodes) free)",
                    evidence: [Evidence(source: source, detail:
                        "inodes used \(usage.usedInodes) of \(usage.totalInodes), use \(percent)%")]))
            }
        }
        return findings
    }
}
