/// Which filesystem an fstab source that names nothing most likely meant: the rule the
/// `fstab-repoint-source` repair follows, in pure code so it can be read and tested alone.
///
/// Only filesystems of the line's type (any type for `auto`) that no other line already
/// mounts are candidates. Then, in order:
/// 1. a label/UUID typo: exactly one candidate whose value is within `maximumDistance`
///    edits (optimal string alignment: `dtaa` → `data` is one transposition) and closer
///    than every other candidate;
/// 2. a reformatted or replaced disk: the only candidate of that type, when the line names
///    a concrete type (for `auto` a lone filesystem is no evidence of anything) and, for
///    a label, the candidate carries none.
/// Anything else — two labels equally near, two unclaimed filesystems — is ambiguous, and a
/// wrong guess would mount someone else's data: no match.
public enum SourceMatch {
    public struct Candidate: Sendable, Hashable {
        /// An id for the result (the device path).
        public var id: String
        public var type: String?
        public var label: String?
        public var uuid: String?
        public var partLabel: String?
        public var partUUID: String?

        public init(id: String, type: String?, label: String?, uuid: String?, partLabel: String? = nil, partUUID: String? = nil) {
            self.id = id
            self.type = type
            self.label = label
            self.uuid = uuid
            self.partLabel = partLabel
            self.partUUID = partUUID
        }
    }

    /// Why a candidate was chosen.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        case nearValue(written: String, found: String, distance: Int)
        case onlyOfType(String)

        public var description: String {
            switch self {
            case .nearValue(let written, let found, let distance):
                "\"\(found)\" is the only value within \(distance) edit\(distance == 1 ? "" : "s") of \"\(written)\""
            case .onlyOfType(let type): "it is the only \(type) filesystem no other line mounts"
            }
        }
    }

    /// Edits allowed for a near value: one for short values, a quarter of the length for
    /// long ones (a UUID typo), never more than 3.
    public static func maximumDistance(for value: String) -> Int {
        min(3, max(1, value.count / 4))
    }

    /// The candidate `tag=value` (`LABEL`, `UUID`, `PARTLABEL`, `PARTUUID`, or nil for a
    /// path) on a line of `type` most likely meant, with the reason; nil when none is sure.
    /// - Parameter claimed: ids of candidates other lines already mount.
    public static func best(tag: String?, value: String, type: String, among candidates: [Candidate],
                            claimed: Set<String>) -> (candidate: Candidate, reason: Reason)? {
        let open = candidates.filter { candidate in
            !claimed.contains(candidate.id) && (type == "auto" || candidate.type == type)
        }
        if let tag {
            let scored: [(Candidate, String, Int)] = open.compactMap { candidate in
                let found: String?
                switch tag {
                case "LABEL": found = candidate.label
                case "UUID": found = candidate.uuid
                case "PARTLABEL": found = candidate.partLabel
                case "PARTUUID": found = candidate.partUUID
                default: found = nil
                }
                guard let found else { return nil }
                // UUIDs are compared without case, as blkid prints them lower-case.
                let distance = tag.hasSuffix("UUID") ? Self.distance(value.lowercased(), found.lowercased())
                    : Self.distance(value, found)
                return (candidate, found, distance)
            }
            let limit = maximumDistance(for: value)
            let near = scored.filter { $0.2 <= limit }.sorted { $0.2 < $1.2 }
            if let first = near.first, near.dropFirst().allSatisfy({ $0.2 > first.2 }) {
                return (first.0, .nearValue(written: value, found: first.1, distance: first.2))
            }
            if near.count > 1 { return nil }
        }
        // A label is chosen by a person: a lone filesystem carrying another label is
        // someone else's, not a reformatted copy of this one.
        if type != "auto", open.count == 1, let only = open.first,
           tag != "LABEL" || only.label == nil, tag != "PARTLABEL" || only.partLabel == nil {
            return (only, .onlyOfType(type))
        }
        return nil
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    /// two neighbours, each one edit.
    public static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var table = Array(repeating: Array(repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { table[i][0] = i }
        for j in 0...y.count { table[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                var best = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    best = min(best, table[i - 2][j - 2] + 1)
                }
                table[i][j] = best
            }
        }
        return table[x.count][y.count]
    }
}
