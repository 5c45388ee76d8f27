import CLinux
import Glibc

extension ConfinedDirectory {
    /// The kernel's `RESOLVE_IN_ROOT` done by hand, for kernels without `openat2` (before
    /// Linux 5.6, e.g. RHEL 8's 4.18): one component at a time, each opened `O_PATH |
    /// O_NOFOLLOW` relative to the folder before it. A link is read with `readlinkat` and
    /// its target pushed back onto the path: an absolute target restarts at the directory,
    /// `..` pops a folder but never the directory itself. At most 40 links, like the
    /// kernel's `ELOOP`. With `.refuse`, any link on the way (or a last one that would be
    /// followed) refuses the path.
    func walk(_ path: String, links: Links, followLast: Bool, directory: Bool = false) throws(FileError) -> Int32 {
        var pending = path.split(separator: "/").map(String.init).reversed() as [String]
        // Open folders from the directory down; the first is never popped.
        var stack: [Int32] = [try openAnchor()]
        defer { for fd in stack { close(fd) } }
        var followed = 0
        var walked: [String] = []

        while let component = pending.popLast() {
            if component.isEmpty || component == "." { continue }
            if component == ".." {
                if stack.count > 1 { close(stack.removeLast()); walked.removeLast() }
                continue
            }
            let isLast = pending.allSatisfy { $0.isEmpty || $0 == "." }
            let fd = retryingEINTR { openat(stack[stack.count - 1], component, HEAL_O_PATH | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw FileError.from(errno, path: path, call: "openat") }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                let code = errno
                close(fd)
                throw .system(path: path, call: "fstat", errno: code)
            }
            let here = "/" + (walked + [component]).joined(separator: "/")
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                if isLast && !followLast {
                    if directory { close(fd); throw .wrongKind(path: path, expected: .directory, found: .symlink) }
                    return fd
                }
                if links == .refuse { close(fd); throw .throughLink(path: path, link: here) }
                followed += 1
                guard followed <= 40 else { close(fd); throw .system(path: path, call: "openat", errno: ELOOP) }
                let target = Self.readLink(fd)
                close(fd)
                guard let target, !target.isEmpty else { throw .missing(path: path) }
                if target.hasPrefix("/") {
                    while stack.count > 1 { close(stack.removeLast()) }
                    walked.removeAll()
                }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
            case S_IFDIR:
                if isLast { return fd }
                stack.append(fd)
                walked.append(component)
            default:
                if !isLast { close(fd); throw .missing(path: path) }
                if directory {
                    close(fd)
                    throw .wrongKind(path: path, expected: .directory, found: FileKind(mode: st.st_mode))
                }
                return fd
            }
        }
        // The path named the directory itself, or a folder reached by `..` or a link.
        let top = dup(stack[stack.count - 1])
        guard top >= 0 else { throw .system(path: path, call: "dup", errno: errno) }
        return top
    }

    /// The target of the link `fd` (an `O_PATH | O_NOFOLLOW` descriptor of it).
    static func readLink(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(fd, "", &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
