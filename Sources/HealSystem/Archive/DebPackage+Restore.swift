import Glibc
import HealCore

extension DebPackage {
    /// One file to put back from the package.
    public struct Restoration: Sendable, Hashable {
        /// Where it goes, as the examined system sees it (`/lib/modules/…/virtio_blk.ko`).
        public var path: String
        /// Its entry in `data.tar.*` (`lib/modules/…/virtio_blk.ko`; `./` and `/` ignored).
        public var member: String
        /// dpkg's md5sums digest. A regular file is written only when its bytes have it; nil
        /// accepts only a symbolic link (md5sums lists no links).
        public var md5: String?

        public init(path: String, member: String, md5: String?) {
            self.path = path
            self.member = member
            self.md5 = md5
        }
    }

    /// What one restore pass did.
    public struct RestoreReport: Sendable, Equatable {
        /// Indexes (into the request) of the files put in place.
        public var restored: Set<Int> = []
        /// The first file that could not be restored, and why; the pass stopped there.
        public var failure: Failure?

        public struct Failure: Sendable, Equatable {
            public var index: Int
            public var reason: String
        }
    }

    /// Puts `files` back under `root` in ONE pass over the package: each wanted entry is
    /// streamed from libarchive's read-data loop into a temporary file beside its
    /// destination while its MD5 is computed, and renamed into place only when the digest
    /// is dpkg's. Memory is one read buffer whatever the number or size of the files; the
    /// pass ends as soon as every wanted entry was met.
    ///
    /// Destinations are resolved inside `root` with their folders' links followed as the
    /// examined system would, but never the last component: a link standing where the
    /// package has a file is replaced (`rename` over it), not followed. Missing folders are
    /// made (mode 0755, as every folder of a Debian package is).
    ///
    /// - Parameter limit: a file larger than this (by its tar header) is refused before
    ///   any of it is read, and the read stops if the data runs past it.
    /// - Returns: the files restored; on the first failure (an entry absent, a digest that
    ///   differs, an entry of another kind, a write that fails) the pass stops, and no
    ///   temporary file is left behind.
    public func restore(_ files: [Restoration], into root: SystemRoot, limit: Int = DebPackage.fileLimit) -> RestoreReport {
        var report = RestoreReport()
        var wanted: [String: [Int]] = [:]
        for (index, file) in files.enumerated() {
            wanted[ArchiveEntry.normalized(file.member), default: []].append(index)
        }
        guard !wanted.isEmpty else { return report }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 64)
        defer { buffer.deallocate() }
        let name = path.split(separator: "/").last.map(String.init) ?? path

        func fail(_ index: Int, _ reason: String) -> Bool {
            report.failure = .init(index: index, reason: reason)
            return false
        }

        do throws(DebPackage.Error) {
            try walkData { entry, reader throws(ArchiveFailure) in
                guard let indexes = wanted.removeValue(forKey: entry.path), let first = indexes.first else { return true }
                let destinations = indexes.map { Self.destination(files[$0].path, in: root) }
                switch entry.kind {
                case .file:
                    guard let expected = files[first].md5 else {
                        return fail(first, "\(entry.path) in \(name) is a file, but md5sums has no digest for it")
                    }
                    guard entry.size <= Int64(limit) else {
                        return fail(first, "\(entry.path) in \(name) is \(entry.size) bytes, more than the \(limit) bytes allowed")
                    }
                    var writers: [TemporaryFile] = []
                    for destination in destinations {
                        do throws(RestoreError) {
                            writers.append(try TemporaryFile(beside: destination, in: root))
                        } catch {
                            writers.forEach { $0.discard() }
                            return fail(first, error.reason)
                        }
                    }
                    var digest = MD5File.Stream()
                    var writeError: RestoreError?
                    do throws(ArchiveFailure) {
                        try reader.streamData(through: buffer, limit: limit) { block in
                            digest.update(block)
                            for writer in writers {
                                do throws(RestoreError) {
                                    try writer.write(block)
                                } catch {
                                    writeError = error
                                    return false
                                }
                            }
                            return true
                        }
                    } catch {
                        writers.forEach { $0.discard() }
                        throw error
                    }
                    if let writeError {
                        writers.forEach { $0.discard() }
                        return fail(first, writeError.reason)
                    }
                    let actual = digest.finish()
                    guard actual == expected else {
                        writers.forEach { $0.discard() }
                        return fail(first, "\(entry.path) in \(name) has md5 \(actual), dpkg recorded \(expected); nothing written")
                    }
                    for (writer, index) in zip(writers, indexes) {
                        do throws(RestoreError) {
                            try writer.commit(mode: entry.permissions)
                            report.restored.insert(index)
                        } catch {
                            return fail(index, error.reason)
                        }
                    }
                case .symlink:
                    guard let target = entry.linkTarget, !target.isEmpty else {
                        return fail(first, "\(entry.path) in \(name) is a link without a target")
                    }
                    for (destination, index) in zip(destinations, indexes) {
                        if files[index].md5 != nil {
                            return fail(index, "\(entry.path) in \(name) is a link, not the file md5sums lists")
                        }
                        do throws(RestoreError) {
                            try Self.link(destination, to: target, in: root)
                            report.restored.insert(index)
                        } catch {
                            return fail(index, error.reason)
                        }
                    }
                default:
                    return fail(first, "\(entry.path) in \(name) is a \(entry.kind.rawValue), not a file or link")
                }
                return !wanted.isEmpty
            }
        } catch {
            let pending = files.indices.first { !report.restored.contains($0) } ?? 0
            report.failure = .init(index: pending, reason: error.description)
            return report
        }
        if report.failure == nil, let missing = wanted.values.joined().min() {
            report.failure = .init(index: missing, reason: "\(name) has no entry \(ArchiveEntry.normalized(files[missing].member))")
        }
        return report
    }

    /// Where `path` (as the examined system sees it) is written: its folders' links followed
    /// inside the root, the last component kept. The result passes no link.
    static func destination(_ path: String, in root: SystemRoot) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return path }
        let parent = root.canonical(String(path[..<slash]))
        return (parent == "/" ? "" : parent) + path[slash...]
    }

    /// Makes `destination` a symbolic link to `target`: made beside it, then renamed over it.
    private static func link(_ destination: String, to target: String, in root: SystemRoot) throws(RestoreError) {
        do {
            try root.files.makeDirectories(PackagePath.parent(destination))
            try root.files.replaceSymlink(destination, target: target)
        } catch {
            throw RestoreError(reason: error.description)
        }
    }
}

/// Why one file could not be written, with errno's message.
private struct RestoreError: Error {
    var reason: String

    static func system(_ what: String, _ code: Int32) -> RestoreError {
        RestoreError(reason: "\(what): \(String(cString: strerror(code)))")
    }
}

/// A file being written beside its destination (the fixed temporary name
/// `.NAME.clarity-heal.tmp`), renamed over it once complete: a reader sees the old file or
/// the new one, never half of one. Everything is relative to the folder's descriptor,
/// reached inside the root without a link.
private final class TemporaryFile {
    let destination: String
    private let folder: OpenFile
    private let name: String
    private let temporary: String
    private var fd: Int32

    init(beside destination: String, in root: SystemRoot) throws(RestoreError) {
        self.destination = destination
        do {
            try root.files.makeDirectories(PackagePath.parent(destination))
            (folder, name) = try root.files.parent(of: destination, links: .refuse)
        } catch {
            throw RestoreError(reason: error.description)
        }
        let temporary = "." + name + ConfinedDirectory.temporarySuffix
        self.temporary = temporary
        // A leftover from an interrupted run is replaced; O_NOFOLLOW so a link planted at
        // that name cannot lead the write elsewhere.
        let folderFD = folder.descriptor
        _ = unlinkat(folderFD, temporary, 0)
        let opened = retryingEINTR { openat(folderFD, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        fd = opened
        guard opened >= 0 else { throw .system("cannot create a temporary file beside \(destination)", errno) }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(RestoreError) {
        var written = 0
        while written < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress.map { $0 + written }, bytes.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw .system("cannot write \(destination)", errno)
            }
            written += n
        }
    }

    /// Gives the file its mode and puts it in place of the destination.
    func commit(mode: UInt32) throws(RestoreError) {
        defer { closeDescriptor() }
        guard fchmod(fd, mode_t(mode)) == 0 else {
            let code = errno
            discard()
            throw .system("cannot chmod \(destination)", code)
        }
        guard renameat(folder.descriptor, temporary, folder.descriptor, name) == 0 else {
            let code = errno
            discard()
            throw .system("cannot replace \(destination)", code)
        }
    }

    /// Removes the temporary file; the destination is untouched.
    func discard() {
        closeDescriptor()
        _ = unlinkat(folder.descriptor, temporary, 0)
    }

    private func closeDescriptor() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }
}
