import CArchive
import Glibc

/// An uncompressed newc cpio (the kernel's initramfs format, `Documentation/driver-api/
/// early-userspace/buffer-format.rst`) written with libarchive (`archive_write_new`,
/// `archive_write_set_format_cpio_newc`, `archive_write_open_fd`).
///
/// ```
///  ┌─ 110-byte header "070701" ino mode uid gid nlink mtime filesize … namesize ─┐
///  │ name NUL, padded to 4 │ data, padded to 4 │ … next member … │ "TRAILER!!!" │
///  └──────────────────────────────────────────────────────────────────────────────┘
/// ```
///
/// Members are owned by root with mtime 0, so the same inputs give the same bytes. The
/// kernel's unpacker makes no parent folders: `directory` must come before what is in it.
/// No compression filter: the kernel unpacks plain newc fastest, and the static libarchive
/// would pull in a compressor library for nothing.
final class CpioWriter {
    enum Error: Swift.Error, CustomStringConvertible {
        case write(path: String, reason: String)

        var description: String {
            switch self {
            case .write(let path, let reason): "cannot write the cpio archive \(path): \(reason)"
            }
        }
    }

    private let handle: OpaquePointer
    private let fd: Int32
    let path: String
    private var closed = false

    /// Creates `path` (must not exist) and starts the archive.
    init(path: String) throws(CpioWriter.Error) {
        self.path = path
        let fd = retryingEINTR { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw .write(path: path, reason: String(cString: strerror(errno))) }
        guard let handle = archive_write_new() else {
            close(fd)
            throw .write(path: path, reason: "out of memory")
        }
        self.fd = fd
        self.handle = handle
        guard archive_write_set_format_cpio_newc(handle) == ARCHIVE_OK,
              // One 512-byte block at the end is enough; libarchive pads to 10 KiB otherwise.
              archive_write_set_bytes_per_block(handle, 512) == ARCHIVE_OK,
              archive_write_open_fd(handle, fd) == ARCHIVE_OK else {
            let error = failure()
            archive_write_free(handle)
            close(fd)
            throw error
        }
    }

    deinit {
        archive_write_free(handle)
        close(fd)
    }

    func directory(_ name: String, mode: UInt32 = 0o755) throws(CpioWriter.Error) {
        try header(name, type: heal_ae_ifdir, mode: mode, size: 0)
    }

    func symlink(_ name: String, target: String) throws(CpioWriter.Error) {
        try header(name, type: heal_ae_iflnk, mode: 0o777, size: 0) { archive_entry_copy_symlink($0, target) }
    }

    /// A character device node (`/dev/console`, 5:1).
    func characterDevice(_ name: String, major: UInt32, minor: UInt32, mode: UInt32 = 0o600) throws(CpioWriter.Error) {
        try header(name, type: heal_ae_ifchr, mode: mode, size: 0) { entry in
            archive_entry_set_rdevmajor(entry, dev_t(major))
            archive_entry_set_rdevminor(entry, dev_t(minor))
        }
    }

    /// A regular file with `bytes`.
    func file(_ name: String, bytes: [UInt8], mode: UInt32 = 0o644) throws(CpioWriter.Error) {
        try header(name, type: heal_ae_ifreg, mode: mode, size: Int64(bytes.count))
        try data(bytes[...])
    }

    /// A regular file copied from `source` on this machine (links followed), at most
    /// `limit` bytes, with `mode` or the source's permissions; returns its size.
    @discardableResult
    func file(_ name: String, copying source: String, mode: UInt32? = nil, limit: Int64) throws(CpioWriter.Error) -> Int64 {
        let input = retryingEINTR { open(source, O_RDONLY | O_CLOEXEC) }
        guard input >= 0 else { throw .write(path: path, reason: "cannot open \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        var st = stat()
        guard fstat(input, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw .write(path: path, reason: "\(source) is not a regular file")
        }
        let size = Int64(st.st_size)
        guard size <= limit else { throw .write(path: path, reason: "\(source) is larger than \(limit) bytes") }
        // The source's own permissions by default: the dynamic loader must stay executable
        // (the kernel opens an ELF interpreter with exec permission, binfmt_elf.c).
        try header(name, type: heal_ae_ifreg, mode: mode ?? UInt32(st.st_mode) & 0o755, size: size)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var copied: Int64 = 0
        while copied < size {
            let n = buffer.withUnsafeMutableBytes { raw in retryingEINTR { read(input, raw.baseAddress, raw.count) } }
            guard n > 0 else { throw .write(path: path, reason: "\(source) changed size while it was copied") }
            let piece = buffer[0..<min(n, Int(size - copied))]
            try data(piece)
            copied += Int64(piece.count)
        }
        return size
    }

    /// Writes the trailer and flushes. Safe to call twice.
    func finish() throws(CpioWriter.Error) {
        guard !closed else { return }
        closed = true
        guard archive_write_close(handle) == ARCHIVE_OK else { throw failure() }
        guard fsync(fd) == 0 || errno == EINVAL else { throw .write(path: path, reason: String(cString: strerror(errno))) }
    }

    private func header(_ name: String, type: UInt32, mode: UInt32, size: Int64,
                        _ extra: (OpaquePointer) -> Void = { _ in }) throws(CpioWriter.Error) {
        guard let entry = archive_entry_new() else { throw .write(path: path, reason: "out of memory") }
        defer { archive_entry_free(entry) }
        // newc names have no leading slash (`usr/lib/…`), as the kernel's own gen_init_cpio writes.
        archive_entry_copy_pathname(entry, String(name.drop { $0 == "/" }))
        archive_entry_set_filetype(entry, type)
        archive_entry_set_perm(entry, mode_t(mode))
        archive_entry_set_size(entry, size)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        archive_entry_set_nlink(entry, type == heal_ae_ifdir ? 2 : 1)
        archive_entry_set_mtime(entry, 0, 0)
        extra(entry)
        guard archive_write_header(handle, entry) == ARCHIVE_OK else { throw failure() }
    }

    private func data(_ bytes: ArraySlice<UInt8>) throws(CpioWriter.Error) {
        let written = bytes.withUnsafeBytes { archive_write_data(handle, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw failure() }
    }

    private func failure() -> CpioWriter.Error {
        .write(path: path, reason: archive_error_string(handle).map { String(cString: $0) } ?? "libarchive failed")
    }
}
