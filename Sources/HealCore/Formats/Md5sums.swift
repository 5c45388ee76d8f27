/// A package's `/var/lib/dpkg/info/<package>[:<arch>].md5sums`: the digest dpkg recorded for
/// each file the package ships (conffiles excepted: their digests live in the status file).
///
/// ```
///   one line per file, no header, no comments:
///
///   +------------------------------------+----+---------------------------+----+
///   | MD5 digest, 32 lowercase hex chars | SP SP | path without leading "/" | LF |
///   +------------------------------------+----+---------------------------+----+
///   9b3c3a5f0c0e0d7b5a8c2b8f3f1d3e8a  usr/bin/bash
/// ```
///
/// dpkg writes it from the .deb's DEBIAN/md5sums (or computes it at unpack time) and
/// checks the same shape when it reads it back (`parse_filehash` in dpkg's
/// src/main/filesdb-hash.c): 32 hex digits, exactly two spaces, a non-empty path.
public struct Md5sums: Sendable, Equatable {
    public struct Entry: Sendable, Hashable {
        /// Lowercase hex MD5 digest.
        public var digest: String
        /// The path as the installed system sees it, with a leading "/".
        public var path: String
        /// 1-based line in the file.
        public var line: Int

        public init(digest: String, path: String, line: Int) {
            self.digest = digest
            self.path = path
            self.line = line
        }
    }

    /// The file that was parsed (as given to `parse`).
    public var source: String
    public var entries: [Entry]
    /// One error per line that does not have the shape above; the other lines still count.
    public var errors: [Error]

    public enum Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        case badLine(source: String, line: Int, reason: String)

        public var description: String {
            switch self {
            case .badLine(let source, let line, let reason): "cannot parse \(source) line \(line): \(reason)"
            }
        }
    }

    /// Parses the text of an md5sums file. Never throws: bad lines land in `errors`.
    /// - Parameter source: the file's path, for error messages.
    public static func parse(_ text: String, source: String) -> Md5sums {
        var result = Md5sums(source: source, entries: [], errors: [])
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.utf8
            if line.isEmpty { continue }
            guard line.count > 34 else {
                result.errors.append(.badLine(source: source, line: number, reason: "too short for a digest and a path"))
                continue
            }
            let digest = line.prefix(32)
            guard digest.allSatisfy(Self.isHexDigit) else {
                result.errors.append(.badLine(source: source, line: number, reason: "the digest is not 32 hex digits"))
                continue
            }
            let separator = line.dropFirst(32).prefix(2)
            guard separator.elementsEqual("  ".utf8) else {
                result.errors.append(.badLine(source: source, line: number, reason: "expected two spaces after the digest"))
                continue
            }
            var path = String(decoding: line.dropFirst(34), as: UTF8.self)
            // dpkg prefixes "/" itself; a path already absolute is tolerated the same way.
            if !path.hasPrefix("/") { path = "/" + path }
            result.entries.append(Entry(digest: String(decoding: digest, as: UTF8.self).lowercased(),
                                        path: path, line: number))
        }
        return result
    }

    /// Splits an info file name (`libc6:amd64.md5sums`) into the package name and the
    /// architecture qualifier dpkg adds for `Multi-Arch: same` packages. Nil when the
    /// name does not end in `.md5sums`.
    public static func package(fromFileName name: String) -> (name: String, architecture: String?)? {
        guard name.hasSuffix(".md5sums") else { return nil }
        let stem = name.dropLast(".md5sums".count)
        guard !stem.isEmpty else { return nil }
        if let colon = stem.firstIndex(of: ":") {
            return (String(stem[..<colon]), String(stem[stem.index(after: colon)...]))
        }
        return (String(stem), nil)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
    }
}
