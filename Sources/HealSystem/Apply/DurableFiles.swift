import CMd
import Glibc
import HealCore

/// SHA-256 over data that arrives in pieces (libmd's `SHA256Update`), so files larger
/// than memory are hashed while they stream.
final class StreamingSHA256 {
    private var context = SHA2_CTX()

    init() { SHA256Init(&context) }

    func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        SHA256Update(&context, base.assumingMemoryBound(to: UInt8.self), buffer.count)
    }

    func finish() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        SHA256Final(&digest, &context)
        return Hex.encode(digest)
    }

    /// The digest of a whole file, read in 64 KiB pieces; never follows a final link.
    static func file(_ path: String) throws(Applier.Error) -> String {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard fd >= 0 else { throw .errno(path) }
        defer { close(fd) }
        let hasher = StreamingSHA256()
        try DurableFiles.pump(from: fd, path: path) { hasher.update($0) }
        return hasher.finish()
    }
}

/// Writes that survive a power cut: every change to a root is write-temp (in the same
/// folder), fsync, rename, fsync of the folder. Temporary names are fixed
/// (`.<name>.clarity-heal.tmp`), so redoing a step after a crash replaces what the crash
/// left behind.
enum DurableFiles {
    static let temporarySuffix = ".clarity-heal.tmp"
    static let trashSuffix = ".clarity-heal.trash"

    static func temporary(for host: String) -> String {
        sibling(of: host, suffix: temporarySuffix)
    }

    static func trash(for host: String) -> String {
        sibling(of: host, suffix: trashSuffix)
    }

    private static func sibling(of host: String, suffix: String) -> String {
        let parent = PackagePath.parent(host), name = PackagePath.name(host)
        return (parent == "/" ? "" : parent) + "/." + name + suffix
    }

    /// Reads `fd` to its end in 64 KiB pieces.
    static func pump(from fd: Int32, path: String, _ body: (UnsafeRawBufferPointer) throws(Applier.Error) -> Void)
        throws(Applier.Error)
    {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = retryingEINTR { read(fd, buffer.baseAddress, buffer.count) }
            if n < 0 { throw .errno(path) }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(Applier.Error) {
        var offset = 0
        while offset < bytes.count {
            let n = retryingEINTR { write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset) }
            if n < 0 { throw .errno(path) }
            offset += n
        }
    }

    static func writeAll(_ fd: Int32, bytes: [UInt8], path: String) throws(Applier.Error) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { raw in retryingEINTR { write(fd, raw.baseAddress, raw.count) } }
            if n < 0 { throw .errno(path) }
            offset += n
        }
    }

    static func fsyncPath(_ path: String, directory: Bool) throws(Applier.Error) {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0)) }
        guard fd >= 0 else { throw .errno(path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .errno(path) }
    }

    static func fsyncParent(of host: String) throws(Applier.Error) {
        try fsyncPath(PackagePath.parent(host), directory: true)
    }

    /// `mkdir -p`, each folder it creates made durable in its parent.
    static func makeDirectories(_ host: String, mode: mode_t = 0o755) throws(Applier.Error) {
        var built = ""
        for component in PackagePath.components(host) {
            built += "/" + component
            if mkdir(built, mode) == 0 {
                try fsyncParent(of: built)
            } else if errno != EEXIST {
                throw .errno(built)
            }
        }
    }

    /// Replaces `host` with a regular file whose bytes come from `source` (streamed), after
    /// checking they hash to `sha256`, with the owner and mode set before the rename.
    static func replaceFile(_ host: String, from source: String, sha256: String,
                            mode: UInt32, owner: UInt32, group: UInt32) throws(Applier.Error) {
        let temp = temporary(for: host)
        if unlink(temp) != 0 && errno != ENOENT { throw .errno(temp) }
        let input = retryingEINTR { open(source, O_RDONLY | O_CLOEXEC) }
        guard input >= 0 else { throw .errno(source) }
        defer { close(input) }
        let output = retryingEINTR { open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard output >= 0 else { throw .errno(temp) }
        let hasher = StreamingSHA256()
        do throws(Applier.Error) {
            try pump(from: input, path: source) { (piece) throws(Applier.Error) in
                hasher.update(piece)
                try writeAll(output, piece, path: temp)
            }
            let actual = hasher.finish()
            guard actual == sha256 else {
                throw Applier.Error.io(path: source, reason: "contents hash to \(actual), the manifest says \(sha256)")
            }
            // Owner before mode: chown clears the set-id bits.
            guard fchown(output, owner, group) == 0 else { throw Applier.Error.errno(temp) }
            guard fchmod(output, mode_t(mode & 0o7777)) == 0 else { throw Applier.Error.errno(temp) }
            guard fsync(output) == 0 else { throw Applier.Error.errno(temp) }
        } catch {
            close(output)
            unlink(temp)
            throw error
        }
        close(output)
        try commit(temp, over: host)
    }

    /// Replaces `host` with a symbolic link to `target`.
    static func replaceSymlink(_ host: String, target: String, owner: UInt32, group: UInt32) throws(Applier.Error) {
        let temp = temporary(for: host)
        if unlink(temp) != 0 && errno != ENOENT { throw .errno(temp) }
        guard symlink(target, temp) == 0 else { throw .errno(temp) }
        guard lchown(temp, owner, group) == 0 else { throw .errno(temp) }
        try commit(temp, over: host)
    }

    /// Renames a durable temporary over its final name and makes the rename durable.
    static func commit(_ temp: String, over host: String) throws(Applier.Error) {
        CrashPoint.reached()
        guard rename(temp, host) == 0 else { throw .errno(host) }
        CrashPoint.reached()
        try fsyncParent(of: host)
    }

    /// Makes `host` a folder with this mode and owner (creating it, or only setting them).
    static func makeDirectory(_ host: String, mode: UInt32, owner: UInt32, group: UInt32) throws(Applier.Error) {
        if let st = FileReading.status(atPath: host) {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw .io(path: host, reason: "exists and is not a folder") }
        } else {
            guard mkdir(host, 0o700) == 0 || errno == EEXIST else { throw .errno(host) }
        }
        guard lchown(host, owner, group) == 0 else { throw .errno(host) }
        guard chmod(host, mode_t(mode & 0o7777)) == 0 else { throw .errno(host) }
        try fsyncPath(host, directory: true)
        try fsyncParent(of: host)
    }

    /// Removes a file, link or whole folder tree. A folder is first renamed to a fixed
    /// trash name, so the path disappears in one step; the trash is then emptied (and
    /// emptied again by a redo if the crash came in between).
    static func remove(_ host: String) throws(Applier.Error) {
        let trash = trash(for: host)
        if let st = FileReading.status(atPath: host) {
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try removeTree(trash)
                guard rename(host, trash) == 0 else { throw .errno(host) }
                CrashPoint.reached()
                try fsyncParent(of: host)
            } else {
                guard unlink(host) == 0 else { throw .errno(host) }
                CrashPoint.reached()
                try fsyncParent(of: host)
            }
        }
        if FileReading.status(atPath: trash) != nil {
            try removeTree(trash)
            try fsyncParent(of: host)
        }
    }

    /// Removes a folder the fix created, only when empty (something else may have put
    /// files there since; those are not the fix's to remove).
    static func removeEmptyDirectory(_ host: String) throws(Applier.Error) {
        guard let st = FileReading.status(atPath: host) else { return }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            try remove(host)
            return
        }
        if rmdir(host) != 0 {
            if errno == ENOTEMPTY || errno == EEXIST { return }
            throw .errno(host)
        }
        CrashPoint.reached()
        try fsyncParent(of: host)
    }

    /// `rm -rf` that never crosses into another file system.
    static func removeTree(_ host: String) throws(Applier.Error) {
        guard let top = FileReading.status(atPath: host) else { return }
        try removeTree(host, device: top.st_dev)
    }

    private static func removeTree(_ host: String, device: dev_t) throws(Applier.Error) {
        guard let st = FileReading.status(atPath: host) else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard st.st_dev == device else { throw .io(path: host, reason: "is a mount point; refusing to remove below it") }
            for name in FileReading.directoryEntries(atPath: host) { try removeTree(host + "/" + name, device: device) }
            guard rmdir(host) == 0 else { throw .errno(host) }
        } else if unlink(host) != 0 {
            throw .errno(host)
        }
    }

    /// Writes small bytes (a state record, a copy) durably at `host`.
    static func writeSmallFile(_ host: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(Applier.Error) {
        let temp = temporary(for: host)
        if unlink(temp) != 0 && errno != ENOENT { throw .errno(temp) }
        let fd = retryingEINTR { open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw .errno(temp) }
        do throws(Applier.Error) {
            try writeAll(fd, bytes: bytes, path: temp)
            guard fsync(fd) == 0 else { throw Applier.Error.errno(temp) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temp, host) == 0 else { throw .errno(host) }
        try fsyncParent(of: host)
    }

    /// Copies a regular file durably (streamed), returning its SHA-256.
    @discardableResult
    static func copyFile(_ source: String, to host: String) throws(Applier.Error) -> String {
        let input = retryingEINTR { open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard input >= 0 else { throw .errno(source) }
        defer { close(input) }
        let output = retryingEINTR { open(host, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644) }
        guard output >= 0 else { throw .errno(host) }
        defer { close(output) }
        let hasher = StreamingSHA256()
        try pump(from: input, path: source) { (piece) throws(Applier.Error) in
            hasher.update(piece)
            try writeAll(output, piece, path: host)
        }
        guard fsync(output) == 0 else { throw .errno(host) }
        return hasher.finish()
    }
}
