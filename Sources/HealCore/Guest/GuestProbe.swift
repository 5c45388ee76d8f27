/// The one-shot probe a validation boot adds to the guest: a systemd unit, pulled in from
/// the kernel command line (`systemd.wants=`), ordered after the default target, that
/// reports on the serial console what `GuestConsole` reads.
///
/// Debian 12's systemd (252) cannot notify the host over vsock (that came in 253/254),
/// so the report goes over the serial line, each line carrying a nonce made for this
/// boot. The probe's files go into the boot's throwaway disk layer only; the repaired
/// clone, the fix package and the real disk never hold them.
///
/// ```
///  default.target reached ─▶ probe: target TARGET           (at once: the unit is ordered after it)
///  no job left            ─▶        reached TARGET STATE    (is-system-running --wait)
///                                   failed UNIT…            (failed units now)
///                                   check NAME STATUS       (each health.d executable)
///                                   ready
///  StabilitySeconds later ─▶        stable UNIT…            (failed units then)
///                            systemctl poweroff
/// ```
public struct GuestProbe: Sendable, Hashable {
    /// A fresh random value per boot, in every line the probe prints.
    public var nonce: String
    /// How long the guest must stay up after its checks.
    public var stabilitySeconds: Int
    /// How long one site check may run inside the guest.
    public var checkTimeoutSeconds: Int

    public init(nonce: String, stabilitySeconds: Int, checkTimeoutSeconds: Int = 120) {
        self.nonce = nonce
        self.stabilitySeconds = stabilitySeconds
        self.checkTimeoutSeconds = checkTimeoutSeconds
    }

    /// A nonce from the system's random generator: 16 hex digits.
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    public static let unitName = "clarity-heal-probe.service"
    public static let unitPath = "/etc/systemd/system/" + unitName
    public static let scriptPath = "/etc/clarity-heal-probe/probe.sh"
    /// The site checks the probe runs: executables a site puts there (issue: health.d).
    public static let siteChecks = "/etc/clarity-heal/health.d"

    /// Words added to the boot entry's command line.
    public static let commandLine = ["systemd.wants=" + unitName]

    public var unit: String {
        """
        # Added by clarity-heal to the throwaway layer of a validation boot.
        [Unit]
        Description=clarity-heal validation probe
        After=default.target

        [Service]
        Type=simple
        ExecStart=/bin/sh \(Self.scriptPath)

        """
    }

    /// POSIX sh: the examined root's own shell and coreutils run it.
    public var script: String {
        """
        #!/bin/sh
        # Added by clarity-heal to the throwaway layer of a validation boot.
        say() { printf '\\r\\n%s\\r\\n' "\(GuestConsole.marker) \(nonce) $*" >/dev/ttyS0; }
        failed() { systemctl list-units --state=failed --no-legend --plain --full 2>/dev/null | cut -d' ' -f1 | tr '\\n' ' '; }
        target=$(systemctl get-default 2>/dev/null)
        say target "$target"
        state=$(timeout 300 systemctl is-system-running --wait 2>/dev/null)
        say reached "$target" "${state:-unknown}"
        say failed $(failed)
        for check in \(Self.siteChecks)/*; do
          [ -f "$check" ] && [ -x "$check" ] || continue
          timeout \(checkTimeoutSeconds) "$check" </dev/null >/dev/null 2>&1
          say check "${check##*/}" $?
        done
        say ready
        sleep \(stabilitySeconds)
        say stable $(failed)
        systemctl --no-block poweroff

        """
    }
}
