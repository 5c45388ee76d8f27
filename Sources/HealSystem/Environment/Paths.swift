import Glibc

/// Folder creation and removal for the environments' scratch space.
enum Paths {
    /// `mkdir -p`. Never after a teardown has begun (`SignalTeardown.checkpoint`): a folder
    /// made then would outlive the process.
    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(EnvironmentError) {
        SignalTeardown.checkpoint()
        // A relative path stays relative (to the working folder): `--scratch .cache/x`.
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            built += "/" + component
            if mkdir(built, mode) != 0 && errno != EEXIST {
                throw .io(path: built, reason: String(cString: strerror(errno)))
            }
        }
    }

    /// At most this many folders of one removal are open at a time; deeper ones are found
    /// again through `..` (a copied root may nest folders deeper than the descriptor limit).
    static let openFolderLimit = 32

    /// `rm -rf` that never follows a link and never crosses into another filesystem: every
    /// entry is reached with `openat`/`unlinkat` from its folder's descriptor (`O_NOFOLLOW`),
    /// and a folder whose `st_dev` differs from the removed tree's (a mount point: a clone
    /// still mounted, a mount nobody unmounted) is left with everything in it, and named in
    /// the error. Removes what it can either way; a missing `path` is not an error.
    ///
    /// `path` itself must be on its parent's filesystem: a mount point is never emptied.
    static func removeTree(_ path: String) throws(EnvironmentError) {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let slash = trimmed.lastIndex(of: "/")
        let parent = slash.map { $0 == trimmed.startIndex ? "/" : String(trimmed[..<$0]) } ?? "."
        let name = slash.map { String(trimmed[trimmed.index(after: $0)...]) } ?? String(trimmed)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw .io(path: path, reason: "not a removable folder name")
        }
        let parentFD = retryingEINTR { open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard parentFD >= 0 else {
            if errno == ENOENT { return }
            throw .io(path: parent, reason: String(cString: strerror(errno)))
        }
        defer { close(parentFD) }
        var parentStatus = stat()
        guard fstat(parentFD, &parentStatus) == 0 else { throw .io(path: parent, reason: String(cString: strerror(errno))) }
        try remove(Array(name.utf8CString), in: parentFD, path: String(trimmed), device: parentStatus.st_dev)
    }

    /// Removes the entry `name` of the folder open at `parentFD`.
    private static func remove(_ name: [CChar], in parentFD: Int32, path: String, device: dev_t) throws(EnvironmentError) {
        var st = stat()
        guard fstatat(parentFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw .io(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            if unlinkat(parentFD, name, 0) != 0 && errno != ENOENT {
                throw .io(path: path, reason: String(cString: strerror(errno)))
            }
            return
        }
        guard st.st_dev == device else {
            throw .io(path: path, reason: "is a mount point; refusing to remove below it")
        }
        var levels: [Level] = []
        var firstError: EnvironmentError?
        func failed(_ error: EnvironmentError) { if firstError == nil { firstError = error } }

        guard let top = Level.open(name, in: parentFD, expected: st, path: path) else {
            throw .io(path: path, reason: String(cString: strerror(errno)))
        }
        levels.append(top)
        while let current = levels.last {
            let index = levels.count - 1
            if let entry = levels[index].entries.popLast() {
                let entryPath = current.path + "/" + String(decoding: entry.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
                var child = stat()
                guard fstatat(current.fd, entry, &child, AT_SYMLINK_NOFOLLOW) == 0 else {
                    if errno != ENOENT { failed(.io(path: entryPath, reason: String(cString: strerror(errno)))) }
                    continue
                }
                if (child.st_mode & S_IFMT) != S_IFDIR {
                    if unlinkat(current.fd, entry, 0) != 0 && errno != ENOENT {
                        failed(.io(path: entryPath, reason: String(cString: strerror(errno))))
                    }
                    continue
                }
                guard child.st_dev == device else {
                    failed(.io(path: entryPath, reason: "is a mount point; refusing to remove below it"))
                    continue
                }
                guard let level = Level.open(entry, in: current.fd, expected: child, path: entryPath) else {
                    failed(.io(path: entryPath, reason: String(cString: strerror(errno))))
                    continue
                }
                levels.append(level)
                // Bound the open descriptors: the folder this many levels up is closed and
                // found again through `..` when its turn comes.
                let closing = levels.count - 1 - openFolderLimit
                if closing >= 0 && levels[closing].fd >= 0 {
                    close(levels[closing].fd)
                    levels[closing].fd = -1
                }
                continue
            }
            let done = levels.removeLast()
            defer { close(done.fd) }
            let parentOfDone: Int32
            if let above = levels.last {
                if above.fd < 0 {
                    // `..` of the finished folder, checked to be the very folder left above.
                    let up = retryingEINTR { openat(done.fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                    var upStatus = stat()
                    guard up >= 0, fstat(up, &upStatus) == 0, upStatus.st_dev == above.device, upStatus.st_ino == above.inode else {
                        if up >= 0 { close(up) }
                        for level in levels where level.fd >= 0 { close(level.fd) }
                        throw .io(path: above.path, reason: "moved while it was being removed")
                    }
                    levels[levels.count - 1].fd = up
                }
                parentOfDone = levels[levels.count - 1].fd
            } else {
                parentOfDone = parentFD
            }
            if unlinkat(parentOfDone, done.name, AT_REMOVEDIR) != 0 && errno != ENOENT {
                // A folder left non-empty by an earlier failure says nothing new.
                if errno != ENOTEMPTY || firstError == nil {
                    failed(.io(path: done.path, reason: String(cString: strerror(errno))))
                }
            }
        }
        if let firstError { throw firstError }
    }

    /// One folder being emptied: its descriptor (-1 while closed), identity, name in its
    /// parent and the entries still to remove, as raw bytes (a copied root may hold names
    /// that are not UTF-8).
    private struct Level {
        var fd: Int32
        var device: dev_t
        var inode: ino_t
        var name: [CChar]
        var path: String
        var entries: [[CChar]]

        /// Opens `name` without following a link and checks it is the folder `expected`
        /// describes; nil (errno set) otherwise.
        static func open(_ name: [CChar], in parentFD: Int32, expected: stat, path: String) -> Level? {
            let fd = retryingEINTR { openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { return nil }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_dev == expected.st_dev, st.st_ino == expected.st_ino else {
                close(fd)
                errno = ESTALE
                return nil
            }
            guard let entries = entries(of: fd) else {
                let code = errno
                close(fd)
                errno = code
                return nil
            }
            return Level(fd: fd, device: st.st_dev, inode: st.st_ino, name: name, path: path, entries: entries)
        }

        /// The names in the folder open at `fd`, NUL-terminated, without `.` and `..`.
        private static func entries(of fd: Int32) -> [[CChar]]? {
            let copy = dup(fd)
            guard copy >= 0 else { return nil }
            guard let stream = fdopendir(copy) else {
                close(copy)
                return nil
            }
            defer { closedir(stream) }
            var names: [[CChar]] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) } + [0]
                }
                if name == [46, 0] || name == [46, 46, 0] { continue }
                names.append(name)
            }
            return names
        }
    }
}
