/// What clarity-heal tells the people and programs that watch a machine, once per turn of
/// the repair loop: a JSON line in `/var/lib/clarity-heal/events.jsonl`, a `wall` message,
/// and the same JSON to each executable in `/etc/clarity-heal/notify.d/` (see `EventNotifier`).
///
/// ```
///  {"event":"fix-verified","time":1780000000,"fix":"fix-…","class":"fstab-unresolvable-source",
///   "strategy":"fstab-comment-out","attempt":2,"message":"…"}
/// ```
public struct HealEvent: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// `heal` applied a validated fix; the next boot verifies it.
        case fixApplied = "fix-applied"
        /// The first boot after a fix proved it: recorded good.
        case fixVerified = "fix-verified"
        /// A fix failed its verification, was rolled back, and the next strategy's fix is
        /// in place.
        case fixRetrying = "fix-retrying"
        /// clarity-heal stopped: the last fix was rolled back; a person must act.
        case gaveUp = "gave-up"
        /// Nothing could be repaired (no strategy validated, or an earlier give-up stands).
        case needsPerson = "needs-person"
        /// A boot ended in systemd's emergency mode and reboots into the recovery entry.
        case emergencyReboot = "emergency-reboot"
    }

    public var event: Kind
    /// Seconds since the epoch.
    public var time: Int64
    public var fix: String?
    public var failureClass: String?
    public var strategy: String?
    public var attempt: Int?
    /// One paragraph for a person (the wall message).
    public var message: String
    /// For `gave-up` and `needs-person`: the command that prints the record, and what to do.
    public var supportReference: String?
    public var advice: String?

    public init(event: Kind, time: Int64, fix: String? = nil, failureClass: String? = nil, strategy: String? = nil,
                attempt: Int? = nil, message: String, supportReference: String? = nil, advice: String? = nil) {
        self.event = event
        self.time = time
        self.fix = fix
        self.failureClass = failureClass
        self.strategy = strategy
        self.attempt = attempt
        self.message = message
        self.supportReference = supportReference
        self.advice = advice
    }

    enum CodingKeys: String, CodingKey {
        case event, time, fix, failureClass = "class", strategy, attempt, message, supportReference, advice
    }

    /// Whether a person must act: sent with wall's urgency in mind and kept in the log.
    public var needsPerson: Bool { event == .gaveUp || event == .needsPerson }

    /// The wall message: the first line says who speaks and what happened.
    public var wallText: String {
        var text = "clarity-heal: \(message)"
        if let advice { text += "\n\n\(advice)" }
        if let supportReference { text += "\nSupport reference: \(supportReference)" }
        return text
    }
}
