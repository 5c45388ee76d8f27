import FoundationEssentials
import Glibc
import HealCore
import Logging

/// Tells the machine's people and programs what clarity-heal did (`HealEvent`):
///
/// ```
///  event ─► <root>/var/lib/clarity-heal/events.jsonl         always (the history; 1 MiB, then .1)
///        ─► running system?  yes ─► wall MESSAGE             the people logged in
///                                 ─► /etc/clarity-heal/notify.d/*   each with the JSON in
///                                    CLARITY_HEAL_EVENT_JSON, at most 30 s (SiteExecutables)
///                            no  ─► notify-pending.jsonl     an initramfs or an examined root:
///                                    delivered by the next `verify` on the running system
/// ```
///
/// The journal has the command's own output (the units write to it). Notifying never
/// fails the command: what could not be done is returned, to be shown as a note.
public struct EventNotifier {
    public static let folder = "/etc/clarity-heal/notify.d"
    public static let eventLog = "/events.jsonl"
    public static let pendingQueue = "/notify-pending.jsonl"
    /// The history is rotated past this size (one older file kept).
    public static let eventLogLimit = 1 << 20
    /// Events waiting for delivery read at most: a queue is a few lines.
    static let pendingLimit = 256 << 10
    public static let hookSeconds = 30

    public var root: SystemRoot
    public var runner: any CommandRunner
    public var logger: Logger

    public init(root: SystemRoot, runner: any CommandRunner = SpawnCommandRunner(),
                logger: Logger = Logger(label: "clarity-heal.notify")) {
        self.root = root
        self.runner = runner
        self.logger = logger
    }

    /// What became of one event.
    public struct Delivery: Sendable, Encodable, Equatable {
        public var event: HealEvent.Kind
        /// Written to events.jsonl.
        public var logged: Bool
        /// Kept for the next verify on the running system (not the running system now).
        public var queued: Bool
        /// `wall` ran and exited 0; nil when not the running system.
        public var wall: Bool?
        /// Each notify.d executable and its exit status (124: out of time).
        public var hooks: [Hook]
        public var problems: [String]

        public struct Hook: Sendable, Encodable, Equatable {
            public var name: String
            public var status: Int32?
            public var skipped: String?
        }
    }

    /// Logs `event`, then delivers it now (running system) or queues it.
    @discardableResult
    public func notify(_ event: HealEvent) -> Delivery {
        var delivery = Delivery(event: event.event, logged: false, queued: false, wall: nil, hooks: [], problems: [])
        guard let line = Self.line(event) else {
            delivery.problems.append("cannot encode the \(event.event.rawValue) event")
            return delivery
        }
        do {
            try append(line, to: Self.eventLog, rotatingPast: Self.eventLogLimit)
            delivery.logged = true
        } catch {
            delivery.problems.append("cannot write \(StateDirectory.path)\(Self.eventLog): \(error)")
        }
        if root.isLive {
            deliver(event, line: line, into: &delivery)
        } else {
            do {
                try append(line, to: Self.pendingQueue, rotatingPast: nil)
                delivery.queued = true
            } catch {
                delivery.problems.append("cannot queue the event for the next boot: \(error)")
            }
        }
        for problem in delivery.problems { logger.warning("notify: \(problem)") }
        return delivery
    }

    /// Delivers what an initramfs or an examined-root run queued; the running system only.
    public func deliverPending() -> [Delivery] {
        guard root.isLive, let state = try? StateDirectory.open(root),
              let bytes = try? state.files.readIfPresent(Self.pendingQueue, limit: Self.pendingLimit, links: .refuse)
        else { return [] }
        // Removed first: a hook that hangs the boot is not run again on every boot.
        try? state.files.remove(Self.pendingQueue)
        var deliveries: [Delivery] = []
        for line in bytes.split(separator: 0x0a) {
            guard let event = try? JSONDecoder().decode(HealEvent.self, from: Data(line)) else { continue }
            var delivery = Delivery(event: event.event, logged: true, queued: false, wall: nil, hooks: [], problems: [])
            deliver(event, line: String(decoding: line, as: UTF8.self), into: &delivery)
            deliveries.append(delivery)
        }
        return deliveries
    }

    private func deliver(_ event: HealEvent, line: String, into delivery: inout Delivery) {
        do {
            try WallNotifier(runner: runner).notify(event.wallText)
            delivery.wall = true
        } catch {
            delivery.wall = false
            delivery.problems.append(error.description)
        }
        let (hooks, skipped) = SiteExecutables.list(Self.folder, root: root)
        for path in hooks {
            let name = String(path.split(separator: "/").last ?? "")
            let command = SiteExecutables.command(root.files.hostPath(path), seconds: Self.hookSeconds, environment: [
                ("CLARITY_HEAL_EVENT", event.event.rawValue), ("CLARITY_HEAL_EVENT_JSON", line),
            ])
            do {
                let result = try runner.run(command[0], Array(command.dropFirst()))
                delivery.hooks.append(.init(name: name, status: result.status, skipped: nil))
                if result.status != 0 {
                    delivery.problems.append("\(Self.folder)/\(name) exited \(result.status)"
                                             + (result.status == SiteExecutables.timedOut ? " (out of time)" : ""))
                }
            } catch {
                delivery.hooks.append(.init(name: name, status: nil, skipped: "\(error)"))
            }
        }
        for file in skipped { delivery.hooks.append(.init(name: file.name, status: nil, skipped: file.reason)) }
    }

    static func line(_ event: HealEvent) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(event) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Appends one line to a file of the state folder, under its lock; past `limit` the
    /// file moves to `NAME.1` first (the older one goes).
    private func append(_ line: String, to name: String, rotatingPast limit: Int?) throws {
        let state = try StateDirectory.make(root)
        if let limit, let status = state.files.statusIfPresent(name, links: .refuse), Int(status.st_size) > limit {
            try state.files.rename(name, to: name + ".1")
        }
        let file = try state.files.openForAppend(name, mode: 0o644)
        guard flock(file.descriptor, LOCK_EX) == 0 else { throw FileError.system(path: name, call: "flock", errno: errno) }
        try file.write(Array((line + "\n").utf8))
        try file.sync()
    }
}
