/// What a boot of the disk as it is showed (`diagnose --boot`): a finding the diagnosis
/// goes on from, with the console lines as evidence — or why there is none.
///
/// | the console shows | finding |
/// | --- | --- |
/// | `Kernel panic - not syncing:` | the class the panic text points to (`VFS: Unable to mount root fs` → root-device-mismatch, `No working init` → init-missing), else kernel-panic; the crash read as a record, so its module leads the plan |
/// | initramfs-tools giving up on the root device | root-device-mismatch |
/// | systemd's emergency shell | unit-failures, with the units that failed |
/// | the default target, with failed units | unit-failures |
/// | nothing more before QEMU exits | boot-failures |
/// | a deadline under KVM | boot-failures (a hang) |
///
/// A deadline under TCG, a QEMU failure or a clean boot make no finding.
public struct BootObservation: Sendable, Hashable, Codable {
    public var finding: Finding?
    /// The crash read from the console, when the guest panicked.
    public var panic: PanicSignature?
    /// What the boot showed, in one line.
    public var note: String
    /// Whether the boot said anything about the disk: false when QEMU failed or the time
    /// ran out under TCG.
    public var judged = true

    public init(console: GuestConsole, end: GuestEnd, emulated: Bool, excerpt: [String], source: String) {
        panic = console.panicSignature
        let evidence = excerpt.map { Evidence(source: source, detail: $0) }
        func found(_ failureClass: FailureClass, _ summary: String) -> (Finding?, String) {
            (Finding(failureClass, summary: summary, evidence: evidence), summary)
        }
        let outcome: (Finding?, String)
        if let reason = console.panic {
            let module = console.panicSignature?.faultingModule.map { " (in module \($0))" } ?? ""
            outcome = found(console.panicSignature?.hint ?? .kernelPanic, "a boot of the disk panicked: \(reason)\(module)")
        } else if let device = console.rootDeviceMissing {
            outcome = found(.rootDeviceMismatch, device.isEmpty ? "a boot of the disk gave up waiting for its root device"
                : "a boot of the disk waited in vain for its root device \(device)")
        } else if console.emergency {
            let units = console.consoleFailures
            outcome = found(.unitFailures, "a boot of the disk ended in systemd's emergency shell"
                + (units.isEmpty ? "" : " after " + units.joined(separator: ", ") + " failed"))
        } else if let target = console.reachedTarget {
            outcome = console.failedUnits.isEmpty ? (nil, "the disk booted to \(target) with no failed unit")
                : found(.unitFailures, "\(console.failedUnits.count) units failed in a boot of the disk: "
                    + console.failedUnits.joined(separator: ", "))
        } else {
            switch end {
            case .deadline(let seconds) where emulated:
                judged = false
                outcome = (nil, "no verdict after \(seconds) s under TCG (emulation): nothing is concluded from it")
            case .deadline(let seconds):
                outcome = found(.bootFailures, "a boot of the disk hung: no default target after \(seconds) s under KVM")
            case .qemuFailed(let message):
                judged = false
                outcome = (nil, "QEMU failed, the disk was not judged: \(message)")
            case .consoleFlood(let bytes):
                outcome = found(.bootFailures, "a boot of the disk flooded its console (\(bytes) bytes) before its default target")
            case .exited:
                outcome = found(.bootFailures, "a boot of the disk stopped before its default target with no panic on the console")
            }
        }
        (finding, note) = outcome
    }
}
