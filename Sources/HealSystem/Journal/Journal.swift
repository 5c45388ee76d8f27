import CSystemd
import Glibc
import HealCore

/// A root's systemd journal, read with libsystemd's sd-journal.
///
/// ```
///   <root>/var/log/journal/<machine-id>/system.journal        persistent, written by
///                                      system@…-….journal     journald after the flush
///                                      user-1000.journal
///   <root>/run/log/journal/…                                 volatile (a live root only)
///
///   each entry: fields FIELD=value; trusted ones (set by journald) start with "_":
///     _BOOT_ID=2c1c…      the boot that logged it
///     _PID=1              systemd itself
///     MESSAGE_ID=d9b3…    a catalogued message (sd-messages.h)
///     UNIT=foo.service    the unit a manager message is about
/// ```
///
/// The handle from `sd_journal_open_directory` is owned here and closed in deinit
/// (`sd_journal_close`).
public final class Journal {
    private let handle: OpaquePointer
    /// Where the journal was opened, for messages.
    public let location: String

    /// `SD_MESSAGE_UNIT_FAILURE_RESULT`: "Unit X entered failed state / Failed with result
    /// 'exit-code'", logged by `unit_log_failure` when a unit enters the failed state — what
    /// `systemctl --failed` lists. (`SD_MESSAGE_UNIT_FAILED`, be02cf68…, is the failed start
    /// *job*: it misses units that fail after starting and counts units whose dependency
    /// failed; sd-messages.h of systemd 252 says so.)
    public static let unitFailureMessageID = "d9b373ed55a64feb8242e02dbe79a49c"

    /// Opens the journals of an OS tree: `sd_journal_open_directory(…, SD_JOURNAL_OS_ROOT)`
    /// reads `<root>/var/log/journal` and `<root>/run/log/journal`.
    /// - Throws: `Journal.Error` with the errno sd-journal returned.
    public convenience init(root: SystemRoot) throws(Journal.Error) {
        try self.init(path: root.path, flags: Int32(SD_JOURNAL_OS_ROOT), location: root.host("/var/log/journal"))
    }

    /// Opens the journal files in one directory (and its machine-id subdirectories), as
    /// `journalctl --directory` does.
    public convenience init(directory: String) throws(Journal.Error) {
        try self.init(path: directory, flags: 0, location: directory)
    }

    private init(path: String, flags: Int32, location: String) throws(Journal.Error) {
        do { try SharedLibrary.systemd.load() } catch { throw .libraryUnavailable(error) }
        var handle: OpaquePointer?
        let rc = sd_journal_open_directory(&handle, path, flags)
        guard rc >= 0, let handle else { throw .open(path: location, errno: -rc) }
        self.handle = handle
        self.location = location
    }

    deinit {
        sd_journal_close(handle)
    }

    /// One boot recorded in the journal.
    public struct Boot: Sendable, Hashable {
        /// 32 lowercase hex digits, as `_BOOT_ID` holds it.
        public var id: String
        /// Realtime (µs since the epoch) of the boot's first and last entries.
        public var first: UInt64
        public var last: UInt64

        public init(id: String, first: UInt64, last: UInt64) {
            self.id = id
            self.first = first
            self.last = last
        }
    }

    /// A unit that entered the failed state.
    public struct FailedUnit: Sendable, Hashable {
        public var unit: String
        /// `UNIT_RESULT`: exit-code, signal, timeout, core-dump, …
        public var result: String?
        /// The log line (`clarity-fail-a.service: Failed with result 'exit-code'.`).
        public var message: String
        /// Realtime (µs) of the first failure on that boot.
        public var time: UInt64
    }

    /// Every boot in the journal, oldest first (by each boot's first entry).
    public func boots() throws(Journal.Error) -> [Boot] {
        var ids: [String] = []
        try check(sd_journal_query_unique(handle, "_BOOT_ID"), "sd_journal_query_unique")
        sd_journal_restart_unique(handle)
        var data: UnsafeRawPointer?
        var length = 0
        while true {
            let rc = sd_journal_enumerate_available_unique(handle, &data, &length)
            try check(rc, "sd_journal_enumerate_available_unique")
            guard rc > 0, let data else { break }
            if let value = Self.value(of: "_BOOT_ID", data, length) { ids.append(value) }
        }
        var boots: [Boot] = []
        for id in ids {
            try match(["_BOOT_ID=" + id])
            guard let first = try edgeTime(head: true), let last = try edgeTime(head: false) else { continue }
            boots.append(Boot(id: id, first: first, last: last))
        }
        sd_journal_flush_matches(handle)
        return boots.sorted { ($0.first, $0.id) < ($1.first, $1.id) }
    }

    /// The units systemd (PID 1) reported as failed during `boot`, each once, in the order
    /// they first failed.
    public func failedUnits(boot: String) throws(Journal.Error) -> [FailedUnit] {
        // Matches on different fields are ANDed. _PID=1 is set by journald from the
        // sender's credentials: another process cannot forge a manager message.
        try match(["MESSAGE_ID=" + Self.unitFailureMessageID, "_BOOT_ID=" + boot, "_PID=1"])
        defer { sd_journal_flush_matches(handle) }
        try check(sd_journal_seek_head(handle), "sd_journal_seek_head")
        var units: [FailedUnit] = []
        var seen: Set<String> = []
        while true {
            let rc = sd_journal_next(handle)
            try check(rc, "sd_journal_next")
            if rc == 0 { break }
            guard let unit = field("UNIT"), seen.insert(unit).inserted else { continue }
            var time: UInt64 = 0
            try check(sd_journal_get_realtime_usec(handle, &time), "sd_journal_get_realtime_usec")
            units.append(FailedUnit(unit: unit, result: field("UNIT_RESULT"), message: field("MESSAGE") ?? "", time: time))
        }
        return units
    }

    /// The boot before the current one: the last boot, unless it is `current` (a boot in
    /// progress that already writes to this journal), then the one before it.
    public static func previousBoot(in boots: [Boot], current: String?) -> Boot? {
        var candidates = boots
        if let current, candidates.last?.id == current { candidates.removeLast() }
        return candidates.last
    }

    /// The running kernel's boot id (`/proc/sys/kernel/random/boot_id`) in the journal's
    /// spelling: 32 hex digits, no dashes. Nil when /proc is not there.
    public static func currentBootID(procPath: String = "/proc/sys/kernel/random/boot_id") -> String? {
        guard let text = try? FileReading.text(atPath: procPath, limit: 4096) else { return nil }
        let id = text.filter { $0.isHexDigit }.lowercased()
        return id.count == 32 ? id : nil
    }

    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case open(path: String, errno: Int32)
        case libraryUnavailable(SharedLibrary.LoadError)
        case read(path: String, call: String, errno: Int32)

        public var description: String {
            switch self {
            case .open(let path, let code): "cannot open the journal in \(path): \(String(cString: strerror(code)))"
            case .libraryUnavailable(let error): "\(error)"
            case .read(let path, let call, let code):
                "cannot read the journal in \(path): \(call): \(String(cString: strerror(code)))"
            }
        }
    }

    // MARK: - sd-journal calls

    private func match(_ terms: [String]) throws(Journal.Error) {
        sd_journal_flush_matches(handle)
        for term in terms {
            let rc = term.withCString { sd_journal_add_match(handle, $0, 0) }
            try check(rc, "sd_journal_add_match")
        }
    }

    /// Realtime of the first (or last) entry under the current matches.
    private func edgeTime(head: Bool) throws(Journal.Error) -> UInt64? {
        try check(head ? sd_journal_seek_head(handle) : sd_journal_seek_tail(handle), "sd_journal_seek")
        let rc = head ? sd_journal_next(handle) : sd_journal_previous(handle)
        try check(rc, head ? "sd_journal_next" : "sd_journal_previous")
        guard rc > 0 else { return nil }
        var time: UInt64 = 0
        try check(sd_journal_get_realtime_usec(handle, &time), "sd_journal_get_realtime_usec")
        return time
    }

    /// A field of the current entry; nil when the entry has none (-ENOENT) or it is unreadable.
    private func field(_ name: String) -> String? {
        var data: UnsafeRawPointer?
        var length = 0
        guard sd_journal_get_data(handle, name, &data, &length) >= 0, let data else { return nil }
        return Self.value(of: name, data, length)
    }

    /// `data` is "NAME=value", not NUL-terminated.
    private static func value(of name: String, _ data: UnsafeRawPointer, _ length: Int) -> String? {
        let bytes = UnsafeRawBufferPointer(start: data, count: length)
        let prefix = name.utf8.count + 1
        guard length >= prefix, bytes.prefix(prefix - 1).elementsEqual(name.utf8), bytes[prefix - 1] == UInt8(ascii: "=") else {
            return nil
        }
        return String(decoding: bytes.dropFirst(prefix), as: UTF8.self)
    }

    private func check(_ rc: Int32, _ call: String) throws(Journal.Error) {
        if rc < 0 { throw .read(path: location, call: call, errno: -rc) }
    }
}
