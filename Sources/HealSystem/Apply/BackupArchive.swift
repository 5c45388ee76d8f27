import CArchive
import Glibc
import HealCore

/// The backup of everything a fix replaces or removes: a pax tar written with libarchive
/// (`archive_write_set_format_pax`), members named by their path inside the root without
/// the leading slash. Metadata comes from `archive_read_disk_entry_from_file`: mode,
/// numeric owner and group, mtime/atime/ctime, xattrs (`SCHILY.xattr.*`) and ACLs; a second
/// path to an inode already stored becomes a hard-link member. A folder the fix removes is
/// stored with everything below it; a folder it only changes is stored alone.
///
/// ```
///  backup.tar (pax)
///  ┌──────────────────────────────┬───────────────────────────────────────────────┐
///  │ pax header (mode uid gid     │ boot/grub/grubenv           data: old bytes   │
///  │  mtime atime xattrs acl)     ├───────────────────────────────────────────────┤
///  │                              │ lib/systemd/systemd  -> hard link to an earlier│
///  │                              │                        member, no data         │
///  │                              ├───────────────────────────────────────────────┤
///  │                              │ usr/lib/modules/6.1.0-9-amd64/…  (a removed   │
///  │                              │   tree: the folder, then every member below)   │
///  └──────────────────────────────┴───────────────────────────────────────────────┘
///  Paths that did not exist are not in the tar: backup-index.json lists them as absent.
/// ```
enum BackupArchive {
    /// One member as read back: what a check compares.
    struct Member: Sendable, Hashable {
        var kind: BackupIndex.Entry.Kind
        var mode: UInt32
        var owner: UInt32
        var group: UInt32
        var sha256: String?
        var size: Int64
        var target: String?
        /// For a hard-link member: the path (with its slash) of the member holding the data.
        var hardlink: String?
    }

    // MARK: Writing

    /// Writes the backup of every path `plan` touches on `root` to `tar` in the state
    /// folder (durably) and returns its index. Every path is read through the root without
    /// passing a link; a link at a path is stored as the link.
    static func write(_ plan: ApplyPlan, root: SystemRoot, to tar: String, in state: StateDirectory) throws(Applier.Error) -> BackupIndex {
        let fix = plan.fixID
        let file: OpenFile
        do {
            file = try state.files.create(tar, mode: 0o600)
        } catch {
            throw .file(error, in: state)
        }
        let writer = try TarWriter(fd: file.descriptor, path: state.host(tar))
        var entries: [BackupIndex.Entry] = []
        for step in plan.steps {
            guard let st = root.files.statusIfPresent(step.path, links: .refuse) else {
                entries.append(BackupIndex.Entry(path: step.path, kind: .absent))
                continue
            }
            var entry = BackupIndex.Entry(path: step.path, kind: .file, mode: UInt32(st.st_mode) & 0o7777,
                                          owner: st.st_uid, group: st.st_gid, size: Int64(st.st_size))
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                entry.sha256 = try writer.add(step.path, root: root, status: st)
            case S_IFLNK:
                entry.kind = .symlink
                entry.target = (try? root.files.linkTarget(step.path, links: .refuse)) ?? nil
                _ = try writer.add(step.path, root: root, status: st)
            case S_IFDIR:
                entry.kind = .directory
                entry.size = nil
                _ = try writer.add(step.path, root: root, status: st)
                if step.action == .remove {
                    entry.tree = true
                    try addTree(step.path, root: root, writer: writer, depth: 0)
                }
            default:
                throw .backup(fix: fix, reason: "\(step.path) is a device, socket or pipe; apply does not replace those")
            }
            entries.append(entry)
        }
        try writer.close()
        do {
            try file.sync()
        } catch {
            throw .file(error, in: state)
        }
        return BackupIndex(fixID: fix, entries: entries)
    }

    private static func addTree(_ path: String, root: SystemRoot, writer: TarWriter, depth: Int) throws(Applier.Error) {
        guard depth < 256 else { throw .io(path: path, reason: "nested too deep to back up") }
        let children: [String]
        do {
            children = try root.files.entries(path, links: .refuse)
        } catch {
            throw .io(path: path, reason: error.reason)
        }
        for child in children {
            let childPath = path + "/" + child
            guard let st = root.files.statusIfPresent(childPath, links: .refuse) else { continue }
            _ = try writer.add(childPath, root: root, status: st)
            if (st.st_mode & S_IFMT) == S_IFDIR { try addTree(childPath, root: root, writer: writer, depth: depth + 1) }
        }
    }

    // MARK: Reading back

    /// Every member of `tar` (in the state folder), read to the end with the data of each
    /// file hashed as it streams (`archive_read_data`): a truncated or corrupt archive
    /// throws. Member names are checked like manifest paths.
    static func members(of tar: String, in state: StateDirectory) throws(Applier.Error) -> [String: Member] {
        let reader = try TarReader(tar, in: state)
        var members: [String: Member] = [:]
        while let header = try reader.next() {
            var member = header.member
            if member.kind == .file && member.hardlink == nil {
                member.sha256 = try reader.hashData()
            }
            members[header.name] = member
        }
        return members
    }

    /// The SHA-256 of a file in the state folder.
    static func digest(_ path: String, in state: StateDirectory) throws(Applier.Error) -> String {
        do {
            return try StreamingSHA256.digest(of: state.files.open(path, limit: .max, links: .refuse))
        } catch {
            throw .file(error, in: state)
        }
    }

    /// Checks the backup just written against the live files it copies: every entry of
    /// the index is in the tar with the same kind, mode, owner, group, link target and
    /// SHA-256 of its data, and every member of a stored tree matches its live file.
    static func verifyAgainstLive(tar: String, in state: StateDirectory, index: BackupIndex, root: SystemRoot) throws(Applier.Error) {
        let fix = index.fixID
        let members = try members(of: tar, in: state)
        for entry in index.entries where entry.kind != .absent {
            guard members[entry.path] != nil else { throw .backup(fix: fix, reason: "\(entry.path) is missing from the backup") }
        }
        for (name, member) in members {
            guard let st = root.files.statusIfPresent(name, links: .refuse) else {
                throw .backup(fix: fix, reason: "\(name) vanished during the backup")
            }
            let target = (try? root.files.linkTarget(name, links: .refuse)) ?? nil
            let live = Member(kind: kind(of: st), mode: UInt32(st.st_mode) & 0o7777, owner: st.st_uid, group: st.st_gid,
                              sha256: nil, size: 0, target: target)
            guard live.kind == member.kind, live.mode == member.mode, live.owner == member.owner, live.group == member.group else {
                throw .backup(fix: fix, reason: "\(name) in the backup does not match the live file's type, mode or owner")
            }
            if member.kind == .symlink && member.target != live.target {
                throw .backup(fix: fix, reason: "\(name) in the backup does not point where the live link points")
            }
            if member.kind == .file {
                let stored = member.hardlink.flatMap { members[$0]?.sha256 } ?? member.sha256
                let actual: String
                do {
                    actual = try StreamingSHA256.digest(of: root.files.open(name, limit: .max, links: .refuse))
                } catch {
                    throw .backup(fix: fix, reason: "\(name) cannot be read back: \(error.reason)")
                }
                guard stored == actual else {
                    throw .backup(fix: fix, reason: "\(name) reads back from the backup as \(stored ?? "nothing"), the live file is \(actual)")
                }
            }
        }
        for entry in index.entries where entry.kind == .file {
            guard members[entry.path]?.sha256 ?? members[entry.path]?.hardlink.flatMap({ members[$0]?.sha256 }) == entry.sha256 else {
                throw .backup(fix: fix, reason: "the index and the backup disagree on \(entry.path)")
            }
        }
    }

    /// Checks a stored backup on its own (the live files may have changed since): the tar
    /// hashes to `sha256`, reads to its end, and holds every indexed path with the indexed
    /// contents.
    static func verifyStored(tar: String, in state: StateDirectory, sha256: String, index: BackupIndex) throws(Applier.Error) {
        let fix = index.fixID
        let actual = try digest(tar, in: state)
        guard actual == sha256 else { throw .backup(fix: fix, reason: "\(state.host(tar)) hashes to \(actual), recorded \(sha256)") }
        let members = try members(of: tar, in: state)
        for entry in index.entries where entry.kind != .absent {
            guard let member = members[entry.path], member.kind == entry.kind else {
                throw .backup(fix: fix, reason: "\(entry.path) is missing from the backup")
            }
            if entry.kind == .file {
                let stored = member.hardlink.flatMap { members[$0]?.sha256 } ?? member.sha256
                guard stored == entry.sha256 else { throw .backup(fix: fix, reason: "\(entry.path) in the backup does not match its index") }
            }
        }
    }

    static func kind(of st: stat) -> BackupIndex.Entry.Kind {
        switch st.st_mode & S_IFMT {
        case S_IFREG: .file
        case S_IFLNK: .symlink
        case S_IFDIR: .directory
        default: .absent
        }
    }

    // MARK: Restoring

    /// Puts `path` back as the backup holds it (a file, link or whole tree): extracted with
    /// `archive_write_disk` (owner, mode, times, xattrs, ACLs) to the fixed temporary name
    /// beside it, made durable, then renamed over whatever is there.
    ///
    /// libarchive extracts by host path. The folder of `path` is first reached through the
    /// root with links refused, so that host path passes no link inside the root; libarchive
    /// is told to refuse links and `..` too (`ARCHIVE_EXTRACT_SECURE_SYMLINKS`,
    /// `_SECURE_NODOTDOT`), and every member name is checked like a manifest path.
    /// - Parameter linkSource: a path already restored that shares the inode (a hard link
    ///   in the backup): linked instead of extracted, so link identity comes back.
    static func restore(_ path: String, tar: String, in state: StateDirectory, root: SystemRoot,
                        linkSource: String?) throws(Applier.Error) {
        let temp = ConfinedDirectory.temporaryPath(for: path)
        do {
            try root.files.removeTree(temp)
            if let linkSource {
                try root.files.link(path, to: linkSource)
                return
            }
        } catch {
            throw .io(path: path, reason: error.reason)
        }
        let hostTemp = root.host(temp)
        let reader = try TarReader(tar, in: state)
        let writer = try DiskWriter()
        var extracted = false
        var isTree = false
        while let header = try reader.next() {
            let name = header.name
            guard name == path || name.hasPrefix(path + "/") else { continue }
            var hardlinkHost: String?
            if let hardlink = header.member.hardlink {
                if hardlink == path || hardlink.hasPrefix(path + "/") {
                    hardlinkHost = hostTemp + hardlink.dropFirst(path.count)
                } else if name == path {
                    // The data sits in another member: extract that one under this name.
                    try extractMember(hardlink, as: hostTemp, tar: tar, in: state)
                    extracted = true
                    continue
                } else {
                    // A link to a path outside the restored tree: it must be reachable
                    // without a link too.
                    guard root.files.statusIfPresent(hardlink, links: .refuse) != nil else {
                        throw .io(path: hardlink, reason: "the hard link of \(name) in the backup cannot be reached")
                    }
                    hardlinkHost = root.host(hardlink)
                }
            }
            if header.member.kind == .directory && name == path { isTree = true }
            try writer.write(header, as: hostTemp + name.dropFirst(path.count), hardlink: hardlinkHost, from: reader)
            extracted = true
        }
        try writer.close()
        guard extracted else { throw .io(path: state.host(tar), reason: "holds no member \(path)") }
        do {
            if isTree {
                try syncTree(temp, root: root, depth: 0)
            } else if root.files.kind(temp) == .regular {
                try root.files.sync(temp)
            }
            // A folder the fix created where the old path was removed would block the rename.
            if root.files.kind(path) == .directory {
                try root.files.remove(path)
            }
            try root.files.commitTemporary(over: path)
        } catch {
            throw .io(path: path, reason: error.reason)
        }
    }

    private static func extractMember(_ member: String, as hostTemp: String, tar: String, in state: StateDirectory) throws(Applier.Error) {
        let reader = try TarReader(tar, in: state)
        let writer = try DiskWriter()
        while let header = try reader.next() {
            guard header.name == member else { continue }
            try writer.write(header, as: hostTemp, hardlink: nil, from: reader)
            break
        }
        try writer.close()
    }

    /// Gives an existing folder its backed-up mode, owner and modification time.
    static func restoreMetadata(_ path: String, tar: String, in state: StateDirectory, root: SystemRoot) throws(Applier.Error) {
        let reader = try TarReader(tar, in: state)
        while let header = try reader.next() {
            guard header.name == path else { continue }
            do {
                try root.files.setMetadata(path, owner: (header.member.owner, header.member.group), mode: header.member.mode,
                                           times: (header.atime, header.mtime))
            } catch {
                throw .io(path: path, reason: error.reason)
            }
            return
        }
        throw .io(path: state.host(tar), reason: "holds no member \(path)")
    }

    /// fsync of every file and folder of a restored tree, children before parents.
    private static func syncTree(_ path: String, root: SystemRoot, depth: Int) throws(FileError) {
        guard depth < 256, let kind = root.files.kind(path) else { return }
        switch kind {
        case .directory:
            for name in try root.files.entries(path, links: .refuse) { try syncTree(path + "/" + name, root: root, depth: depth + 1) }
            try root.files.sync(path)
        case .regular:
            try root.files.sync(path)
        default:
            return
        }
    }
}

// MARK: - libarchive handles, one owner each

/// A pax tar being written to a file descriptor (`archive_write_new`,
/// `archive_write_set_format_pax`, `archive_write_open_fd`); metadata read with
/// `archive_read_disk_entry_from_file`.
private final class TarWriter {
    private let handle: OpaquePointer
    private let disk: OpaquePointer
    private let path: String
    private var seen: [String: String] = [:]

    init(fd: Int32, path: String) throws(Applier.Error) {
        self.path = path
        guard let handle = archive_write_new() else { throw .io(path: path, reason: "out of memory") }
        guard let disk = archive_read_disk_new() else {
            archive_write_free(handle)
            throw .io(path: path, reason: "out of memory")
        }
        self.handle = handle
        self.disk = disk
        // Never follow a link: the backup stores the link itself.
        archive_read_disk_set_symlink_physical(disk)
        archive_read_disk_set_behavior(disk, 0)
        guard archive_write_set_format_pax(handle) == ARCHIVE_OK,
              archive_write_open_fd(handle, fd) == ARCHIVE_OK else { throw failure() }
    }

    deinit {
        archive_write_free(handle)
        archive_read_free(disk)
    }

    /// Adds the member for `path` of `root` (its status `status`, read without following
    /// links); returns the SHA-256 of a regular file's data (nil otherwise).
    ///
    /// Metadata comes from `archive_read_disk_entry_from_file` given a descriptor the root
    /// opened (xattrs and ACLs are read through it); a symbolic link cannot be opened, so its
    /// own metadata is read by host path, its folder having been reached without a link.
    func add(_ path: String, root: SystemRoot, status: stat) throws(Applier.Error) -> String? {
        guard let entry = archive_entry_new() else { throw .io(path: self.path, reason: "out of memory") }
        defer { archive_entry_free(entry) }
        let opened: OpenFile?
        do {
            opened = try root.files.openForMetadata(path, links: .refuse)
        } catch {
            throw .io(path: path, reason: error.reason)
        }
        var st = status
        archive_entry_copy_sourcepath(entry, root.host(path))
        guard archive_read_disk_entry_from_file(disk, entry, opened?.descriptor ?? -1, &st) >= ARCHIVE_WARN else {
            throw .io(path: path, reason: archive_error_string(disk).map { String(cString: $0) } ?? "cannot read metadata")
        }
        archive_entry_copy_pathname(entry, String(path.dropFirst()))
        let isFile = (status.st_mode & S_IFMT) == S_IFREG
        let identity = "\(status.st_dev):\(status.st_ino)"
        if isFile && status.st_nlink > 1, let first = seen[identity] {
            archive_entry_set_size(entry, 0)
            archive_entry_copy_hardlink(entry, String(first.dropFirst()))
            guard archive_write_header(handle, entry) >= ARCHIVE_WARN else { throw failure() }
            guard let opened else { throw .io(path: path, reason: "cannot be opened") }
            do {
                return try StreamingSHA256.digest(of: opened)
            } catch {
                throw .io(path: path, reason: error.reason)
            }
        }
        if isFile { seen[identity] = path }
        guard archive_write_header(handle, entry) >= ARCHIVE_WARN else { throw failure() }
        guard isFile, let opened else { return nil }
        let hasher = StreamingSHA256()
        var written: Int64 = 0
        let handle = self.handle
        var writeFailed = false
        do {
            try opened.stream { (piece) throws(FileError) in
                hasher.update(piece)
                written += Int64(piece.count)
                guard archive_write_data(handle, piece.baseAddress, piece.count) >= 0 else {
                    writeFailed = true
                    throw FileError.system(path: path, call: "archive_write_data", errno: EIO)
                }
            }
        } catch {
            if writeFailed { throw failure() }
            throw .io(path: path, reason: error.reason)
        }
        guard written == Int64(status.st_size) else { throw .io(path: path, reason: "changed size while being backed up") }
        guard archive_write_finish_entry(handle) >= ARCHIVE_WARN else { throw failure() }
        return hasher.finish()
    }

    func close() throws(Applier.Error) {
        guard archive_write_close(handle) == ARCHIVE_OK else { throw failure() }
    }

    private func failure() -> Applier.Error {
        .io(path: path, reason: archive_error_string(handle).map { String(cString: $0) } ?? "libarchive write failed")
    }
}

/// A tar read from a file in 64 KiB blocks (`archive_read_open_filename`), never whole.
final class TarReader {
    struct Header {
        var name: String
        var member: BackupArchive.Member
        var atime: timespec
        var mtime: timespec
        fileprivate let entry: OpaquePointer
    }

    fileprivate let handle: OpaquePointer
    private let path: String

    /// The file it reads; libarchive reads its descriptor, which this keeps open.
    private let file: OpenFile

    /// Opens `tar` in the state folder (never through a link, only a regular file).
    init(_ tar: String, in state: StateDirectory) throws(Applier.Error) {
        path = state.host(tar)
        do {
            file = try state.files.open(tar, limit: .max, links: .refuse)
        } catch {
            throw .file(error, in: state)
        }
        guard let handle = archive_read_new() else { throw .io(path: path, reason: "out of memory") }
        self.handle = handle
        archive_read_support_format_tar(handle)
        guard archive_read_open_fd(handle, file.descriptor, 1 << 16) == ARCHIVE_OK else { throw failure() }
    }

    deinit { archive_read_free(handle) }

    func next() throws(Applier.Error) -> Header? {
        var entry: OpaquePointer?
        let rc = archive_read_next_header(handle, &entry)
        if rc == ARCHIVE_EOF { return nil }
        guard rc == ARCHIVE_OK, let entry else { throw failure() }
        let type = UInt32(archive_entry_filetype(entry))
        let kind: BackupIndex.Entry.Kind = switch type {
        case heal_ae_ifdir: .directory
        case heal_ae_iflnk: .symlink
        default: .file
        }
        var name = "/" + (archive_entry_pathname(entry).map { String(cString: $0) } ?? "")
        // The pax writer stores folders as `boot/`.
        while name.count > 1 && name.hasSuffix("/") { name.removeLast() }
        // The tar sits in a root that may be hostile: every name is a path a rollback
        // writes, held to the rules of a manifest path.
        if let problem = PackagePath.problem(name) { throw .io(path: path, reason: "holds a member \(name.debugDescription), which \(problem)") }
        let hardlink = archive_entry_hardlink(entry).map { "/" + String(cString: $0) }
        if let hardlink, let problem = PackagePath.problem(hardlink) {
            throw .io(path: path, reason: "holds a hard link to \(hardlink.debugDescription), which \(problem)")
        }
        let member = BackupArchive.Member(
            kind: kind, mode: UInt32(archive_entry_perm(entry)), owner: UInt32(archive_entry_uid(entry)),
            group: UInt32(archive_entry_gid(entry)), sha256: nil, size: archive_entry_size(entry),
            target: archive_entry_symlink(entry).map { String(cString: $0) },
            hardlink: hardlink)
        return Header(name: name, member: member,
                      atime: timespec(tv_sec: archive_entry_atime(entry), tv_nsec: archive_entry_atime_nsec(entry)),
                      mtime: timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry)),
                      entry: entry)
    }

    /// The SHA-256 of the current member's data, read to its end.
    func hashData() throws(Applier.Error) -> String {
        let hasher = StreamingSHA256()
        try readData { hasher.update($0) }
        return hasher.finish()
    }

    func readData(_ body: (UnsafeRawBufferPointer) throws(Applier.Error) -> Void) throws(Applier.Error) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = archive_read_data(handle, buffer.baseAddress, buffer.count)
            if n == 0 { return }
            guard n > 0 else { throw failure() }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    private func failure() -> Applier.Error {
        .io(path: path, reason: archive_error_string(handle).map { String(cString: $0) } ?? "libarchive read failed")
    }
}

/// Extraction to disk (`archive_write_disk_new`) restoring owner, mode, times, xattrs and
/// ACLs; never through a link or `..`.
private final class DiskWriter {
    private let handle: OpaquePointer

    init() throws(Applier.Error) {
        guard let handle = archive_write_disk_new() else { throw .io(path: "archive_write_disk", reason: "out of memory") }
        self.handle = handle
        let flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR
            | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_UNLINK
        archive_write_disk_set_options(handle, flags)
    }

    deinit { archive_write_free(handle) }

    func write(_ header: TarReader.Header, as host: String, hardlink: String?, from reader: TarReader) throws(Applier.Error) {
        let entry = header.entry
        archive_entry_copy_pathname(entry, host)
        if let hardlink { archive_entry_copy_hardlink(entry, hardlink) }
        guard archive_write_header(handle, entry) >= ARCHIVE_WARN else { throw failure(host) }
        if header.member.kind == .file && archive_entry_size(entry) > 0 {
            try reader.readData { (piece) throws(Applier.Error) in
                guard archive_write_data(handle, piece.baseAddress, piece.count) >= 0 else { throw failure(host) }
            }
        }
        guard archive_write_finish_entry(handle) >= ARCHIVE_WARN else { throw failure(host) }
    }

    func close() throws(Applier.Error) {
        guard archive_write_close(handle) >= ARCHIVE_WARN else { throw failure("archive_write_disk") }
    }

    private func failure(_ path: String) -> Applier.Error {
        .io(path: path, reason: archive_error_string(handle).map { String(cString: $0) } ?? "libarchive extract failed")
    }
}
