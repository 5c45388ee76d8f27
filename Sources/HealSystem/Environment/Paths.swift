import Glibc

/// Folder creation and removal for the environments' scratch space.
enum Paths {
    /// `mkdir -p`.
    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(EnvironmentError) {
        // A relative path stays relative (to the working folder): `--scratch .cache/x`.
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            built += "/" + component
            if mkdir(built, mode) != 0 && errno != EEXIST {
                throw .io(path: built, reason: String(cString: strerror(errno)))
            }
        }
    }

    /// `rm -rf` that never crosses into a mount point below `path` (a still-mounted clone
    /// must not be emptied through its mount).
    static func removeTree(_ path: String) throws(EnvironmentError) {
        guard let top = FileReading.status(atPath: path) else { return }
        try remove(path, device: top.st_dev)
    }

    private static func remove(_ path: String, device: dev_t) throws(EnvironmentError) {
        guard let st = FileReading.status(atPath: path) else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard st.st_dev == device else {
                throw .io(path: path, reason: "is a mount point; refusing to remove below it")
            }
            for name in FileReading.directoryEntries(atPath: path) {
                try remove(path + "/" + name, device: device)
            }
            if rmdir(path) != 0 { throw .io(path: path, reason: String(cString: strerror(errno))) }
        } else if unlink(path) != 0 {
            throw .io(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
