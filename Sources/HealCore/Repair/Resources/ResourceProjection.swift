/// What removing files frees on the examined filesystem, and its usage afterwards
/// (`disk-space-exhausted` / `inode-exhausted` must end below the threshold:
/// docs/failure-catalogue.md).
///
/// A clone cannot answer "below threshold" itself: statvfs of an overlay reports the
/// scratch filesystem, not the examined one. So the exhaustion strategies read the size
/// and links of every file they remove from the clone, add up what those removals free,
/// and subtract it from the examined filesystem's usage as the detector measured it.
public enum ResourceProjection {
    /// df's view of one filesystem, in KiB and inodes.
    public struct Usage: Sendable, Hashable {
        public var usedKiB: UInt64
        /// Available to unprivileged users (df's Avail: reserved blocks excluded).
        public var availableKiB: UInt64
        public var usedInodes: UInt64
        public var totalInodes: UInt64

        public init(usedKiB: UInt64, availableKiB: UInt64, usedInodes: UInt64, totalInodes: UInt64) {
            self.usedKiB = usedKiB
            self.availableKiB = availableKiB
            self.usedInodes = usedInodes
            self.totalInodes = totalInodes
        }

        /// df's Use%: used / (used + avail), rounded up; nil without blocks.
        public var blockPercent: Int? { ResourceProjection.percent(usedKiB, of: usedKiB + availableKiB) }
        /// df -i's IUse%, rounded up; nil without inode accounting.
        public var inodePercent: Int? { ResourceProjection.percent(usedInodes, of: totalInodes) }
    }

    /// One path a plan removes, as `lstat` reads it in the clone.
    public struct Removal: Sendable, Hashable {
        public var path: String
        /// Device and inode number: the identity hard links share.
        public var device: UInt64
        public var inode: UInt64
        /// `st_nlink`: a file's data is freed only when its last link goes.
        public var links: UInt64
        /// `st_blocks × 512`: what the filesystem allocated, holes and metadata blocks
        /// included, which is what removing it gives back.
        public var allocatedBytes: UInt64
        public var isDirectory: Bool

        public init(path: String, device: UInt64, inode: UInt64, links: UInt64, allocatedBytes: UInt64, isDirectory: Bool) {
            self.path = path
            self.device = device
            self.inode = inode
            self.links = links
            self.allocatedBytes = allocatedBytes
            self.isDirectory = isDirectory
        }
    }

    /// What a set of removals gives back.
    public struct Freed: Sendable, Hashable {
        public var kib: UInt64
        public var inodes: UInt64

        public init(kib: UInt64 = 0, inodes: UInt64 = 0) {
            self.kib = kib
            self.inodes = inodes
        }
    }

    /// What removing `removals` frees. A hard-linked file frees its inode and blocks only
    /// when every one of its links is among the removals; a directory (removed once it is
    /// empty) always frees its own. A path listed twice counts once.
    public static func freed(by removals: [Removal]) -> Freed {
        struct Identity: Hashable { var device: UInt64; var inode: UInt64 }
        var paths: [Identity: Set<String>] = [:]
        var first: [Identity: Removal] = [:]
        for removal in removals {
            let identity = Identity(device: removal.device, inode: removal.inode)
            paths[identity, default: []].insert(removal.path)
            if first[identity] == nil { first[identity] = removal }
        }
        var freed = Freed()
        for (identity, removal) in first {
            let removedLinks = UInt64(paths[identity]?.count ?? 0)
            // A directory's link count counts its subdirectories' `..`, not other names.
            guard removal.isDirectory || removedLinks >= removal.links else { continue }
            freed.kib += removal.allocatedBytes / 1024
            freed.inodes += 1
        }
        return freed
    }

    /// `usage` after `freed` is given back: used shrinks and available grows by the same
    /// amount (freed blocks return to the pool df's Avail counts, reserved blocks being
    /// already full), never below zero.
    public static func project(_ usage: Usage, freeing freed: Freed) -> Usage {
        let kib = min(freed.kib, usage.usedKiB)
        let inodes = min(freed.inodes, usage.usedInodes)
        return Usage(usedKiB: usage.usedKiB - kib, availableKiB: usage.availableKiB + kib,
                     usedInodes: usage.usedInodes - inodes, totalInodes: usage.totalInodes)
    }

    /// Which measure an exhaustion finding is about.
    public enum Measure: String, Sendable, Hashable {
        case blocks, inodes
    }

    /// The percentage of `measure` in use, as the detector computes it.
    public static func percent(_ usage: Usage, _ measure: Measure) -> Int? {
        measure == .blocks ? usage.blockPercent : usage.inodePercent
    }

    /// True when `usage` no longer makes a finding: the detector reports at or above the
    /// threshold, so this is strictly below it. A filesystem without the measure is never
    /// exhausted.
    public static func isBelow(_ usage: Usage, _ measure: Measure, threshold: Double) -> Bool {
        guard let percent = percent(usage, measure) else { return true }
        return Double(percent) < threshold
    }

    /// df's rounding: used / total, rounded up.
    static func percent(_ used: UInt64, of total: UInt64) -> Int? {
        guard total > 0 else { return nil }
        return Int((used * 100 + total - 1) / total)
    }

    /// The usage an exhaustion finding's evidence records, in the detector's words:
    /// `used U KiB, available A KiB, use P%` for blocks, `inodes used U of T, use P%` for
    /// inodes. Only the part the text carries is filled in (the other stays zero).
    public static func usage(fromEvidence detail: String) -> (Usage, Measure)? {
        let words = detail.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        func number(after index: Int) -> UInt64? { index + 1 < words.count ? UInt64(words[index + 1]) : nil }
        if words.first == "inodes", words.count >= 5, words[1] == "used", let used = UInt64(words[2]),
           words[3] == "of", let total = UInt64(words[4]) {
            return (Usage(usedKiB: 0, availableKiB: 0, usedInodes: used, totalInodes: total), .inodes)
        }
        guard words.first == "used", let used = number(after: 0), words.count >= 6, words[2] == "KiB",
              words[3] == "available", let available = number(after: 3), words[5] == "KiB" else { return nil }
        return (Usage(usedKiB: used, availableKiB: available, usedInodes: 0, totalInodes: 0), .blocks)
    }

    /// True when `path` lives on the filesystem mounted at `place`, given the other mount
    /// points of the system: the deepest mount point containing it is `place`.
    public static func path(_ path: String, isOn place: String, mountPoints: [String]) -> Bool {
        func contains(_ mount: String, _ path: String) -> Bool {
            mount == "/" || path == mount || path.hasPrefix(mount + "/")
        }
        let deepest = (mountPoints + ["/", place]).filter { contains($0, path) }.max { $0.count < $1.count }
        return deepest == place
    }

    /// The mount points an fstab names (swap and `none` left out), `\040` and friends
    /// decoded.
    public static func mountPoints(fstab: String) -> [String] {
        var points: [String] = []
        for line in fstab.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, !fields[0].hasPrefix("#") else { continue }
            let point = decodeOctal(String(fields[1]))
            guard point.hasPrefix("/") else { continue }
            var normalized = point
            while normalized.count > 1 && normalized.hasSuffix("/") { normalized.removeLast() }
            if !points.contains(normalized) { points.append(normalized) }
        }
        return points
    }

    private static func decodeOctal(_ text: String) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 3 < utf8.count,
               let value = UInt8(String(decoding: utf8[(index + 1)...(index + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
