import Glibc
import HealCore

/// Checks manifest paths on the target root before anything is written: a fix never writes
/// through a symbolic link. Every folder on the way to a path that exists must be a real
/// folder; a link there (absolute or relative, leading out of the root or not) refuses the
/// package. The last component is never followed: replacing a link replaces the link.
///
/// Links the package itself makes are refused by `ApplyPlan.make` (pure: a path below a
/// link step). Execution refuses links again (`ConfinedDirectory`'s writes never pass one),
/// so a root changed between the check and the write is caught too.
enum RootPaths {
    /// The path a write to `path` reaches (the path itself: no link is followed).
    /// - Throws: `ApplyRefusal.passesThroughLink` for a link among its folders,
    ///   `.parentNotDirectory` when a folder on the way is a file.
    static func resolve(_ path: String, in root: SystemRoot, fix: String) throws(ApplyRefusal) -> String {
        var walked = ""
        for component in PackagePath.components(PackagePath.parent(path)) {
            walked += "/" + component
            guard let st = root.files.statusIfPresent(walked, links: .refuse) else {
                // Missing: an earlier step of the plan makes it, or the write fails.
                return path
            }
            switch FileKind(mode: st.st_mode) {
            case .directory:
                continue
            case .symlink:
                let target = ((try? root.files.linkTarget(walked, links: .refuse)) ?? nil) ?? "?"
                throw .passesThroughLink(fix: fix, path: path, link: walked, target: target)
            default:
                throw .parentNotDirectory(fix: fix, path: path, component: walked)
            }
        }
        return path
    }
}
