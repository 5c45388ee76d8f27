import Dispatch
import Glibc
import HealCore
import Synchronization

/// Checks installed files against dpkg's md5sums, as `dpkg --verify` does for the digest.
///
/// Followed from dpkg 1.21's `verify_package` (src/main/verify.c):
/// - the digests come from `info/<package>.md5sums`; a diverted file is checked where the
///   diversion put it (`namenodetouse`), unless the package made the diversion itself;
/// - a missing file is reported as missing, something that is not a regular file (a
///   symbolic link, a directory) as a mismatch.
/// One difference: conffiles are not checked. Their digests live in the status file, not
/// md5sums, and an administrator's edit to one is not corruption (`dpkg --verify` marks
/// those lines with `c`).
public enum PackageIntegrity {
    /// How an installed file differs from its package.
    public enum Problem: Sendable, Hashable, CustomStringConvertible {
        case missing
        /// A symbolic link, directory or device where the package has a regular file.
        case notRegularFile
        case digestMismatch(actual: String)
        case unreadable(reason: String)

        public var description: String {
            switch self {
            case .missing: "missing"
            case .notRegularFile: "not a regular file"
            case .digestMismatch(let actual): "md5 \(actual)"
            case .unreadable(let reason): "unreadable: \(reason)"
            }
        }
    }

    /// One file that does not match its package.
    public struct Mismatch: Sendable, Hashable {
        /// `libc6:amd64`, as dpkg names it.
        public var package: String
        /// Where the file is on the root (after diversions), as the root sees it.
        public var path: String
        /// The digest md5sums records.
        public var expected: String
        public var problem: Problem
    }

    public struct Report: Sendable {
        public var mismatches: [Mismatch]
        /// Packages whose md5sums were read, as dpkg names them.
        public var packages: [String]
        public var checkedFiles: Int
        public var checkedBytes: Int
        /// md5sums lines or files that could not be used; their files were not checked.
        public var databaseProblems: [String]
    }

    /// Hashes the files of the packages `include` selects and compares them with md5sums.
    /// - Parameters:
    ///   - include: takes the package name without `:arch`; `BootCriticalPackages.contains`
    ///     for the detector, `{ _ in true }` for everything.
    ///   - files: takes a path as md5sums names it; `BootCriticalPackages.matters(path:)`
    ///     for the detector.
    ///   - workers: threads hashing at once (both cores here; hashing is CPU-bound once
    ///     the files are in the page cache).
    /// - Throws: `DpkgDatabase.Error` when the diversions cannot be read: without them a
    ///   diverted file would be reported as corrupt.
    public static func verify(root: SystemRoot, include: (String) -> Bool = BootCriticalPackages.contains,
                              files: (String) -> Bool = { _ in true }, workers: Int = 2) throws(DpkgDatabase.Error) -> Report {
        let database = DpkgDatabase(root: root)
        let diversions = try database.diversions()
        var jobs: [Job] = []
        var packages: [String] = []
        var problems: [String] = []
        for file in database.checksumFiles() where include(file.package) {
            let sums: Md5sums
            do {
                sums = try database.checksums(file)
            } catch {
                problems.append(error.description)
                continue
            }
            packages.append(file.qualifiedName)
            problems += sums.errors.map(\.description)
            for entry in sums.entries where files(entry.path) {
                let path = Diversion.installedPath(of: entry.path, package: file.package, in: diversions)
                jobs.append(Job(package: file.qualifiedName, path: path, expected: entry.digest))
            }
        }
        let (mismatches, bytes) = hash(jobs, in: root, workers: max(1, workers))
        return Report(mismatches: mismatches.sorted { ($0.package, $0.path) < ($1.package, $1.path) },
                      packages: packages, checkedFiles: jobs.count, checkedBytes: bytes,
                      databaseProblems: problems)
    }

    private struct Job: Sendable {
        var package: String
        var path: String
        var expected: String
    }

    /// Hashes every job; the workers take the next job from a shared counter so a large
    /// file (a kernel image, a module tree) does not leave the other core idle.
    private static func hash(_ jobs: [Job], in root: SystemRoot, workers: Int) -> ([Mismatch], Int) {
        let next = Atomic<Int>(0)
        let collected = Mutex<([Mismatch], Int)>(([], 0))
        DispatchQueue.concurrentPerform(iterations: min(workers, max(1, jobs.count))) { _ in
            // 1 MiB per read: the fewer read(2) calls, the closer to MD5's own speed.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
            defer { buffer.deallocate() }
            var found: [Mismatch] = []
            var bytes = 0
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < jobs.count else { break }
                let job = jobs[index]
                if let problem = check(job, in: root, buffer: buffer, bytes: &bytes) {
                    found.append(Mismatch(package: job.package, path: job.path, expected: job.expected, problem: problem))
                }
            }
            collected.withLock { $0.0 += found; $0.1 += bytes }
        }
        return collected.withLock { $0 }
    }

    private static func check(_ job: Job, in root: SystemRoot, buffer: UnsafeMutableRawBufferPointer,
                              bytes: inout Int) -> Problem? {
        // The folders are followed inside the root (merged /usr's `lib -> usr/lib`); the
        // last component is not, as dpkg's lstat: a link in place of a packaged file is a
        // mismatch. One open gives the kind and the contents (a FIFO is never opened).
        do {
            let file = try root.files.open(job.path, limit: .max, followLast: false)
            let actual = try MD5File.digest(of: file, buffer: buffer)
            bytes += file.size
            return actual == job.expected ? nil : .digestMismatch(actual: actual)
        } catch {
            switch error {
            case .missing: return .missing
            case .notRegular: return .notRegularFile
            default: return .unreadable(reason: error.description)
            }
        }
    }
}
