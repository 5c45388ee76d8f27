/// `/var/lib/dpkg/diversions`: files whose packaged version dpkg installs under another name.
///
/// ```
///   three lines per diversion, no header:
///
///   /bin/sh            <- the path a package ships ("from")
///   /bin/sh.distrib    <- where dpkg puts that package's file instead ("to")
///   dash               <- the diverting package; ":" for a local (admin) diversion
/// ```
///
/// The format is dpkg's `src/main/divertdb.c` (`ensure_diversions`).
public struct Diversion: Sendable, Hashable {
    public var from: String
    public var to: String
    /// The package that owns the diversion; nil for a local diversion (":").
    public var package: String?

    public init(from: String, to: String, package: String?) {
        self.from = from
        self.to = to
        self.package = package
    }

    public enum Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        case truncated(source: String, line: Int)
        case notAbsolute(source: String, line: Int, path: String)

        public var description: String {
            switch self {
            case .truncated(let source, let line):
                "cannot parse \(source) line \(line): a diversion needs three lines (from, to, package)"
            case .notAbsolute(let source, let line, let path):
                "cannot parse \(source) line \(line): \(path) is not an absolute path"
            }
        }
    }

    /// Parses the diversions file.
    /// - Throws: `Diversion.Error` when the lines do not come in triples of two absolute
    ///   paths and a package (dpkg refuses such a database as well).
    public static func parseAll(_ text: String, source: String) throws(Diversion.Error) -> [Diversion] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var result: [Diversion] = []
        var index = 0
        while index < lines.count {
            guard index + 2 < lines.count else { throw .truncated(source: source, line: index + 1) }
            let from = lines[index], to = lines[index + 1], owner = lines[index + 2]
            if !from.hasPrefix("/") { throw .notAbsolute(source: source, line: index + 1, path: from) }
            if !to.hasPrefix("/") { throw .notAbsolute(source: source, line: index + 2, path: to) }
            result.append(Diversion(from: from, to: to, package: owner == ":" ? nil : owner))
            index += 3
        }
        return result
    }

    /// Where `package`'s file `path` really is on disk, as dpkg resolves it
    /// (`namenodetouse` in src/main/filesdb.c): a diversion applies to every package but
    /// the one that made it.
    public static func installedPath(of path: String, package: String, in diversions: [Diversion]) -> String {
        guard let diversion = diversions.first(where: { $0.from == path }) else { return path }
        return diversion.package == package ? path : diversion.to
    }
}
