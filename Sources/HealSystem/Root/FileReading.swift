import Glibc

/// Why a file could not be read; carries the path and errno's message.
public enum FileError: Error, Equatable, CustomStringConvertible {
    case missing(path: String)
    case unreadable(path: String, reason: String)
    case tooLarge(path: String, limit: Int)

    public var description: String {
        switch self {
        case .missing(let path): "\(path) does not exist"
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .tooLarge(let path, let limit): "\(path) is larger than \(limit) bytes"
        }
    }

    public var path: String {
        switch self {
        case .missing(let path), .unreadable(let path, _), .tooLarge(let path, _): path
        }
    }
}

/// Small, owned file reads for the readers: whole files, bounded, EINTR retried.
public enum FileReading {
    /// Reads a whole file.
    /// - Parameter limit: refuse files larger than this (a corrupt or hostile file must
    ///   not exhaust memory in the initramfs).
    /// - Throws: `FileError`.
    public static func bytes(atPath path: String, limit: Int = 64 << 20) throws(FileError) -> [UInt8] {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .missing(path: path) }
            throw .unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var result: [UInt8] = []
        // Room for the size a regular file says it has (within the limit), so the array is
        // not grown and copied read after read. Only a hint: sysfs says 4096 for a
        // one-byte attribute, procfs 0, so the limit is still checked on what is read.
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 {
            result.reserveCapacity(min(Int(st.st_size), limit) + 1)
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { buffer in
                retryingEINTR { read(fd, buffer.baseAddress, buffer.count) }
            }
            if n < 0 { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit { throw .tooLarge(path: path, limit: limit) }
        }
        return result
    }

    /// Reads a whole file as UTF-8 text (invalid sequences repaired, never fatal).
    public static func text(atPath path: String, limit: Int = 64 << 20) throws(FileError) -> String {
        String(decoding: try bytes(atPath: path, limit: limit), as: UTF8.self)
    }

    /// `lstat` without throwing: nil when the path does not exist.
    public static func status(atPath path: String, followLinks: Bool = false) -> stat? {
        var st = stat()
        let rc = followLinks ? stat(path, &st) : lstat(path, &st)
        return rc == 0 ? st : nil
    }

    /// The names in a directory, sorted; empty when it is missing or unreadable.
    public static func directoryEntries(atPath path: String) -> [String] {
        var names: [String] = []
        forEachDirectoryEntry(atPath: path) { name in
            names.append(name)
            return true
        }
        return names.sorted()
    }

    /// Calls `visit` with each name in a directory, in the order `readdir` gives them,
    /// holding none of them: for folders whose size the examined system decides.
    /// - Parameter visit: returns false to stop.
    public static func forEachDirectoryEntry(atPath path: String, _ visit: (String) -> Bool) {
        guard let dir = opendir(path) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != "..", !visit(name) { return }
        }
    }

    /// The target of a symbolic link, or nil.
    public static func linkTarget(atPath path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Repeats a system call while it fails with EINTR.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}
