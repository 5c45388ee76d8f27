import Glibc

/// The root of the system under examination: `/` on the running system, a mounted offline
/// root in recovery, a clone in an environment. Every reader takes one (the root is always
/// a parameter, never assumed).
///
/// Its files are reached only through `files`, a `ConfinedDirectory`: paths resolve inside
/// the root as the examined system would resolve them once booted, never onto the host, and
/// only regular files are read, non-blocking and bounded (docs/security.md).
public struct SystemRoot: Sendable, Hashable, CustomStringConvertible {
    /// Absolute path of the root directory, without a trailing slash ("/" stays "/").
    public let path: String
    /// The root's files, every path confined to it.
    public let files: ConfinedDirectory

    /// - Throws: `SystemRoot.Error` when the path is missing, not a directory or unreadable.
    public init(_ path: String, resolver: ConfinedDirectory.Resolver = .preferred) throws(SystemRoot.Error) {
        var normalized = path
        while normalized.count > 1 && normalized.hasSuffix("/") { normalized.removeLast() }
        var st = stat()
        guard stat(normalized, &st) == 0 else {
            throw .unusable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw .unusable(path: path, reason: "not a directory")
        }
        guard access(normalized, R_OK | X_OK) == 0 else {
            throw .unusable(path: path, reason: String(cString: strerror(errno)))
        }
        do {
            files = try ConfinedDirectory(normalized, resolver: resolver, marksCrashPoints: true)
        } catch {
            throw .unusable(path: path, reason: error.reason)
        }
        // Absolute and free of symlinks (the kernel's name for the open folder), so reports
        // and evidence name one place.
        self.path = files.path
    }

    /// The host path of `absolute`, a path as the examined system sees it (`/etc/fstab`).
    /// Nothing is resolved: for messages, and for tools that run chrooted into the root.
    /// Never open it: read through `files`.
    public func host(_ absolute: String) -> String {
        files.hostPath(absolute)
    }

    /// The canonical form of `absolute` inside this root: every symbolic link on the way
    /// followed as the examined system would follow it (absolute targets are relative to
    /// this root, never the host's). Missing components are kept as written.
    public func canonical(_ absolute: String) -> String {
        files.canonical(absolute)
    }

    /// Resolves `path` component by component as the kernel would inside a chroot to this
    /// root, recording every link met.
    func resolveWithin(_ path: String) -> RootResolution {
        files.resolve(path)
    }

    /// Whether this is the root of the running system.
    public var isLive: Bool { path == "/" }

    public var description: String { path }

    public static func == (lhs: SystemRoot, rhs: SystemRoot) -> Bool { lhs.path == rhs.path }
    public func hash(into hasher: inout Hasher) { hasher.combine(path) }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unusable(path: String, reason: String)

        public var description: String {
            switch self {
            case .unusable(let path, let reason): "cannot use \(path) as a root: \(reason)"
            }
        }
    }
}

/// A path followed through the links inside a root.
typealias RootResolution = ConfinedDirectory.Resolution
/// One link met while resolving inside a root.
typealias RootLink = ConfinedDirectory.Resolution.Link
