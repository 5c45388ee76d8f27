/// One step of a repair, computed in pure code by a strategy and executed idempotently in an
/// environment, so `repair --dry-run` can print it. Paths are absolute as the examined system
/// sees them.
public enum RepairOperation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Replace (or create) a regular file with these bytes.
    case writeFile(path: String, contents: [UInt8], mode: UInt32)
    /// Put back a file as its Debian package ships it: the entry `member` (`usr/sbin/init`)
    /// of the data archive of the `.deb` at `package` (a path in the examined system, in
    /// apt's cache), streamed to `path` and checked against `md5`, dpkg's md5sums digest,
    /// before it takes the place of what is there. An entry that is a symbolic link is
    /// restored as that link (`md5` nil). Consecutive restores from one package are done in
    /// one pass over it, so restoring a whole module tree reads the package once.
    case restorePackagedFile(path: String, package: String, member: String, md5: String?)
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
    /// Check and repair an ext2/3/4 filesystem with `e2fsck -fy`, at block level: the
    /// device (an image file or a block device node of the examined system), identified by
    /// its UUID so apply can tell it is still the same filesystem. No file-level clone can
    /// run it; the engine runs it on a copy-on-write snapshot of the device
    /// (`BlockSnapshot`) and apply keeps an `e2fsck -z` undo file as the backup.
    case checkFilesystem(device: String, uuid: String, fsType: String)

    /// The paths this operation may write: exact paths, or prefixes ending in `/`.
    public var declaredPaths: [String] {
        switch self {
        case .writeFile(let path, _, _), .restorePackagedFile(let path, _, _, _), .removeFile(let path), .makeSymlink(let path, _),
             .setMode(let path, _), .makeDirectory(let path, _):
            [path]
        case .runTool(_, let mayChange):
            mayChange
        case .checkFilesystem:
            []  // block level: no path of the root is written through the filesystem
        }
    }

    /// Whether the operation changes a device below its filesystem, so only a block-level
    /// snapshot (never a file-level clone) can try it.
    public var isBlockLevel: Bool {
        if case .checkFilesystem = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .writeFile(let path, let contents, let mode):
            "write \(path) (\(contents.count) bytes, mode \(String(mode, radix: 8)))"
        case .restorePackagedFile(let path, let package, _, let md5):
            "restore \(path) from \(package.split(separator: "/").last.map(String.init) ?? package)"
                + (md5.map { " (md5 \($0))" } ?? " (a link)")
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
        case .checkFilesystem(let device, let uuid, let fsType):
            "e2fsck -fy \(device) (\(fsType) UUID \(uuid))"
        }
    }
}
