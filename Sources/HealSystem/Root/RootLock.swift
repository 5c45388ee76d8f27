import Glibc

/// The exclusive hold one command that writes to a root (`apply`, `rollback`, `boot`,
/// `verify`) keeps on it for its whole run, so two of them never interleave their journals.
///
/// It is `flock(2)` `LOCK_EX` on a descriptor of the root folder itself, opened
/// `O_RDONLY | O_DIRECTORY`: no lock file is created in a root that may be hostile, and
/// every path of one root (a bind mount of it, a link to it) opens the same inode, so they
/// share the lock. The kernel lets go when the descriptor closes, however the process ends.
///
/// The one owner of the descriptor: released by `release()` or when the value ends.
public struct RootLock: ~Copyable {
    private let fd: Int32

    /// Why the lock was not taken; nothing was changed on the root.
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// The root folder could not be opened.
        case open(path: String, reason: String)
        /// Another process held the lock for the whole wait; `holder` is its pid when
        /// `/proc/locks` names it.
        case busy(path: String, holder: Int32?, waited: Double)
        /// `flock` failed for another reason than a holder.
        case lock(path: String, reason: String)

        public var description: String {
            switch self {
            case .open(let path, let reason): "cannot open \(path) to lock it: \(reason)"
            case .busy(let path, let holder, let waited):
                "another clarity-heal is changing \(path)"
                    + (holder.map { " (pid \($0) holds its lock)" } ?? "")
                    + "; waited \(RootLock.seconds(waited)): try again when it has finished"
            case .lock(let path, let reason): "cannot lock \(path): \(reason)"
            }
        }
    }

    /// Takes the lock on `root`, waiting up to `seconds` for another holder to let go.
    ///
    /// A blocking `flock` cannot be given a deadline, so the wait polls `LOCK_NB` every
    /// `interval` seconds on the monotonic clock.
    /// - Throws: `RootLock.Error.busy` when the wait ran out.
    public init(root: SystemRoot, waitingUpTo seconds: Double, interval: Double = 0.05) throws(RootLock.Error) {
        let path = root.path
        let fd = retryingEINTR { open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw .open(path: path, reason: String(cString: strerror(errno))) }
        let deadline = Self.now() + max(seconds, 0)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                close(fd)
                throw .lock(path: path, reason: String(cString: strerror(code)))
            }
            let left = deadline - Self.now()
            guard left > 0 else {
                let holder = Self.holder(of: fd)
                close(fd)
                throw .busy(path: path, holder: holder, waited: seconds)
            }
            Self.sleep(min(interval, left))
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Lets go of the lock now.
    public consuming func release() {
        close(fd)
        discard self
    }

    /// The pid that holds an flock on the inode of `fd`, from `/proc/locks`: lines like
    /// `1: FLOCK  ADVISORY  WRITE 2339 00:2d:1234 0 EOF`, where the device is
    /// `MAJOR:MINOR` in hex and the inode in decimal (fs/locks.c, lock_get_status).
    /// Lines starting `->` are waiters, not holders.
    static func holder(of fd: Int32) -> Int32? {
        var st = stat()
        guard fstat(fd, &st) == 0,
              let table = try? FileReading.text(atPath: "/proc/locks", limit: 4 << 20) else { return nil }
        let device = DeviceNumber.sysfsName(UInt64(st.st_dev))
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]) else { continue }
            let id = fields[5].split(separator: ":")
            guard id.count == 3, let major = UInt64(id[0], radix: 16), let minor = UInt64(id[1], radix: 16),
                  let inode = UInt64(id[2]) else { continue }
            if "\(major):\(minor)" == device && inode == UInt64(st.st_ino) { return pid }
        }
        return nil
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private static func sleep(_ seconds: Double) {
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var left = timespec()
        while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
    }

    /// `30 s`, `0.5 s`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
