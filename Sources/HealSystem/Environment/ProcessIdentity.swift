import CLinux
import Glibc

/// A process as the kernel tells it apart for its whole life, not only by its pid (which is
/// reused): the pid, its start time and the boot it runs in.
///
/// ```
///  /proc/PID/stat                  1234 (clarity-heal) S 1 1234 … 22nd field: start time
///                                  (clock ticks after boot; the name in parentheses may
///                                  hold spaces and parentheses, so fields are counted
///                                  after the last ')')
///  /proc/sys/kernel/random/boot_id one random UUID per boot: a scratch folder in /var/tmp
///                                  outlives a reboot, its owner does not
/// ```
public struct ProcessIdentity: Equatable, Sendable, CustomStringConvertible {
    public var pid: pid_t
    /// Clock ticks after boot at which the process started (`/proc/PID/stat` field 22).
    public var startTime: UInt64
    /// The boot it ran in (`/proc/sys/kernel/random/boot_id`).
    public var boot: String

    public init(pid: pid_t, startTime: UInt64, boot: String) {
        self.pid = pid
        self.startTime = startTime
        self.boot = boot
    }

    /// The process running now as `pid`; nil when there is none (or it is a zombie: it has
    /// exited and only waits to be reaped).
    public init?(running pid: pid_t) {
        guard let stat = Self.stat(pid), stat.state != "Z", let boot = Self.currentBoot() else { return nil }
        self.init(pid: pid, startTime: stat.startTime, boot: boot)
    }

    /// This process.
    public static func current() -> ProcessIdentity? { ProcessIdentity(running: getpid()) }

    /// Whether this very process still runs: same boot, same pid, same start time.
    public var isRunning: Bool { ProcessIdentity(running: pid) == self }

    public var description: String { "pid \(pid) started at tick \(startTime)" }

    /// The fields of `/proc/PID/stat` this code reads.
    struct Stat {
        var state: Character
        var parent: pid_t
        var startTime: UInt64
    }

    static func stat(_ pid: pid_t) -> Stat? {
        guard pid > 0, let text = try? FileReading.text(atPath: "/proc/\(pid)/stat", limit: 4096),
              let close = text.lastIndex(of: ")") else { return nil }
        // Field 3 (state) is the first after the name; field n is at n - 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, let parent = pid_t(fields[1]),
              let start = UInt64(fields[19]) else { return nil }
        return Stat(state: state, parent: parent, startTime: start)
    }

    static func currentBoot() -> String? {
        guard let text = try? FileReading.text(atPath: "/proc/sys/kernel/random/boot_id", limit: 128) else { return nil }
        let id = String(text.prefix { $0 != "\n" })
        return id.isEmpty ? nil : id
    }
}

/// Stopping processes by pidfd (`pidfd_open(2)`): once the descriptor is open, a signal
/// reaches that process or none, never one that took over its pid.
enum ProcessStopper {
    /// Sends SIGTERM to every process `pidfds` names, waits up to `grace` seconds for them
    /// to exit, then sends SIGKILL to the rest and waits up to 5 s more. Closes the descriptors.
    static func stop(_ pidfds: [Int32], grace: Int32) {
        guard !pidfds.isEmpty else { return }
        for fd in pidfds { _ = pidfd_send_signal(fd, SIGTERM, nil, 0) }
        let remaining = wait(pidfds, milliseconds: grace * 1000)
        for fd in remaining { _ = pidfd_send_signal(fd, SIGKILL, nil, 0) }
        _ = wait(remaining, milliseconds: 5000)
        for fd in pidfds { close(fd) }
    }

    /// A pidfd for `pid` if it still is the process `check` accepts (checked after the
    /// descriptor is open, so the check and the signal name the same process).
    static func open(_ pid: pid_t, where check: (pid_t) -> Bool) -> Int32? {
        guard check(pid) else { return nil }
        let fd = pidfd_open(pid, 0)
        guard fd >= 0 else { return nil }
        guard check(pid) else {
            close(fd)
            return nil
        }
        return fd
    }

    /// The pids of the processes whose parent is `parent`.
    static func children(of parent: pid_t) -> [pid_t] {
        allProcesses().filter { ProcessIdentity.stat($0)?.parent == parent }
    }

    /// Every pid in /proc.
    static func allProcesses() -> [pid_t] {
        FileReading.directoryEntries(atPath: "/proc").compactMap { pid_t($0) }
    }

    /// Polls until every pidfd is readable (its process has exited) or the time is up;
    /// returns the ones still running.
    private static func wait(_ pidfds: [Int32], milliseconds: Int32) -> [Int32] {
        var remaining = pidfds
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int64(deadline.tv_sec) * 1000 + Int64(deadline.tv_nsec) / 1_000_000 + Int64(milliseconds)
        while !remaining.isEmpty {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000)
            if left <= 0 { break }
            var fds = remaining.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = poll(&fds, nfds_t(fds.count), Int32(left))
            if n < 0 && errno != EINTR { break }
            remaining = fds.filter { $0.revents == 0 }.map(\.fd)
        }
        return remaining
    }
}
