import Glibc
import HealCore

public enum MicroVMError: Error, Equatable, CustomStringConvertible {
    /// QEMU or qemu-img is not installed.
    case unavailable(String)
    /// The guest cannot be built from this disk or root (no bootable entry, no driver for
    /// any controller, a root that is not a whole-filesystem image).
    case unbootable(String)
    /// QEMU or a disk layer could not be started or made.
    case launch(String)

    public var description: String {
        switch self {
        case .unavailable(let why): "the microVM cannot run here: \(why)"
        case .unbootable(let why): "the clone cannot be booted: \(why)"
        case .launch(let why): "cannot start the microVM: \(why)"
        }
    }
}

/// The machine emulator found on this host and the accelerator it runs guests with.
///
/// KVM is used only when `/dev/kvm` really runs a guest: the probe boots the guest
/// kernel with no root and `panic=-1` under KVM and waits a few seconds for it to panic
/// and reset. On this kind of host (nested virtualization) KVM opens and creates a VM,
/// then the guest hangs or QEMU aborts on an MSR assertion: the probe sees either and
/// TCG is used instead. Every deadline is written for TCG and shortened under KVM.
public struct Hypervisor: Sendable, Hashable {
    public enum Accelerator: String, Sendable, Codable {
        case kvm, tcg
    }

    /// `qemu-system-x86_64`.
    public var qemu: String
    /// `qemu-img`.
    public var image: String
    public var accelerator: Accelerator
    /// Why this accelerator (the probe's outcome), for reports.
    public var reason: String

    /// A deadline written for TCG, for this accelerator: a quarter under KVM, never below
    /// 30 s.
    public func deadline(_ tcgSeconds: Int) -> Int {
        accelerator == .kvm ? max(30, tcgSeconds / 4) : tcgSeconds
    }

    /// `-M pc,accel=…` and its CPU. The `pc` machine rather than `microvm`: on a loaded
    /// host microvm guests here sometimes got no timer interrupt at all, while pc has a
    /// PIT, HPET and ACPI PM timer (scripts/make-journal-fixture saw the same). No
    /// firmware is involved either way: the kernel is loaded directly.
    public var machine: [String] {
        ["-M", "pc,accel=\(accelerator.rawValue)", "-cpu", accelerator == .kvm ? "host" : "max"]
    }

    /// Options every guest gets: no default devices, no network device ever, no display,
    /// QEMU's seccomp sandbox, and QEMU running as `nobody` once its files are open.
    public static let confinement = [
        "-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
        "-sandbox", "on,obsolete=deny,spawn=deny,resourcecontrol=deny", "-runas", "nobody",
    ]

    /// Finds QEMU and picks the accelerator.
    /// - Parameters:
    ///   - kernel: a kernel to probe KVM with (any bzImage); nil: TCG without a probe.
    ///   - wanted: `auto` probes; `tcg` never tries KVM; `kvm` fails when the probe does.
    ///   - scratch: where the probe's console goes.
    public static func find(kernel: String?, wanted: String = "auto", scratch: String) throws(MicroVMError) -> Hypervisor {
        guard let qemu = Executable.find("qemu-system-x86_64") else {
            throw .unavailable("qemu-system-x86_64 is not installed (Debian: apt install qemu-system-x86)")
        }
        guard let image = Executable.find("qemu-img") else {
            throw .unavailable("qemu-img is not installed (Debian: apt install qemu-utils)")
        }
        if wanted == "tcg" {
            return Hypervisor(qemu: qemu, image: image, accelerator: .tcg, reason: "TCG asked for by the configuration")
        }
        let probe = probeKVM(qemu: qemu, kernel: kernel, scratch: scratch)
        if probe.works {
            return Hypervisor(qemu: qemu, image: image, accelerator: .kvm, reason: probe.reason)
        }
        if wanted == "kvm" { throw .unavailable("KVM was asked for but " + probe.reason) }
        return Hypervisor(qemu: qemu, image: image, accelerator: .tcg, reason: probe.reason + "; using TCG (emulation, slower)")
    }

    nonisolated(unsafe) private static var probed: [String: (works: Bool, reason: String)] = [:]

    /// Boots `kernel` under KVM with no root: a working KVM prints the kernel's banner and
    /// panics within a second or two; the result is kept for the process.
    static func probeKVM(qemu: String, kernel: String?, scratch: String) -> (works: Bool, reason: String) {
        guard access("/dev/kvm", R_OK | W_OK) == 0 else { return (false, "/dev/kvm is not usable") }
        guard let kernel else { return (false, "no kernel to probe KVM with") }
        if let known = probed[kernel] { return known }
        let console = scratch + "/kvm-probe-\(getpid())-\(UInt32.random(in: 0 ... .max)).log"
        defer { unlink(console) }
        let seconds = 8
        let outcome: (works: Bool, reason: String)
        do {
            let run = try GuestProcess.run(
                qemu: qemu,
                arguments: ["-M", "pc,accel=kvm", "-cpu", "host", "-m", "256"] + confinement
                    + ["-no-reboot", "-serial", "stdio", "-kernel", kernel, "-append", "console=ttyS0 panic=-1 loglevel=4"],
                consolePath: console, deadline: seconds,
                watch: { $0.contains("Kernel panic - not syncing") })
            switch run.end {
            case .exited where run.console.contains("Kernel panic - not syncing"):
                outcome = (true, "KVM runs a guest (probe booted in \(Int(run.seconds * 1000)) ms)")
            case .qemuFailed(let message):
                outcome = (false, "KVM does not run a guest here (QEMU: \(message))")
            case .deadline:
                outcome = (false, "KVM does not run a guest here (the probe guest hung for \(seconds) s)")
            default:
                outcome = (false, "KVM does not run a guest here (the probe guest printed no panic)")
            }
        } catch {
            outcome = (false, "KVM could not be probed: \(error)")
        }
        probed[kernel] = outcome
        return outcome
    }
}
