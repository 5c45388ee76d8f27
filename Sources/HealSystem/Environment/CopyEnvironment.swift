import Glibc
import HealCore

/// The fallback clone where overlayfs cannot be used (a kernel without it, an upper layer
/// on a filesystem overlayfs refuses): a full `cp -a` of the root, and a full copy again
/// for every snapshot. Same interface as `OverlayEnvironment`, much slower: its set-up
/// cost grows with the size of the root, and reports say so.
///
/// ```
///  scratch/            owned by this process (ScratchFolder)
///  ├── clone/          the working copy
///  └── snapshots/N/    the copy frozen by the N-th snapshot (0 = as made)
/// ```
public final class CopyEnvironment: Environment {
    public let kind = EnvironmentKind.copy
    public let root: SystemRoot
    public let source: SystemRoot
    private let scratch: String
    private let folder: ScratchFolder
    private let runner: any CommandRunner
    private let sandbox: Sandbox
    private var snapshots = 0

    public init(source: SystemRoot, scratch: String, runner: any CommandRunner = SpawnCommandRunner())
        throws(EnvironmentError)
    {
        self.source = source
        self.scratch = scratch
        self.runner = runner
        self.sandbox = Sandbox(runner: runner)
        let folder = try ScratchFolder(claiming: scratch)
        self.folder = folder
        do throws(EnvironmentError) {
            try Paths.makeDirectory(scratch + "/snapshots")
            try Self.copy(source.path, to: scratch + "/snapshots/0", runner: runner)
            try Self.copy(scratch + "/snapshots/0", to: scratch + "/clone", runner: runner)
            do {
                root = try SystemRoot(scratch + "/clone")
            } catch {
                throw .setup("\(error)")
            }
        } catch {
            folder.release()
            throw error
        }
    }

    deinit { tearDown() }

    public func snapshot() throws(EnvironmentError) -> Snapshot {
        snapshots += 1
        try Self.copy(root.path, to: snapshotPath(snapshots), runner: runner)
        return Snapshot(layer: snapshots)
    }

    public func restore(_ snapshot: Snapshot) throws(EnvironmentError) {
        guard snapshot.layer >= 0, snapshot.layer <= snapshots else { throw .unknownSnapshot(snapshot.layer) }
        try Paths.removeTree(root.path)
        try Self.copy(snapshotPath(snapshot.layer), to: root.path, runner: runner)
        if snapshot.layer < snapshots {
            for number in (snapshot.layer + 1)...snapshots { try Paths.removeTree(snapshotPath(number)) }
        }
        snapshots = snapshot.layer
    }

    public func changes(since snapshot: Snapshot) throws(EnvironmentError) -> Changeset {
        guard snapshot.layer >= 0, snapshot.layer <= snapshots else { throw .unknownSnapshot(snapshot.layer) }
        var changeset = Changeset()
        try TreeComparison.compare(old: snapshotPath(snapshot.layer), new: root.path, relative: "", into: &changeset)
        return changeset
    }

    public func run(_ arguments: [String]) throws(EnvironmentError) -> CommandResult {
        try sandbox.run(root: root.path, arguments)
    }

    public func tearDown() {
        folder.release()
    }

    private func snapshotPath(_ number: Int) -> String { scratch + "/snapshots/\(number)" }

    private static func copy(_ from: String, to destination: String, runner: any CommandRunner) throws(EnvironmentError) {
        let result: CommandResult
        do {
            // --one-file-system: a live root's /proc, /sys and other mounts are not the system.
            result = try runner.run("cp", ["-a", "--one-file-system", "--reflink=auto", from, destination])
        } catch {
            throw .setup("\(error)")
        }
        guard result.succeeded else { throw .setup("cp -a \(from) failed: \(result.errorOutput)") }
    }
}

/// Compares two trees entry by entry: the changeset that turns `old` into `new`.
enum TreeComparison {
    static func compare(old: String, new: String, relative: String, into changeset: inout Changeset)
        throws(EnvironmentError)
    {
        let oldNames = Set(FileReading.directoryEntries(atPath: old + relative))
        let newNames = FileReading.directoryEntries(atPath: new + relative)
        for name in oldNames.subtracting(newNames).sorted() {
            changeset.changes[relative + "/" + name] = .removed
        }
        for name in newNames {
            let path = relative + "/" + name
            guard let now = FileReading.status(atPath: new + path) else { continue }
            let before = oldNames.contains(name) ? FileReading.status(atPath: old + path) : nil
            let sameMeta = before.map {
                $0.st_mode == now.st_mode && $0.st_uid == now.st_uid && $0.st_gid == now.st_gid
            } ?? false
            switch now.st_mode & S_IFMT {
            case S_IFDIR:
                if !sameMeta {
                    changeset.changes[path] = .directory(mode: UInt32(now.st_mode & 0o7777), owner: now.st_uid, group: now.st_gid)
                }
                try compare(old: old, new: new, relative: path, into: &changeset)
            case S_IFLNK:
                let target = FileReading.linkTarget(atPath: new + path) ?? ""
                if !sameMeta || FileReading.linkTarget(atPath: old + path) != target {
                    changeset.changes[path] = .symlink(target: target, owner: now.st_uid, group: now.st_gid)
                }
            case S_IFREG:
                // cp -a keeps mtimes, and every write moves them: a file with the same size
                // and mtime (to the nanosecond) as in the snapshot is taken as unchanged.
                // Reading every byte of both trees would make each changeset cost a full
                // read of the root.
                if let before, sameMeta, before.st_size == now.st_size,
                   before.st_mtim.tv_sec == now.st_mtim.tv_sec, before.st_mtim.tv_nsec == now.st_mtim.tv_nsec {
                    continue
                }
                do {
                    let bytes = try FileReading.bytes(atPath: new + path, limit: 1 << 30)
                    changeset.changes[path] = .file(contents: bytes, mode: UInt32(now.st_mode & 0o7777), owner: now.st_uid, group: now.st_gid)
                } catch {
                    throw .io(path: new + path, reason: "\(error)")
                }
            default:
                continue
            }
        }
    }
}
