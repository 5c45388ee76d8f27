import Glibc

/// A block-level copy-on-write snapshot of a device or image file: every write lands in a
/// qcow2 overlay, the base is opened read-only and never changes. The snapshot is a
/// regular file that qemu-storage-daemon serves over FUSE, so e2fsck, debugfs and
/// `mount -o loop` use it like the device itself. No device-mapper or nbd is needed.
///
/// ```
///  directory/          owned by this process (ScratchFolder)
///  ├── overlay.qcow2   qcow2, backing = the base (raw, read-only): the snapshot's writes
///  ├── snapshot.img    FUSE export of the overlay, writable, base-sized: `path`
///  └── daemon.pid      qemu-storage-daemon's pid (--daemonize --pidfile)
///
///  qemu-storage-daemon block graph:
///   base (file | host_device, read-only) ─▶ rawb (raw, read-only) ─┐ backing
///   ovf (file: overlay.qcow2) ─────────────▶ ov (qcow2) ◀─────────┘ ─▶ fuse export
///
///  A qcow2 base (a layer a template guest repaired, over the disk): `rawb` is then a
///  qcow2 node, read-only, whose own backing — the disk — QEMU opens read-only too.
/// ```
///
/// One owner: the daemon runs until `close()` (or deinit), which stops it, makes sure the
/// FUSE mount is gone and removes the folder.
public final class BlockSnapshot {
    /// The device or image the snapshot is of; only ever opened read-only.
    public let base: String
    /// The qcow2 overlay holding every write made through `path` (the microVM of the next
    /// stage boots from the same overlay).
    public let overlay: String
    /// The snapshot: a base-sized regular file, readable and writable.
    public let path: String
    /// Size of the base (and the snapshot) in bytes.
    public let size: Int64
    /// The folder holding the overlay, the export and the pid file; removed by `close()`.
    public let directory: String
    private let format: BaseFormat
    private let runner: any CommandRunner
    private var daemon: pid_t?
    private var folder: ScratchFolder?

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case snapshot(base: String, reason: String)

        public var description: String {
            switch self {
            case .snapshot(let base, let reason): "cannot snapshot \(base): \(reason)"
            }
        }
    }

    /// The base's format: the disk itself (`raw`), or a qcow2 layer over it that a template
    /// guest repaired (whose own backing, the disk, QEMU opens read-only too).
    public enum BaseFormat: String, Sendable {
        case raw, qcow2
    }

    /// Creates the overlay in `directory` (made; must not exist yet) and starts the daemon
    /// exporting it; returns once the export has the base's size.
    /// - Parameters:
    ///   - format: the base's format; a qcow2 base needs `size`, its virtual size (the
    ///     file's own length says nothing about it).
    /// - Throws: `BlockSnapshot.Error` naming the base, with the tool's own message.
    public init(base: String, directory: String, format: BaseFormat = .raw, size virtualSize: Int64? = nil,
                runner: any CommandRunner = SpawnCommandRunner())
        throws(BlockSnapshot.Error)
    {
        // Absolute: qemu-img records the backing file in the overlay, and a relative one
        // is taken relative to the overlay's folder by whoever opens it next (a guest boot).
        self.base = FileReading.absolute(base)
        self.directory = directory
        self.runner = runner
        overlay = directory + "/overlay.qcow2"
        path = directory + "/snapshot.img"
        guard let st = FileReading.status(atPath: base, followLinks: true) else {
            throw .snapshot(base: base, reason: String(cString: strerror(errno)))
        }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else {
            throw .snapshot(base: base, reason: "neither a block device nor an image file")
        }
        self.format = format
        if format == .qcow2 {
            guard let virtualSize, virtualSize > 0 else {
                throw .snapshot(base: base, reason: "a qcow2 base needs its virtual size")
            }
            size = virtualSize
        } else {
            size = try Self.size(of: base)
        }
        do {
            folder = try ScratchFolder(claiming: directory)
        } catch {
            throw .snapshot(base: base, reason: "\(error)")
        }
        do throws(BlockSnapshot.Error) {
            try start(blockDevice: kind == S_IFBLK)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Stops the daemon (SIGTERM, then SIGKILL after 1 s), detaches a FUSE mount it left,
    /// and removes the folder (`ScratchFolder.release`). Safe to call twice.
    public func close() {
        stopDaemon(grace: 1)
        folder?.release()
        folder = nil
    }

    /// Stops the daemon: SIGTERM, then SIGKILL after `grace` seconds.
    private func stopDaemon(grace: Int) {
        if let pid = daemon {
            daemon = nil
            kill(pid, SIGTERM)
            // SpawnCommandRunner starts the daemon with an empty signal mask and SIGTERM at
            // its default, so SIGTERM stops it. SIGKILL stays as the fallback for a daemon
            // that hangs on its way out (or one started by another runner); the FUSE mount
            // it then leaves is detached below.
            if !Self.waitGone(pid, seconds: grace) {
                kill(pid, SIGKILL)
                _ = Self.waitGone(pid, seconds: 5)
            }
        }
        // A daemon that died hard leaves its FUSE mount behind ("transport endpoint is not
        // connected"): detach it so the file can be removed.
        if isMounted { umount2(path, Int32(MNT_DETACH)) }
    }

    /// Stops the daemon and moves the overlay to `destination` before the folder is
    /// removed: a qcow2 file whose backing is the base (read-only), holding every write
    /// made through `path` — what a guest then boots from (`BootLayer`).
    /// - Throws: `BlockSnapshot.Error` when the overlay cannot be moved; the folder is
    ///   removed either way.
    public func keepOverlay(as destination: String) throws(BlockSnapshot.Error) {
        defer { close() }
        // A clean stop flushes the qcow2 metadata: more time than for a throwaway snapshot.
        stopDaemon(grace: 5)
        guard rename(overlay, destination) == 0 else {
            throw .snapshot(base: base, reason: "cannot keep \(overlay) as \(destination): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the export is still mounted on `path`.
    public var isMounted: Bool {
        guard let mounts = try? MountInfo.current() else { return false }
        // The mount table names the mount point with links resolved (a scratch folder
        // reached through a link).
        let target = ScratchFolder.canonical(path) ?? path
        return mounts.mounts.contains { $0.target == target || $0.target == path }
    }

    /// Whether the daemon is still running.
    public var isRunning: Bool { daemon.map { !Self.waitGone($0, seconds: 0) } ?? false }

    private func start(blockDevice: Bool) throws(BlockSnapshot.Error) {
        // -u: do not open the backing file to learn its size (it is given); the backing
        // named in the header is informative only, the daemon's graph below sets it.
        try tool("qemu-img", ["create", "-q", "-f", "qcow2", "-F", format.rawValue, "-b", base, "-u", overlay, String(size)])
        // FUSE exports mount over an existing regular file.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .snapshot(base: base, reason: "cannot create \(path): \(String(cString: strerror(errno)))") }
        Glibc.close(fd)
        let pidFile = directory + "/daemon.pid"
        let driver = blockDevice ? "host_device" : "file"
        // --daemonize returns only once every export is set up (or start-up failed). Gated:
        // a teardown on SIGTERM finds the daemon by its open files in the folder, so it
        // looks after the start has finished.
        try SignalTeardown.gate { () throws(BlockSnapshot.Error) in try tool("qemu-storage-daemon", [
            "--blockdev", "driver=\(driver),node-name=base,filename=\(Self.escaped(base)),read-only=on",
            "--blockdev", "driver=\(format.rawValue),node-name=rawb,file=base,read-only=on",
            "--blockdev", "driver=file,node-name=ovf,filename=\(Self.escaped(overlay))",
            "--blockdev", "driver=qcow2,node-name=ov,file=ovf,backing=rawb",
            "--export", "type=fuse,id=snapshot,node-name=ov,mountpoint=\(Self.escaped(path)),writable=on",
            "--pidfile", pidFile, "--daemonize",
        ]) }
        guard let text = try? FileReading.text(atPath: pidFile, limit: 64),
              let pid = pid_t(text.trimmingCharacters(in: " \n")) else {
            throw .snapshot(base: base, reason: "qemu-storage-daemon wrote no pid to \(pidFile)")
        }
        daemon = pid
        guard isMounted, let exported = FileReading.status(atPath: path, followLinks: true), exported.st_size == size else {
            throw .snapshot(base: base, reason: "the FUSE export at \(path) is not the base's size (\(size) bytes)")
        }
    }

    private func tool(_ executable: String, _ arguments: [String]) throws(BlockSnapshot.Error) {
        let result: CommandResult
        do {
            result = try runner.run(executable, arguments)
        } catch {
            throw .snapshot(base: base, reason: "\(error)")
        }
        guard result.succeeded else {
            let message = (result.errorOutput + result.output).split(separator: "\n").last.map(String.init)
            throw .snapshot(base: base, reason: "\(executable) exited \(result.status): \(message ?? "no message")")
        }
    }

    /// Size in bytes of an image file or a block device (the end of either, by lseek).
    static func size(of path: String) throws(BlockSnapshot.Error) -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .snapshot(base: path, reason: String(cString: strerror(errno))) }
        defer { Glibc.close(fd) }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw .snapshot(base: path, reason: String(cString: strerror(errno))) }
        return Int64(end)
    }

    /// QEMU's option syntax: a comma inside a value is written twice.
    static func escaped(_ value: String) -> String {
        value.split(separator: ",", omittingEmptySubsequences: false).joined(separator: ",,")
    }

    /// Polls until `pid` is gone or a zombie (the daemon is not our child after
    /// --daemonize: its parent reaps it).
    private static func waitGone(_ pid: pid_t, seconds: Int) -> Bool {
        for attempt in 0...(seconds * 20) {
            if kill(pid, 0) != 0 && errno == ESRCH { return true }
            if let stat = try? FileReading.text(atPath: "/proc/\(pid)/stat", limit: 4096),
               let close = stat.lastIndex(of: ")"),
               stat[stat.index(after: close)...].hasPrefix(" Z") { return true }
            if attempt < seconds * 20 { usleep(50_000) }
        }
        return false
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return String(text)
    }
}
