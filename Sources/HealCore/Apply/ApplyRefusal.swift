/// Why a fix package is refused before a single byte of the target root is written.
/// Each reads like "cannot apply fix-…: /etc/fstab …".
public enum ApplyRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// A manifest path that is not absolute and normalised (`..`, `.`, `//`, NUL, empty).
    case invalidPath(fix: String, path: String, reason: String)
    /// The same path (after following links inside the root) named twice.
    case duplicatePath(fix: String, path: String)
    /// A folder on the way to `path` is a symbolic link (on the root, or one the package
    /// itself makes): a fix never writes through a link.
    case passesThroughLink(fix: String, path: String, link: String, target: String)
    /// A component on the way to `path` exists and is neither a folder nor a link.
    case parentNotDirectory(fix: String, path: String, component: String)
    /// A file change without contents, a link without a target.
    case incomplete(fix: String, path: String, reason: String)
    /// A fix id that cannot name a folder (`/`, `..`, spaces): it names the state folder.
    case invalidFixID(String)
    /// The package itself failed to open (checksums, truncation, malformed manifest).
    case package(fix: String, reason: String)
    /// The target changed since the fix was made (needs old checksums in the manifest).
    case changedSinceFix(fix: String, path: String)
    /// The fix is already applied to this root.
    case alreadyApplied(fix: String)
    /// A block-level fix whose device is not safe to repair now: mounted, no longer the
    /// filesystem the fix was made for, or holding the backup's own folder.
    case deviceUnsafe(fix: String, device: String, reason: String)

    public var description: String {
        switch self {
        case .invalidPath(let fix, let path, let reason): "cannot apply \(fix): \(path.debugDescription) \(reason)"
        case .duplicatePath(let fix, let path): "cannot apply \(fix): the manifest names \(path) twice"
        case .passesThroughLink(let fix, let path, let link, let target):
            "cannot apply \(fix): \(path) would be written through the symbolic link \(link) -> \(target); a fix never writes through a link"
        case .parentNotDirectory(let fix, let path, let component):
            "cannot apply \(fix): \(path) lies below \(component), which is not a folder"
        case .incomplete(let fix, let path, let reason): "cannot apply \(fix): \(path) \(reason)"
        case .invalidFixID(let id): "cannot apply \(id.debugDescription): not a usable fix id"
        case .package(let fix, let reason): "cannot apply \(fix): \(reason)"
        case .changedSinceFix(let fix, let path): "cannot apply \(fix): \(path) changed since the fix was made"
        case .alreadyApplied(let fix): "cannot apply \(fix): it is already applied"
        case .deviceUnsafe(let fix, let device, let reason): "cannot apply \(fix): \(device) \(reason)"
        }
    }
}
