import HealCore
import HealSystem

/// The events of a command, told to the machine (`EventNotifier`): what each command adds
/// to its output about them.
enum Notifications {
    /// Delivers the events queued by an earlier run that was not on the running system (a
    /// recovery boot's `heal`), then `event`.
    static func send(_ event: HealEvent?, root: SystemRoot, deliverQueued: Bool = false) -> [EventNotifier.Delivery] {
        let notifier = EventNotifier(root: root)
        var deliveries = deliverQueued ? notifier.deliverPending() : []
        if let event { deliveries.append(notifier.notify(event)) }
        return deliveries
    }

    /// One line per event, and one per thing that went wrong.
    static func text(_ deliveries: [EventNotifier.Delivery]) -> String {
        var out = ""
        for delivery in deliveries {
            var how: [String] = []
            if delivery.logged { how.append("logged") }
            if delivery.queued { how.append("kept for the next boot") }
            if delivery.wall == true { how.append("wall") }
            let ran = delivery.hooks.filter { $0.status != nil }
            if !ran.isEmpty { how.append("notify.d: " + ran.map { "\($0.name) (\($0.status ?? 0))" }.joined(separator: ", ")) }
            out += "event \(delivery.event.rawValue): \(how.isEmpty ? "not sent" : how.joined(separator: ", "))\n"
            for problem in delivery.problems { out += "note: \(problem)\n" }
        }
        return out
    }
}
