import Glibc
import HealCore

/// Writes that survive a power cut and never leave the directory.
///
/// Every change is made relative to an open descriptor of the folder it happens in, that
/// folder reached without passing any symbolic link (`RESOLVE_NO_SYMLINKS`, or the walk's
/// `.refuse`): a link planted in the root, or made by an earlier step of the same fix,
/// cannot redirect a write onto the host. A file is replaced by write-temp (a fixed hidden
/// name beside it, so a redo after a crash replaces what the crash left), fsync, rename,
/// fsync of the folder: a crash leaves the old or the new file, never half of one.
///
/// With `links: .followInside` (edits in a clone, which mirror what the booted system would
/// do) the folders are first resolved to their canonical path inside the directory, and the
/// write then happens on that link-free path. The last component is never followed:
/// replacing a link replaces the link.
extension ConfinedDirectory {
    static let temporarySuffix = ".clarity-heal.tmp"
    static let trashSuffix = ".clarity-heal.trash"

    /// The folder a change to `path` happens in, open for `*at` calls and `fsync`, and the
    /// last component's name.
    func parent(of path: String, links: Links) throws(FileError) -> (folder: OpenFile, name: String) {
        let components = path.split(separator: "/").map(String.init).filter { $0 != "." }
        guard let name = components.last, name != ".." else {
            throw .wrongKind(path: path, expected: .regular, found: .directory)
        }
        var folderPath = "/" + components.dropLast().joined(separator: "/")
        if links == .followInside { folderPath = canonical(folderPath) }
        let located: Int32
        do {
            located = try locate(folderPath, links: .refuse, followLast: true, directory: true)
        } catch {
            // Name the path written, not only its folder.
            if case .throughLink(_, let link) = error { throw .throughLink(path: path, link: link) }
            throw error
        }
        defer { close(located) }
        let fd = try reopen(located, flags: O_RDONLY | O_DIRECTORY, path: folderPath)
        return (OpenFile(descriptor: fd, path: folderPath, status: try Self.fstatus(fd, path: folderPath)), name)
    }

    /// `fstatat` of a name in an open folder, without following it; nil when absent.
    static func statusAt(_ folder: OpenFile, _ name: String) throws(FileError) -> stat? {
        var st = stat()
        if fstatat(folder.descriptor, name, &st, AT_SYMLINK_NOFOLLOW) == 0 { return st }
        if errno == ENOENT { return nil }
        throw .system(path: folder.path + "/" + name, call: "fstatat", errno: errno)
    }

    // MARK: Files and links

    /// Replaces `path` with a regular file whose bytes `produce` writes, durably.
    /// - Parameters:
    ///   - mode: permission bits of the new file.
    ///   - owner: `(uid, gid)` to set (before the mode: chown clears set-id bits); nil keeps
    ///     the creator's.
    ///   - produce: writes the contents into the temporary file; a throw removes it and
    ///     leaves `path` as it was.
    ///   - durable: fsync the file and its folder (a real root); a clone, thrown away
    ///     after, skips the syncs.
    public func replaceFile(_ path: String, links: Links = .refuse, mode: UInt32 = 0o644,
                            owner: (uid: UInt32, gid: UInt32)? = nil, durable: Bool = true,
                            produce: (OpenFile) throws(FileError) -> Void) throws(FileError) {
        let (folder, name) = try parent(of: path, links: links)
        if let existing = try Self.statusAt(folder, name), (existing.st_mode & S_IFMT) == S_IFDIR {
            throw .wrongKind(path: path, expected: .regular, found: .directory)
        }
        let temp = "." + name + Self.temporarySuffix
        try Self.unlinkIfPresent(folder, temp)
        let fd = retryingEINTR { openat(folder.descriptor, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw .system(path: path, call: "openat", errno: errno) }
        let file = OpenFile(descriptor: fd, path: path, status: stat())
        do throws(FileError) {
            try produce(file)
            if let owner, fchown(fd, owner.uid, owner.gid) != 0 { throw FileError.system(path: path, call: "fchown", errno: errno) }
            guard fchmod(fd, mode_t(mode & 0o7777)) == 0 else { throw FileError.system(path: path, call: "fchmod", errno: errno) }
            if durable { try file.sync() }
        } catch {
            unlinkat(folder.descriptor, temp, 0)
            throw error
        }
        if durable {
            try commit(folder, temp, over: name, path: path)
        } else if renameat(folder.descriptor, temp, folder.descriptor, name) != 0 {
            throw .system(path: path, call: "renameat", errno: errno)
        }
    }

    /// Replaces `path` with a regular file holding `bytes`, durably.
    public func replaceFile(_ path: String, bytes: [UInt8], links: Links = .refuse, mode: UInt32 = 0o644,
                            owner: (uid: UInt32, gid: UInt32)? = nil, durable: Bool = true) throws(FileError) {
        try replaceFile(path, links: links, mode: mode, owner: owner, durable: durable) { (file) throws(FileError) in
            try file.write(bytes)
        }
    }

    /// Sets the permission bits of what is at `path` (a link followed when `links` is
    /// `.followInside`). The object is never opened for I/O: `chmod` through
    /// `/proc/self/fd` of an `O_PATH` descriptor.
    public func setMode(_ path: String, mode: UInt32, links: Links = .refuse) throws(FileError) {
        let located = try locate(path, links: links, followLast: links == .followInside)
        defer { close(located) }
        guard chmod("/proc/self/fd/\(located)", mode_t(mode & 0o7777)) == 0 else {
            throw .system(path: path, call: "chmod", errno: errno)
        }
    }

    /// Replaces `path` with a symbolic link to `target` (the target is stored as given and
    /// never followed here).
    public func replaceSymlink(_ path: String, target: String, links: Links = .refuse,
                               owner: (uid: UInt32, gid: UInt32)? = nil) throws(FileError) {
        let (folder, name) = try parent(of: path, links: links)
        if let existing = try Self.statusAt(folder, name), (existing.st_mode & S_IFMT) == S_IFDIR {
            throw .wrongKind(path: path, expected: .symlink, found: .directory)
        }
        let temp = "." + name + Self.temporarySuffix
        try Self.unlinkIfPresent(folder, temp)
        guard symlinkat(target, folder.descriptor, temp) == 0 else { throw .system(path: path, call: "symlinkat", errno: errno) }
        if let owner, fchownat(folder.descriptor, temp, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 {
            let code = errno
            unlinkat(folder.descriptor, temp, 0)
            throw .system(path: path, call: "fchownat", errno: code)
        }
        try commit(folder, temp, over: name, path: path)
    }

    /// Makes `path` a hard link to `existing` (both inside, neither through a link).
    public func link(_ path: String, to existing: String) throws(FileError) {
        let (source, sourceName) = try parent(of: existing, links: .refuse)
        let (folder, name) = try parent(of: path, links: .refuse)
        let temp = "." + name + Self.temporarySuffix
        try Self.unlinkIfPresent(folder, temp)
        guard linkat(source.descriptor, sourceName, folder.descriptor, temp, 0) == 0 else {
            throw .system(path: path, call: "linkat", errno: errno)
        }
        try commit(folder, temp, over: name, path: path)
    }

    /// Renames a durable temporary over its final name and makes the rename durable.
    func commit(_ folder: OpenFile, _ temp: String, over name: String, path: String) throws(FileError) {
        crashPoint()
        guard renameat(folder.descriptor, temp, folder.descriptor, name) == 0 else {
            throw .system(path: path, call: "renameat", errno: errno)
        }
        crashPoint()
        try folder.sync()
    }

    /// A power-loss test point, on a root only (`marksCrashPoints`).
    func crashPoint() {
        if marksCrashPoints { CrashPoint.reached() }
    }

    static func unlinkIfPresent(_ folder: OpenFile, _ name: String) throws(FileError) {
        if unlinkat(folder.descriptor, name, 0) != 0 && errno != ENOENT {
            throw .system(path: folder.path + "/" + name, call: "unlinkat", errno: errno)
        }
    }

    /// Opens `path` for appending, creating it with `mode` when absent (journal, ledger).
    /// The last component must be a regular file, never a link.
    /// - Parameter readable: open it read-write (the ledger reads what it appends to).
    public func openForAppend(_ path: String, mode: UInt32 = 0o644, create: Bool = true,
                              readable: Bool = false) throws(FileError) -> OpenFile {
        let (folder, name) = try parent(of: path, links: .refuse)
        // Looked at before it is opened: opening a FIFO or a device can block or act.
        if let existing = try Self.statusAt(folder, name) {
            let kind = FileKind(mode: existing.st_mode)
            if kind == .symlink { throw .throughLink(path: path, link: path) }
            guard kind == .regular else { throw .notRegular(path: path, kind: kind) }
        }
        let flags = (readable ? O_RDWR : O_WRONLY) | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY
            | (create ? O_CREAT : 0)
        let fd = retryingEINTR { openat(folder.descriptor, name, flags, mode_t(mode)) }
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP { throw .throughLink(path: path, link: path) }
            throw FileError.from(code, path: path, call: "openat")
        }
        let st: stat
        do { st = try Self.fstatus(fd, path: path) } catch { close(fd); throw error }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .notRegular(path: path, kind: FileKind(mode: st.st_mode))
        }
        // Created here: the new name must be durable in its folder.
        if create { try folder.sync() }
        return OpenFile(descriptor: fd, path: path, status: st)
    }

    /// Creates a new file at `path` for writing, replacing whatever file was there (never a
    /// folder, never through a link). Not durable until the caller syncs it and its folder.
    public func create(_ path: String, mode: UInt32 = 0o600) throws(FileError) -> OpenFile {
        let (folder, name) = try parent(of: path, links: .refuse)
        try Self.unlinkIfPresent(folder, name)
        let fd = retryingEINTR { openat(folder.descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode)) }
        guard fd >= 0 else { throw .system(path: path, call: "openat", errno: errno) }
        return OpenFile(descriptor: fd, path: path, status: (try? Self.fstatus(fd, path: path)) ?? stat())
    }

    /// The fixed temporary name beside `path` (`/etc/.fstab.clarity-heal.tmp`) that the
    /// replacing writes use; a redo after a crash finds and replaces it.
    public static func temporaryPath(for path: String) -> String {
        let parent = PackagePath.parent(path), name = PackagePath.name(path)
        return (parent == "/" ? "" : parent) + "/." + name + temporarySuffix
    }

    /// Renames what was built at `temporaryPath(for: path)` over `path`, durably (a folder
    /// at `path` must have been removed first).
    public func commitTemporary(over path: String) throws(FileError) {
        let (folder, name) = try parent(of: path, links: .refuse)
        try commit(folder, "." + name + Self.temporarySuffix, over: name, path: path)
    }

    /// Gives the folder or file at `path` (never a link) this owner, mode and times, durably.
    public func setMetadata(_ path: String, owner: (uid: UInt32, gid: UInt32), mode: UInt32,
                            times: (access: timespec, modification: timespec)?) throws(FileError) {
        let (folder, name) = try parent(of: path, links: .refuse)
        guard let st = try Self.statusAt(folder, name) else { throw .missing(path: path) }
        let kind = FileKind(mode: st.st_mode)
        guard kind == .directory || kind == .regular else { throw .wrongKind(path: path, expected: .directory, found: kind) }
        let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (kind == .directory ? O_DIRECTORY : 0)
        let fd = retryingEINTR { openat(folder.descriptor, name, flags) }
        guard fd >= 0 else { throw .system(path: path, call: "openat", errno: errno) }
        let file = OpenFile(descriptor: fd, path: path, status: st)
        guard fchown(fd, owner.uid, owner.gid) == 0 else { throw .system(path: path, call: "fchown", errno: errno) }
        guard fchmod(fd, mode_t(mode & 0o7777)) == 0 else { throw .system(path: path, call: "fchmod", errno: errno) }
        if let times {
            var values = [times.access, times.modification]
            guard futimens(fd, &values) == 0 else { throw .system(path: path, call: "futimens", errno: errno) }
        }
        try file.sync()
    }

    // MARK: Folders

    /// Makes `path` a folder with this mode and owner (creating it, or only setting them),
    /// durably. Something else at `path` is refused.
    public func makeDirectory(_ path: String, mode: UInt32 = 0o755, owner: (uid: UInt32, gid: UInt32)? = nil,
                              links: Links = .refuse) throws(FileError) {
        let (folder, name) = try parent(of: path, links: links)
        if let st = try Self.statusAt(folder, name) {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw .wrongKind(path: path, expected: .directory, found: FileKind(mode: st.st_mode))
            }
        } else if mkdirat(folder.descriptor, name, 0o700) != 0 && errno != EEXIST {
            throw .system(path: path, call: "mkdirat", errno: errno)
        }
        let fd = retryingEINTR { openat(folder.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw .system(path: path, call: "openat", errno: errno) }
        let made = OpenFile(descriptor: fd, path: path, status: stat())
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 { throw .system(path: path, call: "fchown", errno: errno) }
        guard fchmod(fd, mode_t(mode & 0o7777)) == 0 else { throw .system(path: path, call: "fchmod", errno: errno) }
        try made.sync()
        try folder.sync()
    }

    /// `mkdir -p` inside, each folder it creates made durable in its parent. No component
    /// may be a link (with `.followInside`, the links of the existing part are resolved
    /// first).
    public func makeDirectories(_ path: String, mode: UInt32 = 0o755, links: Links = .refuse) throws(FileError) {
        let target = links == .followInside ? canonical(path) : path
        var current = try reopenTop()
        var walked = ""
        for component in target.split(separator: "/").map(String.init) where component != "." {
            guard component != ".." else { throw .wrongKind(path: path, expected: .directory, found: .directory) }
            walked += "/" + component
            var fd = retryingEINTR { openat(current.descriptor, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if fd < 0 && errno == ENOENT {
                guard mkdirat(current.descriptor, component, mode_t(mode)) == 0 || errno == EEXIST else {
                    throw .system(path: walked, call: "mkdirat", errno: errno)
                }
                try current.sync()
                fd = retryingEINTR { openat(current.descriptor, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            }
            guard fd >= 0 else {
                let code = errno
                if let st = try Self.statusAt(current, component) {
                    let kind = FileKind(mode: st.st_mode)
                    if kind == .symlink { throw .throughLink(path: path, link: walked) }
                    throw .wrongKind(path: walked, expected: .directory, found: kind)
                }
                throw FileError.from(code, path: walked, call: "openat")
            }
            current = OpenFile(descriptor: fd, path: walked, status: stat())
        }
    }

    /// The directory itself, open for `*at` calls and `fsync`.
    func reopenTop() throws(FileError) -> OpenFile {
        let top = try openAnchor()
        defer { close(top) }
        let fd = try reopen(top, flags: O_RDONLY | O_DIRECTORY, path: path)
        return OpenFile(descriptor: fd, path: "/", status: try Self.fstatus(fd, path: path))
    }

    /// Makes the folder or file at `path` durable (`fsync`).
    public func sync(_ path: String) throws(FileError) {
        let located = try locate(path, links: .refuse, followLast: false)
        defer { close(located) }
        let fd = try reopen(located, flags: O_RDONLY, path: path)
        let file = OpenFile(descriptor: fd, path: path, status: stat())
        try file.sync()
    }

    /// Renames `from` to `to` (both inside, neither through a link; a folder at `to` is
    /// replaced only when empty, as rename(2) does), durably in both folders.
    public func rename(_ from: String, to: String) throws(FileError) {
        let (source, sourceName) = try parent(of: from, links: .refuse)
        let (destination, name) = try parent(of: to, links: .refuse)
        guard renameat(source.descriptor, sourceName, destination.descriptor, name) == 0 else {
            throw .system(path: to, call: "renameat", errno: errno)
        }
        try destination.sync()
        if source.status.st_ino != destination.status.st_ino || source.status.st_dev != destination.status.st_dev {
            try source.sync()
        }
    }

    // MARK: Removal

    /// Removes a file, link or whole folder tree. A folder is first renamed to a fixed
    /// trash name, so the path disappears in one step; the trash is then emptied (and
    /// emptied again by a redo if the crash came in between). A link is removed, never
    /// followed.
    public func remove(_ path: String, links: Links = .refuse) throws(FileError) {
        let (folder, name) = try parent(of: path, links: links)
        let trash = "." + name + Self.trashSuffix
        if let st = try Self.statusAt(folder, name) {
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try Self.removeTree(in: folder, trash)
                guard renameat(folder.descriptor, name, folder.descriptor, trash) == 0 else {
                    throw .system(path: path, call: "renameat", errno: errno)
                }
            } else if unlinkat(folder.descriptor, name, 0) != 0 {
                throw .system(path: path, call: "unlinkat", errno: errno)
            }
            crashPoint()
            try folder.sync()
        }
        if try Self.statusAt(folder, trash) != nil {
            try Self.removeTree(in: folder, trash)
            try folder.sync()
        }
    }

    /// Removes a folder only when it is empty (something else may have put files there
    /// since); anything else at `path` is removed.
    public func removeEmptyDirectory(_ path: String) throws(FileError) {
        let (folder, name) = try parent(of: path, links: .refuse)
        guard let st = try Self.statusAt(folder, name) else { return }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            try remove(path)
            return
        }
        if unlinkat(folder.descriptor, name, AT_REMOVEDIR) != 0 {
            if errno == ENOTEMPTY || errno == EEXIST { return }
            throw .system(path: path, call: "unlinkat", errno: errno)
        }
        crashPoint()
        try folder.sync()
    }

    /// `rm -rf` of `path` that never follows a link and never crosses into another file
    /// system (a mount point below it is refused).
    public func removeTree(_ path: String) throws(FileError) {
        let (folder, name) = try parent(of: path, links: .refuse)
        try Self.removeTree(in: folder, name)
    }

    /// Removes `name` in `folder` and everything below it, relative to open descriptors.
    static func removeTree(in folder: OpenFile, _ name: String, device: dev_t? = nil, depth: Int = 0) throws(FileError) {
        guard let st = try statusAt(folder, name) else { return }
        let path = folder.path == "/" ? "/" + name : folder.path + "/" + name
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            guard unlinkat(folder.descriptor, name, 0) == 0 || errno == ENOENT else {
                throw .system(path: path, call: "unlinkat", errno: errno)
            }
            return
        }
        if let device, st.st_dev != device {
            throw .system(path: path, call: "refusing to remove below a mount point", errno: EXDEV)
        }
        // A hostile tree can be nested deeper than the stack allows; real ones are not.
        guard depth < 256 else { throw .system(path: path, call: "nested too deep to remove", errno: ELOOP) }
        let fd = retryingEINTR { openat(folder.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw .system(path: path, call: "openat", errno: errno) }
        let inner = OpenFile(descriptor: fd, path: path, status: st)
        let listing = dup(fd)
        guard listing >= 0 else { throw .system(path: path, call: "dup", errno: errno) }
        for entry in try entries(of: listing, path: path, limit: .max) {
            try removeTree(in: inner, entry, device: device ?? st.st_dev, depth: depth + 1)
        }
        guard unlinkat(folder.descriptor, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
            throw .system(path: path, call: "unlinkat", errno: errno)
        }
    }
}
