import Glibc

extension ConfinedDirectory {
    /// The default bound of a whole-file read (a corrupt or hostile file must not exhaust
    /// memory in the initramfs).
    public static let defaultReadLimit = 64 << 20
    /// The default bound of a folder listing.
    public static let defaultEntryLimit = 1 << 17

    /// Opens a regular file for reading.
    ///
    /// The object is opened `O_PATH` first and checked with `fstat`: a FIFO, device, socket
    /// or folder is refused without ever being opened for I/O (opening a FIFO blocks until a
    /// writer comes; opening a device can have effects). Then it is opened `O_RDONLY |
    /// O_NONBLOCK | O_NOCTTY` through `/proc/self/fd`.
    /// - Parameters:
    ///   - limit: refuse a file larger than this before reading it (reads stop there too).
    ///   - links: `.followInside` (the default) reads what the booted system would read.
    ///   - sizeKnown: whether `st_size` tells the size. It does not on /proc (0) and /sys
    ///     (4096 whatever the contents): there only the read itself is bounded.
    ///   - followLast: whether a link as the last component is followed (by default when
    ///     links are followed at all); when not, a link there is `.notRegular(.symlink)`,
    ///     as dpkg's own checks see it.
    /// - Throws: `FileError`.
    public func open(_ path: String, limit: Int = defaultReadLimit, links: Links = .followInside,
                     sizeKnown: Bool = true, followLast: Bool? = nil) throws(FileError) -> OpenFile {
        let follows = followLast ?? (links == .followInside)
        let located = try locate(path, links: links, followLast: follows)
        defer { close(located) }
        let st = try Self.fstatus(located, path: path)
        let kind = FileKind(mode: st.st_mode)
        guard kind == .regular else {
            if kind == .symlink && links == .refuse { throw .throughLink(path: path, link: path) }
            throw .notRegular(path: path, kind: kind)
        }
        guard !sizeKnown || Int(st.st_size) <= limit else { throw .tooLarge(path: path, limit: limit) }
        let fd = try reopen(located, flags: O_RDONLY | O_NONBLOCK, path: path)
        return OpenFile(descriptor: fd, path: path, status: st, sizeKnown: sizeKnown)
    }

    /// Opens a folder or a regular file for reading its metadata (xattrs, ACLs): `O_RDONLY`,
    /// never a FIFO or device, never through a link (`links`), the last component not
    /// followed. Nil for a link.
    public func openForMetadata(_ path: String, links: Links = .refuse) throws(FileError) -> OpenFile? {
        let located = try locate(path, links: links, followLast: false)
        defer { close(located) }
        let st = try Self.fstatus(located, path: path)
        let kind = FileKind(mode: st.st_mode)
        switch kind {
        case .symlink: return nil
        case .regular, .directory:
            let fd = try reopen(located, flags: O_RDONLY | O_NONBLOCK | (kind == .directory ? O_DIRECTORY : 0), path: path)
            return OpenFile(descriptor: fd, path: path, status: st)
        default: throw .notRegular(path: path, kind: kind)
        }
    }

    /// Reads a whole regular file, at most `limit` bytes.
    public func read(_ path: String, limit: Int = defaultReadLimit, links: Links = .followInside,
                     sizeKnown: Bool = true) throws(FileError) -> [UInt8] {
        try open(path, limit: limit, links: links, sizeKnown: sizeKnown).readAll(limit: limit)
    }

    /// Reads a whole regular file as UTF-8 text (invalid sequences repaired, never fatal).
    public func text(_ path: String, limit: Int = defaultReadLimit, links: Links = .followInside) throws(FileError) -> String {
        String(decoding: try read(path, limit: limit, links: links), as: UTF8.self)
    }

    /// Reads a file, nil when it does not exist; other failures are thrown.
    public func readIfPresent(_ path: String, limit: Int = defaultReadLimit, links: Links = .followInside) throws(FileError) -> [UInt8]? {
        do {
            return try read(path, limit: limit, links: links)
        } catch {
            if case .missing = error { return nil }
            throw error
        }
    }

    /// `lstat` (or `stat` with `followLast`) of `path` resolved inside.
    public func status(_ path: String, links: Links = .followInside, followLast: Bool = false) throws(FileError) -> stat {
        let fd = try locate(path, links: links, followLast: followLast)
        defer { close(fd) }
        return try Self.fstatus(fd, path: path)
    }

    /// The status, or nil when nothing is at `path` (or it cannot be reached).
    public func statusIfPresent(_ path: String, links: Links = .followInside, followLast: Bool = false) -> stat? {
        try? status(path, links: links, followLast: followLast)
    }

    /// The kind of object at `path` (a link is reported as a link), nil when missing.
    public func kind(_ path: String, followLast: Bool = false) -> FileKind? {
        statusIfPresent(path, followLast: followLast).map { FileKind(mode: $0.st_mode) }
    }

    /// Whether something (a link counts, even a dangling one) is at `path`.
    public func exists(_ path: String) -> Bool { statusIfPresent(path) != nil }

    /// The target of the link at `path`, nil when `path` is not a link.
    /// - Throws: `FileError` when `path` cannot be reached.
    public func linkTarget(_ path: String, links: Links = .followInside) throws(FileError) -> String? {
        let fd = try locate(path, links: links, followLast: false)
        defer { close(fd) }
        let st = try Self.fstatus(fd, path: path)
        guard (st.st_mode & S_IFMT) == S_IFLNK else { return nil }
        guard let target = Self.readLink(fd) else { throw .system(path: path, call: "readlinkat", errno: errno) }
        return target
    }

    /// The names in a folder, sorted, without `.` and `..`.
    /// - Parameter limit: refuse a folder with more entries than this.
    public func entries(_ path: String, limit: Int = defaultEntryLimit, links: Links = .followInside) throws(FileError) -> [String] {
        let located = try locate(path, links: links, followLast: true, directory: true)
        defer { close(located) }
        let fd = try reopen(located, flags: O_RDONLY | O_DIRECTORY, path: path)
        return try Self.entries(of: fd, path: path, limit: limit)
    }

    /// Calls `visit` with each name in a folder, in `readdir`'s order, keeping none of them
    /// (a folder the examined system fills, pstore's, may hold any number).
    /// - Parameter visit: returns false to stop.
    public func forEachEntry(_ path: String, links: Links = .followInside, _ visit: (String) -> Bool) throws(FileError) {
        let located = try locate(path, links: links, followLast: true, directory: true)
        defer { close(located) }
        let fd = try reopen(located, flags: O_RDONLY | O_DIRECTORY, path: path)
        try Self.names(of: fd, path: path, visit)
    }

    /// The names in a folder, or none when it is missing or unreadable.
    public func entriesIfPresent(_ path: String, limit: Int = defaultEntryLimit) -> [String] {
        (try? entries(path, limit: limit)) ?? []
    }

    /// Lists the folder open at `fd` and closes it.
    static func entries(of fd: Int32, path: String, limit: Int) throws(FileError) -> [String] {
        var names: [String] = []
        var overflow = false
        try Self.names(of: fd, path: path) { name in
            names.append(name)
            overflow = names.count > limit
            return !overflow
        }
        if overflow { throw .tooLarge(path: path, limit: limit) }
        return names.sorted()
    }

    /// Calls `visit` with each name of the folder open at `fd` (not `.` and `..`), in
    /// `readdir`'s order, until it returns false; closes `fd`.
    static func names(of fd: Int32, path: String, _ visit: (String) -> Bool) throws(FileError) {
        guard let dir = fdopendir(fd) else {
            let code = errno
            close(fd)
            throw .system(path: path, call: "fdopendir", errno: code)
        }
        defer { closedir(dir) }
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .system(path: path, call: "readdir", errno: errno) }
                return
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != "..", !visit(name) { return }
        }
    }

    /// Opens a folder inside as a confined directory of its own (a package's `files/`,
    /// clarity-heal's state folder), resolved with `links`.
    public func subdirectory(_ path: String, links: Links = .refuse) throws(FileError) -> ConfinedDirectory {
        let located = try locate(path, links: links, followLast: links == .followInside, directory: true)
        defer { close(located) }
        return try ConfinedDirectory(descriptor: located, shown: hostPath(path), resolver: resolver)
    }

    /// Adopts a duplicate of `fd` (an `O_PATH` folder descriptor).
    convenience init(descriptor fd: Int32, shown: String, resolver: Resolver) throws(FileError) {
        let copy = dup(fd)
        guard copy >= 0 else { throw .system(path: shown, call: "dup", errno: errno) }
        self.init(adopting: copy, path: Self.hostPath(of: copy) ?? shown, resolver: resolver)
    }

    // MARK: Canonical paths

    /// The canonical form of `path` inside this directory: every link on the way followed as
    /// the examined system would follow it. Components from the first missing one on are
    /// kept as written (a file about to be created has a path too).
    public func canonical(_ path: String) -> String {
        let (resolution, rest) = resolveComponents(path)
        switch resolution {
        case .resolved(let final, _): return final
        case .missing(let final, _):
            guard !rest.isEmpty else { return final }
            return (final == "/" ? "" : final) + "/" + rest.joined(separator: "/")
        case .loop(let chain): return chain.last?.link ?? path
        }
    }

    /// Resolves `path` one component at a time, recording every link met, as the kernel
    /// would inside a chroot to this directory. Every step is relative to an open folder
    /// descriptor, never a host path.
    public func resolve(_ path: String) -> Resolution {
        resolveComponents(path).resolution
    }

    /// `resolve`, with the components left unresolved after a missing one.
    private func resolveComponents(_ path: String) -> (resolution: Resolution, rest: [String]) {
        var pending = path.split(separator: "/").map(String.init).reversed() as [String]
        var current: [String] = []
        var chain: [Resolution.Link] = []
        func remaining() -> [String] { pending.reversed().filter { !$0.isEmpty && $0 != "." } }
        while let component = pending.popLast() {
            if component == "." || component.isEmpty { continue }
            if component == ".." { _ = current.popLast(); continue }
            let candidate = "/" + (current + [component]).joined(separator: "/")
            // `current` holds folders only (links were replaced by their targets), so this
            // lookup passes no link; the last component is looked at, not followed.
            guard let fd = try? walk(candidate, links: .refuse, followLast: false) else {
                return (.missing(path: candidate, chain: chain), remaining())
            }
            var st = stat()
            let ok = fstat(fd, &st) == 0
            let target = ok && (st.st_mode & S_IFMT) == S_IFLNK ? Self.readLink(fd) : nil
            close(fd)
            guard ok else { return (.missing(path: candidate, chain: chain), remaining()) }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                guard chain.count < 40 else { return (.loop(chain: chain), []) }
                let target = target ?? ""
                chain.append(.init(link: candidate, target: target))
                if target.hasPrefix("/") { current.removeAll() }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
                continue
            }
            let rest = remaining()
            if !rest.isEmpty && (st.st_mode & S_IFMT) != S_IFDIR {
                return (.missing(path: candidate + "/" + rest.joined(separator: "/"), chain: chain), [])
            }
            current.append(component)
        }
        return (.resolved(path: "/" + current.joined(separator: "/"), chain: chain), [])
    }

    /// A path followed through the links inside a directory.
    public enum Resolution: Equatable, Sendable {
        /// Every component exists; `path` is the final path as the directory names it.
        case resolved(path: String, chain: [Link])
        /// `path` does not exist, or a component on the way is not a folder.
        case missing(path: String, chain: [Link])
        /// More than 40 links (the kernel's `ELOOP` limit).
        case loop(chain: [Link])

        /// One link met: where it is and what it says, as the directory names them.
        public struct Link: Equatable, Sendable {
            public var link: String
            public var target: String
        }

        public var chain: [Link] {
            switch self {
            case .resolved(_, let chain), .missing(_, let chain), .loop(let chain): chain
            }
        }

        public var path: String {
            switch self {
            case .resolved(let path, _), .missing(let path, _): path
            case .loop(let chain): chain.last?.link ?? "/"
            }
        }
    }
}
