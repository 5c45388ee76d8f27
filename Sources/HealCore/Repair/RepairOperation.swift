/// One step of a repair, computed in pure code by a strategy and executed idempotently in an
/// environment (STYLE.md habit 8). Paths are absolute as the examined system sees them.
public enum RepairOperation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Replace (or create) a regular file with these bytes.
    case writeFile(path: String, contents: [UInt8], mode: UInt32)
    /// Remove a file or symbolic link (a directory only when empty). Absent is success.
    case removeFile(path: String)
    /// Make `path` a symbolic link to `target`, replacing what is there.
    case makeSymlink(path: String, target: String)
    /// Make a folder (and its parents) with these permission bits; an existing folder only
    /// gets the bits.
    case makeDirectory(path: String, mode: UInt32)
    /// Change the permission bits of `path`.
    case setMode(path: String, mode: UInt32)
    /// Run a distro tool inside the clone (a chroot with /proc, /sys and /dev), declaring
    /// which paths it may change; the changeset is checked against that declaration.
    case runTool(arguments: [String], mayChange: [String])

    /// The paths this operation may write: exact paths, or prefixes ending in `/`.
    public var declaredPaths: [String] {
        switch self {
        case .writeFile(let path, _, _), .removeFile(let path), .makeSymlink(let path, _),
             .setMode(let path, _), .makeDirectory(let path, _):
            [path]
        case .runTool(_, let mayChange):
            mayChange
        }
    }

    public var description: String {
        switch self {
        case .writeFile(let path, let contents, let mode):
            "write \(path) (\(contents.count) bytes, mode \(String(mode, radix: 8)))"
        case .removeFile(let path):
            "remove \(path)"
        case .makeSymlink(let path, let target):
            "link \(path) -> \(target)"
        case .makeDirectory(let path, let mode):
            "mkdir \(path) (mode \(String(mode, radix: 8)))"
        case .setMode(let path, let mode):
            "chmod \(String(mode, radix: 8)) \(path)"
        case .runTool(let arguments, let mayChange):
            "run \(arguments.joined(separator: " "))"
                + (mayChange.isEmpty ? " (changes nothing)" : " (may change \(mayChange.joined(separator: ", ")))")
        }
    }
}
