import HealCore

extension Changeset {
    /// Writes this changeset into `root`, a copy of the root it was read from (a boot
    /// layer of the same disk): folders, then files and links with their owner and mode,
    /// then removals, deepest first. Not durable: the copy is a throwaway layer, synced
    /// by its unmount.
    /// - Throws: `FileError` naming the first path that could not be written.
    public func write(into root: SystemRoot) throws(FileError) {
        let files = root.files
        var removals: [String] = []
        for path in paths {
            guard let change = changes[path] else { continue }
            switch change {
            case .directory(let mode, let owner, let group):
                try files.makeDirectories(path, links: .followInside)
                try files.setMetadata(root.canonical(path), owner: (owner, group), mode: mode, times: nil)
            case .file(let contents, let mode, let owner, let group):
                let target = root.canonical(path)
                try files.makeDirectories(PackagePath.parent(target), links: .followInside)
                try files.replaceFile(target, bytes: contents, links: .followInside, mode: mode, durable: false)
                try files.setMetadata(target, owner: (owner, group), mode: mode, times: nil)
            case .symlink(let target, _, _):
                let parent = root.canonical(PackagePath.parent(path))
                try files.makeDirectories(parent, links: .followInside)
                try files.replaceSymlink((parent == "/" ? "" : parent) + "/" + PackagePath.name(path), target: target)
            case .removed:
                removals.append(path)
            }
        }
        for path in removals.reversed() {
            let parent = root.canonical(PackagePath.parent(path))
            try files.remove((parent == "/" ? "" : parent) + "/" + PackagePath.name(path))
        }
    }
}
