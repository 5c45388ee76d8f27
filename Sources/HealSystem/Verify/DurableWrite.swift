import Glibc

/// The small state files verification owns (the flag, grubenv), written the way every
/// write to a real root is (docs/formats.md): a temporary file in the same folder, fsync,
/// rename over the target, fsync of the folder. A crash leaves the old or the new file.
enum DurableWrite {
    enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case io(path: String, call: String, reason: String)

        var description: String {
            switch self {
            case .io(let path, let call, let reason): "cannot write \(path): \(call): \(reason)"
            }
        }
    }

    private static func fail(_ path: String, _ call: String) -> Error {
        .io(path: path, call: call, reason: String(cString: strerror(errno)))
    }

    /// Replaces `path` with `bytes`; the folder must exist. The mode of an existing file
    /// is kept (grubenv is 0644 on Debian, 0600 on Fedora).
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o644) throws(Error) {
        var st = stat()
        let keptMode = lstat(path, &st) == 0 ? st.st_mode & 0o7777 : mode
        let temporary = folder(of: path) + "/." + name(of: path) + ".clarity-heal-verify.tmp"
        let fd = retryingEINTR { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, keptMode) }
        guard fd >= 0 else { throw fail(temporary, "open") }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let error = fail(temporary, "write")
                close(fd)
                unlink(temporary)
                throw error
            }
            written += n
        }
        guard fchmod(fd, keptMode) == 0, fsync(fd) == 0 else {
            let error = fail(temporary, "fsync")
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = fail(path, "rename")
            unlink(temporary)
            throw error
        }
        try syncFolder(of: path)
    }

    /// Removes `path` durably; a missing file is already removed.
    static func remove(_ path: String) throws(Error) {
        guard unlink(path) == 0 else {
            if errno == ENOENT { return }
            throw fail(path, "unlink")
        }
        try syncFolder(of: path)
    }

    /// `mkdir -p`, each new folder made durable in its parent.
    static func makeFolders(_ path: String) throws(Error) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) == 0 {
                try syncFolder(of: current)
            } else if errno != EEXIST {
                throw fail(current, "mkdir")
            }
        }
    }

    static func syncFolder(of path: String) throws(Error) {
        let parent = folder(of: path)
        let fd = retryingEINTR { open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw fail(parent, "open") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw fail(parent, "fsync") }
    }

    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
