import HealCore

/// dpkg's database of an examined root (`<root>/var/lib/dpkg`): the per-package md5sums in
/// `info/` and the diversions. Read only.
public struct DpkgDatabase: Sendable {
    public static let infoDirectory = "/var/lib/dpkg/info"
    public static let diversionsPath = "/var/lib/dpkg/diversions"

    /// One package's md5sums file.
    public struct ChecksumFile: Sendable, Hashable {
        /// The package name without the architecture qualifier (`libc6`).
        public var package: String
        /// `amd64` for `libc6:amd64.md5sums`, nil when the name has no qualifier.
        public var architecture: String?
        /// The file's path as the root sees it (`/var/lib/dpkg/info/libc6:amd64.md5sums`).
        public var path: String

        /// The name dpkg prints and accepts (`libc6:amd64`).
        public var qualifiedName: String { architecture.map { "\(package):\($0)" } ?? package }
    }

    public let root: SystemRoot

    public init(root: SystemRoot) {
        self.root = root
    }

    /// Every package that has an md5sums file, sorted by name.
    public func checksumFiles() -> [ChecksumFile] {
        root.files.entriesIfPresent(Self.infoDirectory).compactMap { name in
            guard let (package, architecture) = Md5sums.package(fromFileName: name) else { return nil }
            return ChecksumFile(package: package, architecture: architecture, path: Self.infoDirectory + "/" + name)
        }
    }

    /// Reads and parses one md5sums file.
    /// - Throws: `FileError` when it cannot be read.
    public func checksums(_ file: ChecksumFile) throws(FileError) -> Md5sums {
        Md5sums.parse(try root.files.text(file.path), source: file.path)
    }

    /// The diversions in force; none when the file is absent (a root dpkg never diverted in).
    public func diversions() throws(DpkgDatabase.Error) -> [Diversion] {
        let text: String
        do {
            text = try root.files.text(Self.diversionsPath)
        } catch {
            if case .missing = error { return [] }
            throw .unreadable(error)
        }
        do {
            return try Diversion.parseAll(text, source: Self.diversionsPath)
        } catch {
            throw .diversions(error)
        }
    }

    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case unreadable(FileError)
        case diversions(Diversion.Error)

        public var description: String {
            switch self {
            case .unreadable(let error): error.description
            case .diversions(let error): error.description
            }
        }
    }
}
