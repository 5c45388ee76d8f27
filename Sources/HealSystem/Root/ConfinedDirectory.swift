import CLinux
import Glibc

/// A directory whose paths never resolve outside it: the one way clarity-heal reaches the
/// files of an examined root, a clone, its own state folder and a fix package.
///
/// Every path is resolved by the kernel relative to an open descriptor of the directory,
/// `openat2(2)` with `RESOLVE_IN_ROOT`: symbolic links are followed as the examined system
/// would follow them once booted (an absolute target starts again at this directory, `..`
/// never climbs above it), and never onto the host. Kernels before 5.6 have no `openat2`;
/// there the same rules are applied by a walk, one component at a time with `O_NOFOLLOW`
/// (`ConfinedDirectory+Walk.swift`).
///
/// ```
///   host:  /mnt/sysroot ──► fd (HEAL_O_PATH)        "/etc/fstab"  ─┐
///                                               openat2(fd, "/etc/fstab", IN_ROOT)
///          /mnt/sysroot/etc -> /etc   (a link in the root)    │
///          resolves to /mnt/sysroot/etc/fstab, never /etc/fstab on the host
/// ```
///
/// Contents are read only from regular files: the object is first opened with `HEAL_O_PATH`
/// (which has no effect on a FIFO or a device), checked with `fstat`, and only then opened
/// for reading, non-blocking, through `/proc/self/fd`, with a size bound checked before the
/// first read. Writes never pass through any symbolic link (`RESOLVE_NO_SYMLINKS`). The
/// security model is in docs/security.md.
public final class ConfinedDirectory: @unchecked Sendable {
    /// How links on a path are treated.
    public enum Links: Sendable {
        /// As the examined system would see them: followed, confined to the directory.
        case followInside
        /// Not at all: a path that passes through a link is refused. Used for every write to
        /// a real root, for clarity-heal's state and for the inside of fix packages.
        case refuse
    }

    /// How paths are resolved; `.kernel` where the kernel has `openat2`.
    public enum Resolver: Sendable {
        case kernel
        case walk

        /// `openat2` when the running kernel has it (Linux 5.6), the walk otherwise.
        public static let preferred: Resolver = {
            let fd = heal_openat2(AT_FDCWD, "/", UInt64(HEAL_O_PATH | O_CLOEXEC), 0, HEAL_RESOLVE_IN_ROOT)
            if fd >= 0 { close(fd); return .kernel }
            return .walk
        }()
    }

    /// The host path of the directory, absolute (for messages and for the distro's tools,
    /// which run chrooted into it).
    public let path: String
    /// An `HEAL_O_PATH | O_DIRECTORY` descriptor of the directory.
    let descriptor: Int32
    let resolver: Resolver

    /// Opens `path` (a host path) as a confined directory.
    /// - Throws: `FileError` when it does not exist or is not a folder.
    public convenience init(_ path: String, resolver: Resolver = .preferred) throws(FileError) {
        let fd = retryingEINTR { Glibc.open(path, HEAL_O_PATH | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw FileError.from(errno, path: path, call: "open") }
        self.init(adopting: fd, path: Self.hostPath(of: fd) ?? path, resolver: resolver)
    }

    /// Takes ownership of `fd`, an `HEAL_O_PATH` folder descriptor.
    init(adopting fd: Int32, path: String, resolver: Resolver) {
        descriptor = fd
        self.resolver = resolver
        self.path = path
    }

    deinit { close(descriptor) }

    /// The host's own `/`, for reading host files (`/proc`, `/sys`, a `--pstore` folder)
    /// with the same checks: regular files only, non-blocking, bounded.
    public static func host() throws(FileError) -> ConfinedDirectory { try ConfinedDirectory("/") }

    /// The host path a path inside this directory has, without resolving anything (for
    /// messages and for tools that run chrooted into it).
    public func hostPath(_ inside: String) -> String {
        let relative = inside.drop { $0 == "/" }
        if path == "/" { return "/" + relative }
        return relative.isEmpty ? path : path + "/" + relative
    }

    // MARK: Resolution

    /// Opens `path` with `HEAL_O_PATH` (no effect on the object itself), resolved inside.
    /// - Parameters:
    ///   - followLast: follow a link in the last component (reading a file's contents);
    ///     otherwise the link itself is opened (lstat).
    ///   - directory: the result must be a folder (`O_DIRECTORY`).
    /// - Returns: a descriptor the caller closes.
    func locate(_ path: String, links: Links, followLast: Bool, directory: Bool = false) throws(FileError) -> Int32 {
        switch resolver {
        case .kernel:
            var flags = HEAL_O_PATH | O_CLOEXEC
            if !followLast { flags |= O_NOFOLLOW }
            if directory { flags |= O_DIRECTORY }
            var resolve = HEAL_RESOLVE_IN_ROOT | HEAL_RESOLVE_NO_MAGICLINKS
            if links == .refuse { resolve |= HEAL_RESOLVE_NO_SYMLINKS }
            let relative = Self.relative(path)
            for _ in 0..<8 {
                let fd = heal_openat2(descriptor, relative, UInt64(flags), 0, resolve)
                if fd >= 0 { return fd }
                let code = errno
                // EAGAIN: a concurrent rename raced the `..` check; the kernel asks for a retry.
                if code == EAGAIN || code == EINTR { continue }
                if code == ELOOP && links == .refuse, let link = firstLink(on: path, followLast: followLast) {
                    throw .throughLink(path: path, link: link)
                }
                if code == ENOTDIR && directory, let status = try? status(path, links: links, followLast: followLast) {
                    throw .wrongKind(path: path, expected: .directory, found: FileKind(mode: status.st_mode))
                }
                throw FileError.from(code, path: path, call: "openat2")
            }
            throw .system(path: path, call: "openat2", errno: EAGAIN)
        case .walk:
            return try walk(path, links: links, followLast: followLast, directory: directory)
        }
    }

    /// `path` as the kernel takes it relative to the directory descriptor: "." for the
    /// directory itself (an empty path is ENOENT).
    static func relative(_ path: String) -> String {
        let trimmed = path.drop { $0 == "/" }
        return trimmed.isEmpty ? "." : String(trimmed)
    }

    /// The first link on `path` (as the directory names it), for the message of a refusal.
    func firstLink(on path: String, followLast: Bool) -> String? {
        var walked = ""
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            if component == "." { continue }
            walked += "/" + component
            if index == components.count - 1 && !followLast { return nil }
            guard let fd = try? walk(walked, links: .followInside, followLast: false) else { return nil }
            defer { close(fd) }
            var st = stat()
            if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK { return walked }
        }
        return nil
    }

    /// Reopens an `HEAL_O_PATH` descriptor for I/O through `/proc/self/fd`, the only way the
    /// kernel offers (there is no `openat` with an empty path).
    /// - Throws: `FileError.system` naming `/proc` when it is not mounted.
    func reopen(_ fd: Int32, flags: Int32, path: String) throws(FileError) -> Int32 {
        let opened = retryingEINTR { Glibc.open("/proc/self/fd/\(fd)", flags | O_CLOEXEC | O_NOCTTY) }
        guard opened >= 0 else {
            let code = errno
            if code == ENOENT { throw .system(path: path, call: "reopen through /proc/self/fd (is /proc mounted?)", errno: code) }
            throw FileError.from(code, path: path, call: "open")
        }
        return opened
    }

    /// The host path an open descriptor refers to (`/proc/self/fd/N`'s link), or nil.
    static func hostPath(of fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.hasPrefix("/") ? text : nil
    }

    static func fstatus(_ fd: Int32, path: String) throws(FileError) -> stat {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .system(path: path, call: "fstat", errno: errno) }
        return st
    }
}
