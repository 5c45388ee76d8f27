import Glibc

/// The wall clock, behind a protocol so tests drive time. Everything that reads the time
/// takes one: the ledger's stamps, an applied fix's times, fix package ids and `created`,
/// the verify flag, clone folder names and the reboot policy. The command line makes the
/// one `SystemClock` of a run and hands it down; nothing else calls `clock_gettime` or
/// `time`.
public protocol Clock: Sendable {
    /// Seconds since the epoch.
    func now() -> Int64
    /// Seconds east of UTC of local time at `time` (what a maintenance window is written in).
    func utcOffset(at time: Int64) -> Int
}

/// The system's clock: `clock_gettime(CLOCK_REALTIME)` and the local time zone as
/// `localtime_r` sees it (`TZ`, `/etc/localtime`).
public struct SystemClock: Clock {
    public init() {}

    public func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }

    public func utcOffset(at time: Int64) -> Int {
        var seconds = time_t(time)
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return 0 }
        return Int(parts.tm_gmtoff)
    }
}

/// A clock that stands still at a given time; the time and offset a caller sets.
/// For the initramfs and tests that need one fixed instant across steps.
public struct FixedClock: Clock {
    public var time: Int64
    public var offset: Int

    public init(_ time: Int64, utcOffset: Int = 0) {
        self.time = time
        self.offset = utcOffset
    }

    public func now() -> Int64 { time }
    public func utcOffset(at time: Int64) -> Int { offset }
}
