import CLinux
import Glibc
import HealCore

/// A copy-on-write clone of a root through overlayfs: the root is the read-only lower
/// layer, every change lands in an upper layer under a scratch folder.
///
/// ```
///  scratch/        owned by this process (ScratchFolder)
///  ├── layers/1/   upper while layer 1 is current; frozen into a lower by snapshot()
///  ├── layers/2/   the next upper, and so on
///  ├── work/       overlayfs' work folder, emptied at each mount
///  └── merged/     the clone:  lowerdir=layers/1:root  upperdir=layers/2
/// ```
///
/// When the scratch folder lies inside the root (the running system's `/`), a tmpfs is
/// mounted on it first (see `init`).
///
/// `snapshot()` remounts with the current upper frozen as the topmost lower layer and a new
/// empty upper; `restore()` drops the layers above the snapshot; the changeset is read from
/// the layers above it (whiteouts are removals).
public final class OverlayEnvironment: Environment {
    public let kind = EnvironmentKind.overlay
    public let root: SystemRoot
    /// The examined root: only ever the lowest, read-only layer.
    public let lower: SystemRoot
    private let scratch: String
    private let folder: ScratchFolder
    private let sandbox: Sandbox
    /// Number of the current (writable) layer; layers below it are frozen.
    private var current = 1
    private var mounted = false
    /// Whether a tmpfs was mounted on the scratch folder (it lies inside the lower root).
    private var scratchIsTmpfs = false

    /// Mounts a clone of `lower` with its scratch folders under `scratch` (created and owned
    /// by this process, see `ScratchFolder`; must be on a filesystem that can hold an
    /// overlay upper layer, such as ext4 or tmpfs).
    public init(lower: SystemRoot, scratch: String, runner: any CommandRunner = SpawnCommandRunner())
        throws(EnvironmentError)
    {
        self.lower = lower
        self.scratch = scratch
        self.sandbox = Sandbox(runner: runner)
        let folder = try ScratchFolder(claiming: scratch)
        self.folder = folder
        do throws(EnvironmentError) {
            // Overlayfs refuses a lower layer inside another one (ELOOP): the layers that
            // snapshot() freezes into lowers would lie inside the root they clone — the
            // running system's `/` with the scratch in /var/tmp. A tmpfs of the scratch's
            // own is another filesystem, which overlayfs's check does not walk out of.
            if Self.lies(scratch, inside: lower.path) {
                let failure: String? = SignalTeardown.gate {
                    Glibc.mount("clarity-heal", scratch, "tmpfs", 0, "size=50%,mode=0700") == 0 ? nil : String(cString: strerror(errno))
                }
                if let failure { throw .mount(target: scratch, reason: "tmpfs: " + failure) }
                scratchIsTmpfs = true
            }
            try Paths.makeDirectory(scratch + "/layers/1")
            try Paths.makeDirectory(scratch + "/merged")
            do {
                self.root = try SystemRoot(scratch + "/merged")
            } catch {
                throw .setup("\(error)")
            }
        } catch {
            if scratchIsTmpfs { umount2(scratch, Int32(MNT_DETACH)) }
            folder.release()
            throw error
        }
        try mount()
    }

    /// Whether `path` is `root` or below it, both resolved.
    static func lies(_ path: String, inside root: String) -> Bool {
        guard let resolvedPath = realpath(path, nil), let resolvedRoot = realpath(root, nil) else { return false }
        defer { free(resolvedPath); free(resolvedRoot) }
        let inner = String(cString: resolvedPath), outer = String(cString: resolvedRoot)
        return outer == "/" || inner == outer || inner.hasPrefix(outer + "/")
    }

    deinit { tearDown() }

    public func snapshot() throws(EnvironmentError) -> Snapshot {
        try unmount()
        current += 1
        try Paths.makeDirectory(layer(current))
        try mount()
        return Snapshot(layer: current - 1)
    }

    public func restore(_ snapshot: Snapshot) throws(EnvironmentError) {
        guard snapshot.layer >= 0, snapshot.layer < current else { throw .unknownSnapshot(snapshot.layer) }
        try unmount()
        for number in (snapshot.layer + 1)...current {
            try Paths.removeTree(layer(number))
        }
        current = snapshot.layer + 1
        try Paths.makeDirectory(layer(current))
        try mount()
    }

    public func changes(since snapshot: Snapshot) throws(EnvironmentError) -> Changeset {
        guard snapshot.layer >= 0, snapshot.layer < current else { throw .unknownSnapshot(snapshot.layer) }
        var changeset = Changeset()
        // Oldest layer first, so a later layer's word on a path wins.
        for number in (snapshot.layer + 1)...current {
            try LayerReader.read(layer: layer(number), below: root.path, into: &changeset)
        }
        return changeset
    }

    public func run(_ arguments: [String]) throws(EnvironmentError) -> CommandResult {
        try sandbox.run(root: root.path, arguments)
    }

    public func tearDown() {
        if mounted { try? unmount() }
        if scratchIsTmpfs {
            umount2(scratch, Int32(MNT_DETACH))
            scratchIsTmpfs = false
        }
        folder.release()
    }

    private func layer(_ number: Int) -> String { scratch + "/layers/\(number)" }

    private func mount() throws(EnvironmentError) {
        // Overlayfs wants an empty work folder on the upper layer's filesystem.
        try Paths.removeTree(scratch + "/work")
        try Paths.makeDirectory(scratch + "/work")
        let lowers = stride(from: current - 1, through: 1, by: -1).map(layer) + [lower.path]
        let options = "lowerdir=\(lowers.joined(separator: ":")),upperdir=\(layer(current)),workdir=\(scratch)/work"
        // Gated: a teardown on SIGTERM runs before this mount or after it, never during.
        let failure: String? = SignalTeardown.gate {
            Glibc.mount("overlay", root.path, "overlay", 0, options) == 0 ? nil : String(cString: strerror(errno))
        }
        if let failure { throw .mount(target: root.path, reason: failure + " (\(options))") }
        mounted = true
    }

    private func unmount() throws(EnvironmentError) {
        guard mounted else { return }
        if umount2(root.path, 0) != 0 {
            let reason = String(cString: strerror(errno))
            // A process that outlived its sandbox may still hold it: detach instead.
            guard umount2(root.path, Int32(MNT_DETACH)) == 0 else { throw .unmount(target: root.path, reason: reason) }
        }
        mounted = false
    }
}

/// Reads one overlay upper layer into a changeset.
enum LayerReader {
    static func read(layer: String, below merged: String, into changeset: inout Changeset) throws(EnvironmentError) {
        try walk(layer, relative: "", merged: merged, into: &changeset)
    }

    private static func walk(_ base: String, relative: String, merged: String, into changeset: inout Changeset)
        throws(EnvironmentError)
    {
        for name in FileReading.directoryEntries(atPath: base + relative) {
            let path = relative + "/" + name
            let host = base + path
            guard let st = FileReading.status(atPath: host) else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFCHR where st.st_rdev == 0:
                changeset.changes[path] = .removed  // an overlayfs whiteout
            case S_IFDIR:
                if isOpaque(host) {
                    // An opaque folder hides everything below it: whatever the lower layers
                    // had there is gone unless this layer has it again.
                    for entry in FileReading.directoryEntries(atPath: merged + path) where !FileReading.directoryEntries(atPath: host).contains(entry) {
                        changeset.changes[path + "/" + entry] = .removed
                    }
                }
                changeset.changes[path] = .directory(mode: UInt32(st.st_mode & 0o7777), owner: st.st_uid, group: st.st_gid)
                try walk(base, relative: path, merged: merged, into: &changeset)
            case S_IFLNK:
                changeset.changes[path] = .symlink(target: FileReading.linkTarget(atPath: host) ?? "", owner: st.st_uid, group: st.st_gid)
            case S_IFREG:
                do {
                    let bytes = try FileReading.bytes(atPath: host, limit: 1 << 30)
                    changeset.changes[path] = .file(contents: bytes, mode: UInt32(st.st_mode & 0o7777), owner: st.st_uid, group: st.st_gid)
                } catch {
                    throw .io(path: host, reason: "\(error)")
                }
            default:
                continue  // sockets, fifos, device nodes: never part of a repair
            }
        }
    }

    private static func isOpaque(_ path: String) -> Bool {
        var value = [UInt8](repeating: 0, count: 2)
        let n = getxattr(path, "trusted.overlay.opaque", &value, value.count)
        return n == 1 && value[0] == UInt8(ascii: "y")
    }
}
