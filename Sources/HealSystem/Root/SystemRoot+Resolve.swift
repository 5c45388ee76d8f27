import Glibc

/// A path followed through symbolic links inside a root.
enum RootResolution: Equatable {
    /// Every component exists; `path` is the final path as the root sees it.
    case resolved(path: String, chain: [RootLink])
    /// `path` (as the root sees it) does not exist, or a component is not a folder.
    case missing(path: String, chain: [RootLink])
    /// More than 40 links (the kernel's `ELOOP` limit).
    case loop(chain: [RootLink])

    var chain: [RootLink] {
        switch self {
        case .resolved(_, let chain), .missing(_, let chain), .loop(let chain): chain
        }
    }

    var path: String {
        switch self {
        case .resolved(let path, _), .missing(let path, _): path
        case .loop(let chain): chain.last?.link ?? "/"
        }
    }
}

/// One link met while resolving: where it is and what it says, as the root sees them.
struct RootLink: Equatable {
    var link: String
    var target: String
}

extension SystemRoot {
    /// Resolves `path` component by component as the kernel would inside a chroot to this
    /// root: absolute link targets restart at the root, `..` never climbs above it.
    func resolveWithin(_ path: String) -> RootResolution {
        var pending = path.split(separator: "/").map(String.init)
        pending.reverse()
        var current: [String] = []
        var chain: [RootLink] = []
        while let component = pending.popLast() {
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                _ = current.popLast()
                continue
            }
            let candidate = "/" + (current + [component]).joined(separator: "/")
            guard let st = FileReading.status(atPath: host(candidate)) else {
                return .missing(path: candidate, chain: chain)
            }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                guard chain.count < 40 else { return .loop(chain: chain) }
                let target = FileReading.linkTarget(atPath: host(candidate)) ?? ""
                chain.append(RootLink(link: candidate, target: target))
                if target.hasPrefix("/") { current.removeAll() }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
                continue
            }
            if !pending.isEmpty && (st.st_mode & S_IFMT) != S_IFDIR {
                return .missing(path: candidate + "/" + pending.reversed().joined(separator: "/"), chain: chain)
            }
            current.append(component)
        }
        return .resolved(path: "/" + current.joined(separator: "/"), chain: chain)
    }
}
