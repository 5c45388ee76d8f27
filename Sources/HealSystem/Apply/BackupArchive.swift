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

    /// Writes the backup of every path `plan` touches on `root` to `tar` (durably) and
    /// returns its index.
    static func write(_ plan: ApplyPlan, root: SystemRoot, to tar: String) throws(Applier.Error) -> BackupIndex {
        let fix = plan.fixID
        let fd = retryingEINTR { open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw .errno(tar) }
        defer { close(fd) }
        let writer = try TarWriter(fd: fd, path: tar)
        var entries: [BackupIndex.Entry] = []
        for step in plan.steps {
            let host = root.host(step.path)
            guard let st = FileReading.status(atPath: host) else {
                entries.append(BackupIndex.Entry(path: step.path, kind: .absent))
                continue
            }
            var entry = BackupIndex.Entry(path: step.path, kind: .file, mode: UInt32(st.st_mode) & 0o7777,
                                          owner: st.st_uid, group: st.st_gid, size: Int64(st.st_size))
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                entry.sha256 = try writer.add(host: host, name: step.path, status: st)
            case S_IFLNK:
                entry.kind = .symlink
                entry.target = FileReading.linkTarget(atPath: host)
                _ = try writer.add(host: host, name: step.path, status: st)
            case S_IFDIR:
                entry.kind = .directory
                entry.size = nil
                _ = try writer.add(host: host, name: step.path, status: st)
                if step.action == .remove {
                    entry.tree = true
                    try addTree(host: host, name: step.path, writer: writer)
                }
            default:
                throw .backup(fix: fix, reason: "\(step.path) is a device, socket or pipe; apply does not replace those")
            }
            entries.append(entry)
        }
        try writer.close()
        guard fsync(fd) == 0 else { throw .errno(tar) }
        return BackupIndex(fixID: fix, entries: entries)
    }

    private static func addTree(host: String, name: String, writer: TarWriter) throws(Applier.Error) {
        for child in FileReading.directoryEntries(atPath: host) {
            let childHost = host + "/" + child, childName = name + "/" + child
            guard let st = FileReading.status(atPath: childHost) else { continue }
            _ = try writer.add(host: childHost, name: childName, status: st)
            if (st.st_mode & S_IFMT) == S_IFDIR { try addTree(host: childHost, name: childName, writer: writer) }
        }
    }

    // MARK: Reading back

    /// Every member of `tar`, read to the end with the data of each file hashed as it
    /// streams (`archive_read_data`): a truncated or corrupt archive throws.
    static func members(of tar: String) throws(Applier.Error) -> [String: Member] {
        let reader = try TarReader(path: tar)
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

    /// Checks the backup just written against the live files it copies: every entry of
    /// the index is in the tar with the same kind, mode, owner, group, link target and
    /// SHA-256 of its data, and every member of a stored tree matches its live file.
    static func verifyAgainstLive(tar: String, index: BackupIndex, root: SystemRoot) throws(Applier.Error) {
        let fix = index.fixID
        let members = try members(of: tar)
        for entry in index.entries where entry.kind != .absent {
            guard members[entry.path] != nil else { throw .backup(fix: fix, reason: "\(entry.path) is missing from the backup") }
        }
        for (name, member) in members {
            let host = root.host(name)
            guard let st = FileReading.status(atPath: host) else { throw .backup(fix: fix, reason: "\(name) vanished during the backup") }
            let live = Member(kind: kind(of: st), mode: UInt32(st.st_mode) & 0o7777, owner: st.st_uid, group: st.st_gid,
                              sha256: nil, size: 0, target: FileReading.linkTarget(atPath: host))
            guard live.kind == member.kind, live.mode == member.mode, live.owner == member.owner, live.group == member.group else {
                throw .backup(fix: fix, reason: "\(name) in the backup does not match the live file's type, mode or owner")
            }
            if member.kind == .symlink && member.target != live.target {
                throw .backup(fix: fix, reason: "\(name) in the backup does not point where the live link points")
            }
            if member.kind == .file {
                let stored = member.hardlink.flatMap { members[$0]?.sha256 } ?? member.sha256
                let actual = try StreamingSHA256.file(host)
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
    static func verifyStored(tar: String, sha256: String, index: BackupIndex) throws(Applier.Error) {
        let fix = index.fixID
        let actual = try StreamingSHA256.file(tar)
        guard actual == sha256 else { throw .backup(fix: fix, reason: "\(tar) hashes to \(actual), recorded \(sha256)") }
        let members = try members(of: tar)
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
    /// - Parameter linkSource: a path already restored that shares the inode (a hard link
    ///   in the backup): linked instead of extracted, so link identity comes back.
    static func restore(_ path: String, tar: String, root: SystemRoot, linkSource: String?) throws(Applier.Error) {
        let host = root.host(path)
        let temp = DurableFiles.temporary(for: host)
        try DurableFiles.removeTree(temp)
        if let linkSource {
            guard link(root.host(linkSource), temp) == 0 else { throw .errno(temp) }
            try DurableFiles.commit(temp, over: host)
            return
        }
        let reader = try TarReader(path: tar)
        let writer = try DiskWriter()
        var extracted = false
        var isTree = false
        while let header = try reader.next() {
            let name = header.name
            guard name == path || name.hasPrefix(path + "/") else { continue }
            var hardlinkHost: String?
            if let hardlink = header.member.hardlink {
                if hardlink == path || hardlink.hasPrefix(path + "/") {
                    hardlinkHost = temp + hardlink.dropFirst(path.count)
                } else if name == path {
                    // The data sits in another member: extract that one under this name.
                    try extractMember(hardlink, as: temp, tar: tar)
                    extracted = true
                    continue
                } else {
                    hardlinkHost = root.host(hardlink)
                }
            }
            if header.member.kind == .directory && name == path { isTree = true }
            try writer.write(header, as: temp + name.dropFirst(path.count), hardlink: hardlinkHost, from: reader)
            extracted = true
        }
        try writer.close()
        guard extracted else { throw .io(path: tar, reason: "holds no member \(path)") }
        if isTree {
            try syncTree(temp)
        } else if FileReading.status(atPath: temp).map({ ($0.st_mode & S_IFMT) == S_IFREG }) == true {
            try DurableFiles.fsyncPath(temp, directory: false)
        }
        // A folder the fix created where the old path was removed would block the rename.
        if let st = FileReading.status(atPath: host), (st.st_mode & S_IFMT) == S_IFDIR {
            try DurableFiles.remove(host)
        }
        try DurableFiles.commit(temp, over: host)
    }

    private static func extractMember(_ member: String, as temp: String, tar: String) throws(Applier.Error) {
        let reader = try TarReader(path: tar)
        let writer = try DiskWriter()
        while let header = try reader.next() {
            guard header.name == member else { continue }
            try writer.write(header, as: temp, hardlink: nil, from: reader)
            break
        }
        try writer.close()
    }

    /// Gives an existing folder its backed-up mode, owner and modification time.
    static func restoreMetadata(_ path: String, tar: String, root: SystemRoot) throws(Applier.Error) {
        let reader = try TarReader(path: tar)
        while let header = try reader.next() {
            guard header.name == path else { continue }
            let host = root.host(path)
            guard lchown(host, header.member.owner, header.member.group) == 0 else { throw .errno(host) }
            guard chmod(host, mode_t(header.member.mode)) == 0 else { throw .errno(host) }
            var times = [header.atime, header.mtime]
            guard utimensat(AT_FDCWD, host, &times, AT_SYMLINK_NOFOLLOW) == 0 else { throw .errno(host) }
            try DurableFiles.fsyncPath(host, directory: true)
            return
        }
        throw .io(path: tar, reason: "holds no member \(path)")
    }

    /// fsync of every file and folder of a restored tree, children before parents.
    private static func syncTree(_ path: String) throws(Applier.Error) {
        guard let st = FileReading.status(atPath: path) else { return }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            for name in FileReading.directoryEntries(atPath: path) { try syncTree(path + "/" + name) }
            try DurableFiles.fsyncPath(path, directory: true)
        case S_IFREG:
            try DurableFiles.fsyncPath(path, directory: false)
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

    /// Adds one member; returns the SHA-256 of a regular file's data (nil otherwise).
    func add(host: String, name: String, status: stat) throws(Applier.Error) -> String? {
        guard let entry = archive_entry_new() else { throw .io(path: path, reason: "out of memory") }
        defer { archive_entry_free(entry) }
        var st = status
        archive_entry_copy_sourcepath(entry, host)
        guard archive_read_disk_entry_from_file(disk, entry, -1, &st) >= ARCHIVE_WARN else {
            throw .io(path: host, reason: archive_error_string(disk).map { String(cString: $0) } ?? "cannot read metadata")
        }
        archive_entry_copy_pathname(entry, String(name.dropFirst()))
        let isFile = (status.st_mode & S_IFMT) == S_IFREG
        let identity = "\(status.st_dev):\(status.st_ino)"
        if isFile && status.st_nlink > 1, let first = seen[identity] {
            archive_entry_set_size(entry, 0)
            archive_entry_copy_hardlink(entry, String(first.dropFirst()))
            guard archive_write_header(handle, entry) >= ARCHIVE_WARN else { throw failure() }
            return try StreamingSHA256.file(host)
        }
        if isFile { seen[identity] = name }
        guard archive_write_header(handle, entry) >= ARCHIVE_WARN else { throw failure() }
        guard isFile else { return nil }
        let fd = retryingEINTR { open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard fd >= 0 else { throw .errno(host) }
        defer { Glibc.close(fd) }
        let hasher = StreamingSHA256()
        var written: Int64 = 0
        try DurableFiles.pump(from: fd, path: host) { (piece) throws(Applier.Error) in
            hasher.update(piece)
            written += Int64(piece.count)
            guard archive_write_data(handle, piece.baseAddress, piece.count) >= 0 else { throw failure() }
        }
        guard written == Int64(status.st_size) else { throw .io(path: host, reason: "changed size while being backed up") }
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

    init(path: String) throws(Applier.Error) {
        self.path = path
        guard let handle = archive_read_new() else { throw .io(path: path, reason: "out of memory") }
        self.handle = handle
        archive_read_support_format_tar(handle)
        guard archive_read_open_filename(handle, path, 1 << 16) == ARCHIVE_OK else { throw failure() }
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
        let member = BackupArchive.Member(
            kind: kind, mode: UInt32(archive_entry_perm(entry)), owner: UInt32(archive_entry_uid(entry)),
            group: UInt32(archive_entry_gid(entry)), sha256: nil, size: archive_entry_size(entry),
            target: archive_entry_symlink(entry).map { String(cString: $0) },
            hardlink: archive_entry_hardlink(entry).map { "/" + String(cString: $0) })
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
            | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK
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
