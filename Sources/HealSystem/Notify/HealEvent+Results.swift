import HealCore

extension HealEvent {
    /// The event of a `verify` run; nil when the boot was not after a repair.
    public init?(_ verification: Verification.Result, time: Int64) {
        let fix = verification.fix ?? "the fix"
        let named = "\(fix) (\(verification.strategy ?? "?"), \(verification.failureClass?.rawValue ?? "?"))"
        let failed = verification.checks.filter { $0.verdict == .failed }.map { "\($0.name): \($0.detail)" }
            .joined(separator: "; ")
        switch verification.status {
        case .notPending:
            return nil
        case .good:
            self.init(event: .fixVerified, time: time,
                      message: "the repair \(named) holds on the first boot after it: recorded good.")
        case .retrying:
            let next = verification.retry.map { "\($0.fix) (\($0.strategy))" } ?? "the next fix"
            self.init(event: .fixRetrying, time: time,
                      message: "the repair \(named) failed its verification (\(failed)) and was rolled back; "
                          + "\(next) is in place and is verified after the reboot.")
            attempt = verification.retry?.attempt
        case .stopped:
            // Kept (or put back): the machine booted with it and not before it (Verification.stop).
            let left = verification.kept != nil ? "stays in place, the last state that booted" : "was rolled back"
            self.init(event: .gaveUp, time: time,
                      message: "the repair \(named) failed its verification (\(failed)) and \(left); "
                          + "clarity-heal stopped and a person must act.",
                      supportReference: verification.supportReference, advice: verification.advice)
        }
        self.fix = verification.retry?.fix ?? verification.fix
        failureClass = verification.failureClass?.rawValue
        strategy = verification.retry?.strategy ?? verification.strategy
        if attempt == nil { attempt = verification.attempt }
    }

    /// The event of a `heal` run; nil when nothing needed repair.
    public init?(_ heal: Heal.Result, time: Int64) {
        if let verification = heal.verification, verification.status != .notPending,
           var event = HealEvent(verification, time: time) {
            event.message = "after a boot that failed, " + event.message
            self = event
            return
        }
        switch heal.status {
        case .healthy:
            return nil
        case .applied:
            let repair = heal.repair
            let strategy = repair?.package?.manifest.strategy.id ?? repair?.attempts.last(where: \.validated)?.strategy
            self.init(event: .fixApplied, time: time, fix: heal.fix, failureClass: repair?.finding?.failureClass.rawValue,
                      strategy: strategy,
                      message: "a recovery boot repaired \(repair?.finding?.failureClass.rawValue ?? "a failure")"
                          + " with \(strategy ?? "a validated fix") (\(heal.fix ?? "?")); the next boot verifies it.")
        case .needsPerson:
            self.init(event: .needsPerson, time: time, failureClass: heal.repair?.finding?.failureClass.rawValue,
                      message: "a recovery boot could not repair this machine: a person must act.",
                      supportReference: "clarity-heal status", advice: heal.advice)
        }
    }
}
