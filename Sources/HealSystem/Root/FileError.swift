import Glibc

/// Why a file under a root (or on the host) could not be read or written. Every case keeps
/// the path as the caller named it; system failures keep their errno, so "does not exist"
/// (ENOENT), "permission denied" (EACCES) and "too many links" (ELOOP) stay different things.
public enum FileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path, or a folder on the way to it, does not exist (ENOENT, ENOTDIR).
    case missing(path: String)
    /// A system call failed; `call` names it (`openat2`, `read`, `renameat`).
    case system(path: String, call: String, errno: Int32)
    /// Not a regular file: a FIFO, device node, socket or folder is never opened for its
    /// contents (opening a FIFO blocks; opening a device can have effects, e.g. a watchdog).
    case notRegular(path: String, kind: FileKind)
    /// Larger than the reader's bound, refused before it was read.
    case tooLarge(path: String, limit: Int)
    /// The path passes through a symbolic link where none is allowed: writes to a root,
    /// clarity-heal's own state, the inside of a fix package.
    case throughLink(path: String, link: String)
    /// The operation needs a kind of object the path is not (a folder where a file is
    /// written, a file where a folder is made).
    case wrongKind(path: String, expected: FileKind, found: FileKind)

    public var description: String {
        switch self {
        case .missing(let path): "\(path) does not exist"
        case .system(let path, let call, let code): "cannot access \(path): \(call): \(String(cString: strerror(code)))"
        case .notRegular(let path, let kind): "\(path) is a \(kind), not a regular file; it is not read"
        case .tooLarge(let path, let limit): "\(path) is larger than \(limit) bytes"
        case .throughLink(let path, let link):
            link == path ? "\(path) is a symbolic link; it is not followed here"
                : "\(path) passes through the symbolic link \(link); it is not followed here"
        case .wrongKind(let path, let expected, let found): "\(path) is a \(found), not a \(expected)"
        }
    }

    /// The path the error is about.
    public var path: String {
        switch self {
        case .missing(let path), .system(let path, _, _), .notRegular(let path, _), .tooLarge(let path, _),
             .throughLink(let path, _), .wrongKind(let path, _, _): path
        }
    }

    /// The reason alone, without the path (for messages that name the path themselves).
    public var reason: String {
        switch self {
        case .missing: "does not exist"
        case .system(_, let call, let code): "\(call): \(String(cString: strerror(code)))"
        case .notRegular(_, let kind): "is a \(kind), not a regular file"
        case .tooLarge(_, let limit): "is larger than \(limit) bytes"
        case .throughLink(_, let link): "passes through the symbolic link \(link)"
        case .wrongKind(_, let expected, let found): "is a \(found), not a \(expected)"
        }
    }

    /// The errno behind the error, when a system call failed.
    public var errno: Int32? {
        switch self {
        case .missing: ENOENT
        case .system(_, _, let code): code
        default: nil
        }
    }

    /// The system call and errno this error stands for, for messages in errno's words
    /// (`open: Is a directory`).
    public var callAndErrno: (call: String, errno: Int32) {
        switch self {
        case .missing: ("open", ENOENT)
        case .system(_, let call, let code): (call, code)
        case .notRegular(_, let kind), .wrongKind(_, _, let kind):
            ("open", kind == .directory ? EISDIR : kind == .symlink ? ELOOP : EINVAL)
        case .tooLarge: ("read", EFBIG)
        case .throughLink: ("open", ELOOP)
        }
    }

    /// The same error about another path (a host path shown as the root names it).
    public func naming(_ shown: String) -> FileError {
        switch self {
        case .missing: .missing(path: shown)
        case .system(_, let call, let code): .system(path: shown, call: call, errno: code)
        case .notRegular(_, let kind): .notRegular(path: shown, kind: kind)
        case .tooLarge(_, let limit): .tooLarge(path: shown, limit: limit)
        case .throughLink(let path, let link): .throughLink(path: shown, link: link == path ? shown : link)
        case .wrongKind(_, let expected, let found): .wrongKind(path: shown, expected: expected, found: found)
        }
    }

    /// The error for a failed call: ENOENT and ENOTDIR mean missing.
    static func from(_ code: Int32, path: String, call: String) -> FileError {
        code == ENOENT || code == ENOTDIR ? .missing(path: path) : .system(path: path, call: call, errno: code)
    }
}

/// The type of a file system object, from `st_mode`.
public enum FileKind: String, Sendable, Equatable, CustomStringConvertible {
    case regular = "regular file"
    case directory = "folder"
    case symlink = "symbolic link"
    case fifo = "FIFO"
    case characterDevice = "character device"
    case blockDevice = "block device"
    case socket = "socket"

    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symlink
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        default: self = .regular
        }
    }

    public var description: String { rawValue }
}

/// Repeats a system call while it fails with EINTR.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}
