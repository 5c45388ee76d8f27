/// The list of pstore records whose crash a repair has already dealt with, so the
/// kernel-panic detector stops reporting them once the repair is in place (a panic record
/// stays in pstore, or in an archive, long after its cause is gone).
///
/// ```
///  /var/lib/clarity-heal/pstore/handled
///  # clarity-heal: pstore records whose crash was repaired; the detector skips them
///  <sha256 of the record's bytes, 64 hex>  module=<name or ->  written=<record time, UTC>  by=<strategy>  <path>
/// ```
public enum HandledPanicRecords {
    public static let path = "/var/lib/clarity-heal/pstore/handled"

    /// One record marked handled.
    public struct Entry: Sendable, Hashable {
        public var sha256: String
        public var module: String?
        public var written: String
        public var strategy: String
        public var path: String

        public init(sha256: String, module: String?, written: String, strategy: String, path: String) {
            self.sha256 = sha256
            self.module = module
            self.written = written
            self.strategy = strategy
            self.path = path
        }

        var line: String {
            "\(sha256)  module=\(module ?? "-")  written=\(written)  by=\(strategy)  \(path)"
        }
    }

    static let header = "# clarity-heal: pstore records whose crash was repaired; the detector skips them"

    /// The digests a handled file lists; lines that do not start with 64 hex digits are
    /// ignored (comments, damage).
    public static func digests(in text: String) -> Set<String> {
        var found: Set<String> = []
        for line in text.split(separator: "\n") {
            guard let first = line.split(separator: " ").first, first.count == 64,
                  first.allSatisfy({ $0.isHexDigit }) else { continue }
            found.insert(first.lowercased())
        }
        return found
    }

    /// The file with `entries` added (those whose digest is not listed yet).
    public static func text(existing: String?, adding entries: [Entry]) -> String {
        var text = existing ?? ""
        if text.isEmpty { text = header + "\n" }
        if !text.hasSuffix("\n") { text += "\n" }
        var present = digests(in: text)
        for entry in entries where present.insert(entry.sha256.lowercased()).inserted {
            text += entry.line + "\n"
        }
        return text
    }
}
