import CLinux
import Glibc
import Logging

/// A folder of scratch space that one process makes, owns and removes: an environment's
/// clone, a block snapshot, a mounted disk. It records its owner before anything is put in
/// it, so that what a process killed outright (SIGKILL, a power cut) left behind is found
/// and undone by the next one.
///
/// ```
///  /var/tmp/clarity-heal/              the scratch space (--scratch)
///  ├── env-1234-1764950000/            a folder owned by pid 1234
///  │   ├── .clarity-heal-owner         clarity-heal-scratch 1
///  │   │                               pid 1234
///  │   │                               start 8812345       (/proc/1234/stat field 22)
///  │   │                               boot 4b1e…-…        (/proc/sys/kernel/random/boot_id)
///  │   └── …                           mounts, loop devices' files, qemu-storage-daemon's files
///  └── block-1234-1/ …
/// ```
///
/// While the process runs, every claimed folder is registered with `SignalTeardown`, which
/// undoes it if the process is told to stop. The first claim in a scratch space also
/// removes the folders there whose owner is dead (`removeStale(in:)`).
public final class ScratchFolder {
    /// The folder, as given.
    public let path: String
    private var registration: SignalTeardown.Registration?

    /// The name of the owner record inside a folder.
    public static let ownerRecord = ".clarity-heal-owner"
    private static let header = "clarity-heal-scratch 1"
    private static let logger = Logger(label: "clarity-heal.scratch")

    /// Makes `path` (and its parents), records this process as its owner and registers it
    /// for teardown. Before that, once per process and scratch space, removes the folders
    /// beside it whose owner is dead.
    ///
    /// The folder it is made in must belong to this user and be writable by no one else:
    /// in a folder like /tmp another user could make the predictable name first, as a link
    /// to where a clone would then be mounted.
    /// - Throws: `EnvironmentError.io` when the scratch space is not safe, or the folder or
    ///   its record cannot be written; nothing is registered then.
    public init(claiming path: String) throws(EnvironmentError) {
        self.path = path
        let parent = Self.parent(of: path)
        Self.removeStaleOnce(in: parent)
        registration = try SignalTeardown.gate { () throws(EnvironmentError) -> SignalTeardown.Registration in
            try Paths.makeDirectory(parent)
            var st = stat()
            guard stat(parent, &st) == 0 else { throw .io(path: parent, reason: String(cString: strerror(errno))) }
            guard st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
                throw .io(path: parent, reason: "others can write to it or it is not this user's: not a safe scratch space")
            }
            if mkdir(path, 0o755) != 0 {
                let code = errno
                guard code == EEXIST, let existing = FileReading.status(atPath: path),
                      (existing.st_mode & S_IFMT) == S_IFDIR, existing.st_uid == geteuid() else {
                    throw .io(path: path, reason: code == EEXIST ? "exists and is not this user's folder" : String(cString: strerror(code)))
                }
            }
            guard let owner = ProcessIdentity.current() else {
                throw .io(path: path, reason: "cannot read this process's start time from /proc")
            }
            try Self.writeOwner(owner, into: path)
            let canonical = Self.canonical(path) ?? path
            return SignalTeardown.register(canonical) { Self.tearDown(canonical) }
        }
    }

    deinit { release() }

    /// Undoes everything inside the folder (see `tearDown(_:)`), removes it and forgets it.
    /// Safe to call twice.
    /// - Returns: what could not be undone, if anything.
    @discardableResult
    public func release() -> String? {
        guard let registration else { return nil }
        self.registration = nil
        return SignalTeardown.gate {
            let failure = Self.tearDown(registration.folder)
            SignalTeardown.unregister(registration)
            return failure
        }
    }

    // MARK: - Owner records

    /// Writes `owner` as the owner record of `folder` (write beside, then rename: a reader
    /// sees a whole record or none, and a folder without one is never touched).
    static func writeOwner(_ owner: ProcessIdentity, into folder: String) throws(EnvironmentError) {
        let text = "\(header)\npid \(owner.pid)\nstart \(owner.startTime)\nboot \(owner.boot)\n"
        let temporary = folder + "/" + ownerRecord + ".new"
        let fd = retryingEINTR { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw .io(path: temporary, reason: String(cString: strerror(errno))) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { raw in retryingEINTR { write(fd, raw.baseAddress, raw.count) } }
        let writeError = errno
        close(fd)
        guard written == bytes.count else {
            unlink(temporary)
            throw .io(path: temporary, reason: written < 0 ? String(cString: strerror(writeError)) : "short write")
        }
        guard rename(temporary, folder + "/" + ownerRecord) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .io(path: folder + "/" + ownerRecord, reason: reason)
        }
    }

    /// The owner recorded in the folder open at `folderFD`; nil when there is no record, or
    /// one this code did not write (not a regular file of this user, too long, another format).
    static func owner(inFolder folderFD: Int32) -> ProcessIdentity? {
        let fd = retryingEINTR { openat(folderFD, ownerRecord, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(), st.st_size <= 512 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 513)
        let n = buffer.withUnsafeMutableBytes { raw in retryingEINTR { read(fd, raw.baseAddress, raw.count) } }
        guard n > 0, n <= 512 else { return nil }
        let lines = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n")
        guard lines.count == 4, lines[0] == header else { return nil }
        func value(_ line: Substring, _ key: String) -> Substring? {
            line.hasPrefix(key + " ") ? line.dropFirst(key.count + 1) : nil
        }
        guard let pid = value(lines[1], "pid").flatMap({ pid_t($0) }), pid > 0,
              let start = value(lines[2], "start").flatMap({ UInt64($0) }),
              let boot = value(lines[3], "boot"), !boot.isEmpty else { return nil }
        return ProcessIdentity(pid: pid, startTime: start, boot: String(boot))
    }

    // MARK: - Stale folders

    /// Removes the folders directly in `scratch` that clarity-heal made for a process that
    /// is no longer running (see `tearDown(_:)`). Leaves alone a folder whose owner runs,
    /// one without an owner record (not clarity-heal's), a link, a mount point, and
    /// anything not owned by this user; does nothing in a scratch space others can write to.
    /// - Returns: the folders removed, and those that could not be, with the reason.
    @discardableResult
    public static func removeStale(in scratch: String) -> (removed: [String], failed: [String: String]) {
        var removed: [String] = [], failed: [String: String] = [:]
        guard let root = canonical(scratch) else { return ([], [:]) }
        let rootFD = retryingEINTR { open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard rootFD >= 0 else { return ([], [:]) }
        defer { close(rootFD) }
        var rootStatus = stat()
        guard fstat(rootFD, &rootStatus) == 0, rootStatus.st_uid == geteuid(), rootStatus.st_mode & 0o022 == 0 else {
            logger.warning("scratch space not checked for stale environments: others can write to it",
                           metadata: ["scratch": "\(scratch)"])
            return ([], [:])
        }
        for name in FileReading.directoryEntries(atPath: root) {
            var st = stat()
            guard fstatat(rootFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFDIR,
                  st.st_dev == rootStatus.st_dev, st.st_uid == geteuid() else { continue }
            let folderFD = retryingEINTR { openat(rootFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard folderFD >= 0 else { continue }
            let owner = owner(inFolder: folderFD)
            close(folderFD)
            guard let owner, !owner.isRunning else { continue }
            let folder = (root == "/" ? "" : root) + "/" + name
            if let failure = tearDown(folder) {
                failed[folder] = failure
                logger.warning("cannot remove a stale environment", metadata: ["folder": "\(folder)", "owner": "\(owner)", "reason": "\(failure)"])
            } else {
                removed.append(folder)
                logger.notice("removed a stale environment", metadata: ["folder": "\(folder)", "owner": "\(owner)"])
            }
        }
        return (removed, failed)
    }

    nonisolated(unsafe) private static var checkedScratch: Set<String> = []

    private static func removeStaleOnce(in scratch: String) {
        guard let root = canonical(scratch) else { return }
        let first = SignalTeardown.gate { checkedScratch.insert(root).inserted }
        if first { removeStale(in: root) }
    }

    // MARK: - Teardown

    /// Undoes everything found inside `folder` (an absolute path without links), whoever
    /// made it, from what the kernel reports rather than from any process's memory:
    /// 1. mounts on or below it, deepest first (lazily when busy) — /proc/self/mountinfo;
    /// 2. loop devices whose backing file is inside it — /sys/block/loop*/loop/backing_file;
    /// 3. qemu-storage-daemon processes holding a file inside it — /proc/PID/fd (SIGTERM,
    ///    then SIGKILL);
    /// 4. mounts left by a daemon that died without unmounting its export;
    /// 5. the folder itself (`Paths.removeTree`: no link followed, no mount entered).
    /// - Returns: nil when the folder is gone, else why not.
    @discardableResult
    static func tearDown(_ folder: String) -> String? {
        unmountAll(below: folder)
        detachLoops(into: folder)
        stopDaemons(holding: folder)
        unmountAll(below: folder)
        do {
            try Paths.removeTree(folder)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The mount points on or below `folder`, deepest (then latest) first.
    static func mounts(below folder: String) -> [String] {
        guard let table = try? MountInfo.current() else { return [] }
        let inside = table.mounts.enumerated().filter { $0.element.target == folder || $0.element.target.hasPrefix(folder + "/") }
        return inside.sorted {
            let (a, b) = ($0.element.target.split(separator: "/").count, $1.element.target.split(separator: "/").count)
            return a != b ? a > b : $0.offset > $1.offset
        }.map(\.element.target)
    }

    private static func unmountAll(below folder: String) {
        // Stacked mounts come off one per pass.
        for _ in 0..<8 {
            let targets = mounts(below: folder)
            if targets.isEmpty { return }
            for target in targets where umount2(target, Int32(UMOUNT_NOFOLLOW)) != 0 && errno == EBUSY {
                // Busy (a file open in it, a loop device on a file in it): detach it now;
                // the kernel frees it when its last user goes.
                umount2(target, Int32(MNT_DETACH) | Int32(UMOUNT_NOFOLLOW))
            }
        }
    }

    /// Detaches (LOOP_CLR_FD) every loop device reading a file inside `folder`; one still in
    /// use is freed by the kernel at its last close.
    private static func detachLoops(into folder: String) {
        for name in FileReading.directoryEntries(atPath: "/sys/block") where name.hasPrefix("loop") {
            guard let text = try? FileReading.text(atPath: "/sys/block/\(name)/loop/backing_file", limit: 8192) else { continue }
            var backing = String(text.prefix { $0 != "\n" })
            if backing.hasSuffix(" (deleted)") { backing.removeLast(" (deleted)".count) }
            guard backing.hasPrefix(folder + "/") else { continue }
            let fd = retryingEINTR { open("/dev/" + name, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
            guard fd >= 0 else { continue }
            _ = ioctl(fd, UInt(LOOP_CLR_FD), 0)
            close(fd)
        }
    }

    /// Stops the qemu-storage-daemon processes of this user that hold a file inside `folder`
    /// open (the overlay, the base, the FUSE export of a `BlockSnapshot` there).
    private static func stopDaemons(holding folder: String) {
        let me = getpid()
        let daemons = ProcessStopper.allProcesses().filter { $0 != me }.compactMap { pid in
            ProcessStopper.open(pid) { isDaemon($0, holding: folder) }
        }
        ProcessStopper.stop(daemons, grace: 2)
    }

    private static func isDaemon(_ pid: pid_t, holding folder: String) -> Bool {
        guard let comm = try? FileReading.text(atPath: "/proc/\(pid)/comm", limit: 64), comm.hasPrefix("qemu-storage"),
              let owner = FileReading.status(atPath: "/proc/\(pid)", followLinks: true), owner.st_uid == geteuid() else {
            return false
        }
        let fds = "/proc/\(pid)/fd"
        return FileReading.directoryEntries(atPath: fds).contains { fd in
            guard var target = FileReading.linkTarget(atPath: fds + "/" + fd) else { return false }
            if target.hasSuffix(" (deleted)") { target.removeLast(" (deleted)".count) }
            return target.hasPrefix(folder + "/")
        }
    }

    // MARK: - Paths

    /// The absolute path without links (`realpath`), or nil when it does not exist.
    static func canonical(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }
}
