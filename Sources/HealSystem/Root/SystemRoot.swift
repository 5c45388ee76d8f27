import Glibc

/// The root of the system under examination: `/` on the running system, a mounted offline
/// root in recovery, a clone in an environment. Every reader takes one, so a test can
/// point it at a temporary root.
public struct SystemRoot: Sendable, Hashable, CustomStringConvertible {
    /// Absolute path of the root directory, without a trailing slash ("/" stays "/").
    public let path: String

    /// - Throws: `SystemRoot.Error` when the path is missing, not a directory or unreadable.
    public init(_ path: String) throws(SystemRoot.Error) {
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
        // Absolute and free of symlinks, so reports and evidence name one place.
        if let resolved = realpath(normalized, nil) {
            self.path = String(cString: resolved)
            free(resolved)
        } else {
            self.path = normalized
        }
    }

    /// The host path of `absolute`, a path as the examined system sees it (`/etc/fstab`).
    public func host(_ absolute: String) -> String {
        let relative = absolute.drop { $0 == "/" }
        if path == "/" { return "/" + relative }
        return relative.isEmpty ? path : path + "/" + relative
    }

    /// The canonical form of `absolute` inside this root: every symbolic link on the way
    /// followed as the examined system would follow it (absolute targets are relative to
    /// this root, never the host's). Missing components are kept as written. Bounded: a
    /// loop ends after 40 links, like the kernel's ELOOP.
    public func canonical(_ absolute: String) -> String {
        // Unlike `resolveWithin`, which stops at the first missing component to say what is
        // missing, this keeps the rest of the path: a file about to be created has one.
        var pending = absolute.split(separator: "/").map(String.init)
        var resolved: [String] = []
        var links = 0
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component == "." || component.isEmpty { continue }
            if component == ".." { _ = resolved.popLast(); continue }
            let candidate = "/" + (resolved + [component]).joined(separator: "/")
            if links < 40, let target = FileReading.linkTarget(atPath: host(candidate)) {
                links += 1
                if target.hasPrefix("/") { resolved = [] }
                pending = target.split(separator: "/").map(String.init) + pending
            } else {
                resolved.append(component)
            }
        }
        return "/" + resolved.joined(separator: "/")
    }

    /// Whether this is the root of the running system.
    public var isLive: Bool { path == "/" }

    public var description: String { path }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unusable(path: String, reason: String)

        public var description: String {
            switch self {
            case .unusable(let path, let reason): "cannot use \(path) as a root: \(reason)"
            }
        }
    }
}
