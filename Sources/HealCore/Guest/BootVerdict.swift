/// How a guest boot ended, as the host saw it: the guest powered off (or reset, which
/// `-no-reboot` turns into an exit), the host stopped it at its deadline, or QEMU itself
/// failed (a bad option, a file it could not open, a crash) — which says nothing about
/// the guest.
public enum GuestEnd: Sendable, Hashable, Codable {
    case exited
    case deadline(seconds: Int)
    case qemuFailed(String)
    /// The console grew past its bound: the guest was stopped.
    case consoleFlood(bytes: Int)
}

/// The `boot` and `stability` checks of a validation boot (docs/failure-catalogue.md,
/// "Validation"), decided from the console and how the boot ended.
///
/// - `boot` passes when the probe reported the default target reached, no unit failed
///   that had not failed before the repair (on the examined system's last boot, or on a
///   boot of the unrepaired disk), and every site check in `health.d` passed. A panic, an emergency shell,
///   a root device that never appeared or a guest that stopped without the probe
///   speaking fails it, with the console lines as evidence.
/// - `stability` passes when the probe reported again after `StabilitySeconds` with no
///   new failed unit.
/// - A deadline under TCG is `inconclusive` (emulation is slow and its speed varies with
///   the host's load); under KVM a deadline is a hang and fails. A QEMU failure is
///   `inconclusive`: the repair was not judged.
public struct BootVerdict: Sendable {
    public var console: GuestConsole
    public var end: GuestEnd
    /// Whether the guest ran under TCG (no KVM).
    public var emulated: Bool
    /// Units that failed before the repair (the examined system's journal, a boot of the
    /// unrepaired disk): not the repair's doing.
    public var failedBefore: Set<String>
    /// The console excerpt given as evidence.
    public var excerpt: [String]

    public init(console: GuestConsole, end: GuestEnd, emulated: Bool, failedBefore: Set<String> = [],
                excerpt: [String]) {
        self.console = console
        self.end = end
        self.emulated = emulated
        self.failedBefore = failedBefore
        self.excerpt = excerpt
    }

    public typealias Check = ValidationReport.Check

    /// Why the guest did not reach its default target, when the console says.
    public var failure: String? {
        if let panic = console.panic {
            var text = "the guest panicked: \(panic)"
            if let module = console.panicSignature?.faultingModule { text += " (in module \(module))" }
            return text
        }
        if let device = console.rootDeviceMissing {
            return device.isEmpty ? "the initramfs gave up waiting for the root device"
                : "the root device \(device) never appeared"
        }
        if console.emergency {
            let units = console.consoleFailures
            return "the guest dropped to systemd's emergency shell"
                + (units.isEmpty ? "" : " after " + units.joined(separator: ", ") + " failed")
        }
        return nil
    }

    /// Units failed when the default target was reached that had not failed before.
    public var newFailures: [String] {
        console.failedUnits.filter { !failedBefore.contains($0) }
    }

    public var checks: [Check] {
        let boot = bootCheck
        return [boot, stabilityCheck(after: boot)]
    }

    var bootCheck: Check {
        if case .qemuFailed(let message) = end, console.reachedTarget == nil {
            return Check(name: "boot", verdict: .inconclusive, detail: "QEMU failed, the guest was not judged: \(message)", evidence: excerpt)
        }
        if let failure {
            return Check(name: "boot", verdict: .failed, detail: failure, evidence: excerpt)
        }
        guard let target = console.reachedTarget else {
            return Check(name: "boot", verdict: unfinished, detail: stopped("before reaching its default target"), evidence: excerpt)
        }
        var problems: [String] = []
        if !newFailures.isEmpty {
            problems.append("units failed that did not fail before the repair: " + newFailures.joined(separator: ", "))
        }
        for check in console.siteChecks where !check.passed {
            problems.append("site check \(check.name) failed inside the guest (exit \(check.status))")
        }
        if !problems.isEmpty {
            return Check(name: "boot", verdict: .failed, detail: problems.joined(separator: "; "), evidence: excerpt)
        }
        guard console.ready else {
            return Check(name: "boot", verdict: unfinished, detail: stopped("while its site checks ran"), evidence: excerpt)
        }
        var detail = "reached \(target) (\(console.systemState ?? "state unknown"))"
        detail += console.failedUnits.isEmpty ? ", no unit failed" : ", failed as before: " + console.failedUnits.joined(separator: ", ")
        if !console.siteChecks.isEmpty { detail += ", \(console.siteChecks.count) site checks passed" }
        return Check(name: "boot", verdict: .passed, detail: detail, evidence: excerpt)
    }

    func stabilityCheck(after boot: Check) -> Check {
        guard boot.verdict == .passed else {
            return Check(name: "stability", verdict: boot.verdict == .failed ? .notRun : boot.verdict,
                         detail: "needs a boot that reached its default target")
        }
        guard let later = console.stableFailedUnits else {
            if let failure {
                return Check(name: "stability", verdict: .failed, detail: "after the default target: " + failure, evidence: excerpt)
            }
            return Check(name: "stability", verdict: unfinished, detail: stopped("before the stability period ended"), evidence: excerpt)
        }
        let new = later.filter { !failedBefore.contains($0) && !console.failedUnits.contains($0) }
        guard new.isEmpty else {
            return Check(name: "stability", verdict: .failed,
                         detail: "units failed after the default target: " + new.joined(separator: ", "), evidence: excerpt)
        }
        return Check(name: "stability", verdict: .passed, detail: "stayed up with no new failed unit")
    }

    /// A guest that has not finished: a hang under KVM, undecided under TCG.
    private var unfinished: ValidationReport.Verdict {
        switch end {
        case .deadline: emulated ? .inconclusive : .failed
        case .qemuFailed: .inconclusive
        case .exited, .consoleFlood: .failed
        }
    }

    private func stopped(_ when: String) -> String {
        switch end {
        case .exited: "the guest stopped " + when
        case .deadline(let seconds):
            emulated ? "no verdict after \(seconds) s under TCG (emulation; a slower host may need longer)"
                : "the guest hung " + when + " (\(seconds) s under KVM)"
        case .qemuFailed(let message): "QEMU failed " + when + ": " + message
        case .consoleFlood(let bytes): "the guest flooded its console (\(bytes) bytes) " + when
        }
    }
}
