import Glibc
import HealCore

/// Resolves manifest paths on the target root before anything is written, refusing any
/// path whose folders lead out of the root through a symbolic link.
enum RootPaths {
    /// The path inside `root` that a write to `path` reaches: the links among its folders
    /// followed (the last component is never followed: replacing a link replaces the link).
    /// - Throws: `ApplyRefusal.linkLeavesRoot` for an absolute link (on a root other than
    ///   `/`, the kernel would follow it from the host's `/`) or a relative one that climbs
    ///   above the root; `.parentNotDirectory` when a folder on the way is a file.
    static func resolve(_ path: String, in root: SystemRoot, fix: String) throws(ApplyRefusal) -> String {
        var pending = PackagePath.components(PackagePath.parent(path))
        var resolved: [String] = []
        var links = 0
        var lastLink = ("", "")
        let offline = root.path != "/"
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component.isEmpty || component == "." { continue }
            if component == ".." {
                if resolved.isEmpty {
                    // Above the root: the kernel, walking the host path, would leave it.
                    if offline { throw .linkLeavesRoot(fix: fix, path: path, link: lastLink.0, target: lastLink.1) }
                    continue
                }
                resolved.removeLast()
                continue
            }
            let candidate = "/" + (resolved + [component]).joined(separator: "/")
            guard let st = FileReading.status(atPath: root.host(candidate)) else {
                // Missing: an earlier step of the plan makes it, or the write fails.
                resolved.append(component)
                continue
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                resolved.append(component)
            case S_IFLNK:
                let target = FileReading.linkTarget(atPath: root.host(candidate)) ?? ""
                links += 1
                guard links <= 40, !target.isEmpty else {
                    throw .linkLeavesRoot(fix: fix, path: path, link: candidate, target: target)
                }
                lastLink = (candidate, target)
                if target.hasPrefix("/") {
                    if offline { throw .linkLeavesRoot(fix: fix, path: path, link: candidate, target: target) }
                    resolved = []
                }
                pending = PackagePath.components(target) + pending
            default:
                throw .parentNotDirectory(fix: fix, path: path, component: candidate)
            }
        }
        return "/" + (resolved + [PackagePath.name(path)]).joined(separator: "/")
    }
}
