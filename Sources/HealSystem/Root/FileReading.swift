import Glibc

/// Reads of host paths: `/proc`, `/sys`, a `--pstore` folder given on the command line, a
/// fix package's folder. The same rules as a root's files (`ConfinedDirectory`): regular
/// files only, opened non-blocking, bounded, errors that keep errno. Sizes are bounded as
/// they are read (`st_size` says nothing on /proc and /sys). Files of an examined
/// root are never read through here: use `SystemRoot.files`.
public enum FileReading {
    /// The host's `/`, opened once.
    static let hostRoot: ConfinedDirectory? = try? ConfinedDirectory.host()

    static func host() throws(FileError) -> ConfinedDirectory {
        guard let hostRoot else { throw .system(path: "/", call: "open", errno: EACCES) }
        return hostRoot
    }

    /// Reads a whole regular file.
    /// - Parameter limit: refuse files larger than this.
    /// - Throws: `FileError`.
    public static func bytes(atPath path: String, limit: Int = ConfinedDirectory.defaultReadLimit) throws(FileError) -> [UInt8] {
        try host().read(absolute(path), limit: limit, sizeKnown: false)
    }

    /// Reads a whole regular file as UTF-8 text (invalid sequences repaired, never fatal).
    public static func text(atPath path: String, limit: Int = ConfinedDirectory.defaultReadLimit) throws(FileError) -> String {
        String(decoding: try bytes(atPath: path, limit: limit), as: UTF8.self)
    }

    /// Opens a regular file for streaming.
    public static func open(atPath path: String, limit: Int = .max) throws(FileError) -> OpenFile {
        try host().open(absolute(path), limit: limit, sizeKnown: false)
    }

    /// `lstat` (or `stat`) without throwing: nil when the path does not exist.
    public static func status(atPath path: String, followLinks: Bool = false) -> stat? {
        var st = stat()
        let rc = followLinks ? stat(path, &st) : lstat(path, &st)
        return rc == 0 ? st : nil
    }

    /// The names in a folder, sorted; empty when it is missing or unreadable.
    public static func directoryEntries(atPath path: String) -> [String] {
        (try? host().entries(absolute(path))) ?? []
    }

    /// Calls `visit` with each name in a folder, in the order `readdir` gives them, holding
    /// none of them: for folders whose size the examined system decides.
    /// - Parameter visit: returns false to stop.
    public static func forEachDirectoryEntry(atPath path: String, _ visit: (String) -> Bool) {
        try? host().forEachEntry(absolute(path), visit)
    }

    /// The target of a symbolic link, or nil.
    public static func linkTarget(atPath path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A relative path is relative to the working folder, as the shell would take it.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" + path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (cwd == "/" ? "" : cwd) + "/" + path
    }
}
