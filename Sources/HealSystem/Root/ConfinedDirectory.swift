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
///   host:  /mnt/sysroot ──► fd (O_PATH)        "/etc/fstab"  ─┐
///                                               openat2(fd, "/etc/fstab", IN_ROOT)
///          /mnt/sysroot/etc -> /etc   (a link in the root)    │
///          resolves to /mnt/sysroot/etc/fstab, never /etc/fstab on the host
/// ```
///
/// Contents are read only from regular files: the object is first opened with `O_PATH`
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
    /// How the directory itself is found: by its host path each time (a root, which an
    /// environment may mount over and unmount again), or by a descriptor held open (a folder
    /// inside, found once without a link).
    private let anchor: Anchor
    let resolver: Resolver
    /// Whether replacing writes mark power-loss test points (`CrashPoint`): true for a
    /// root, whose writes the journal steps are; false for clarity-heal's own folders.
    let marksCrashPoints: Bool

    private enum Anchor {
        case path
        /// An `O_PATH | O_DIRECTORY` descriptor this object owns.
        case descriptor(Int32)
    }

    /// A confined directory at `path` (a host path, chosen by the caller, not by what is
    /// examined), found again by that path for every operation: a clone's root stays valid
    /// while its overlay is unmounted and mounted again.
    /// - Throws: `FileError` when it does not exist or is not a folder.
    public init(_ path: String, resolver: Resolver = .preferred, marksCrashPoints: Bool = false) throws(FileError) {
        let fd = retryingEINTR { Glibc.open(path, HEAL_O_PATH | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw FileError.from(errno, path: path, call: "open") }
        self.path = Self.hostPath(of: fd) ?? path
        close(fd)
        anchor = .path
        self.resolver = resolver
        self.marksCrashPoints = marksCrashPoints
    }

    /// Takes ownership of `fd`, an `O_PATH` folder descriptor.
    init(adopting fd: Int32, path: String, resolver: Resolver) {
        anchor = .descriptor(fd)
        self.resolver = resolver
        self.path = path
        marksCrashPoints = false
    }

    deinit {
        if case .descriptor(let fd) = anchor { close(fd) }
    }

    /// A new `O_PATH` descriptor of the directory itself; the caller closes it.
    func openAnchor() throws(FileError) -> Int32 {
        let fd: Int32
        switch anchor {
        case .path: fd = retryingEINTR { Glibc.open(path, HEAL_O_PATH | O_DIRECTORY | O_CLOEXEC) }
        case .descriptor(let held): fd = dup(held)
        }
        guard fd >= 0 else { throw FileError.from(errno, path: path, call: "open") }
        return fd
    }

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

    /// Opens `path` with `O_PATH` (no effect on the object itself), resolved inside.
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
            let top = try openAnchor()
            defer { close(top) }
            for _ in 0..<8 {
                let fd = heal_openat2(top, relative, UInt64(flags), 0, resolve)
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

    /// Reopens an `O_PATH` descriptor for I/O through `/proc/self/fd`, the only way the
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
