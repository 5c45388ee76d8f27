/// Units clarity-heal never masks, whatever failed: without them the machine cannot log,
/// find its devices, let a person log in, or reach the network it is managed through. Data,
/// not code: extend the list rather than adding branches.
public enum EssentialUnits {
    /// Exact unit names.
    public static let names: Set<String> = [
        "systemd-journald.service", "systemd-journald.socket", "systemd-journald-dev-log.socket",
        "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
        "systemd-udev-trigger.service", "dbus.service", "dbus.socket", "dbus-broker.service",
        "systemd-logind.service", "ssh.service", "sshd.service", "ssh.socket", "networking.service",
        "systemd-networkd.service", "systemd-resolved.service", "NetworkManager.service",
        "systemd-remount-fs.service", "systemd-fsck-root.service", "systemd-tmpfiles-setup.service",
        "systemd-tmpfiles-setup-dev.service", "systemd-sysctl.service", "systemd-modules-load.service",
        "systemd-random-seed.service", "systemd-user-sessions.service", "systemd-timesyncd.service",
        "cron.service", "rsyslog.service", "polkit.service", "console-getty.service",
        "emergency.service", "rescue.service", "init.scope", "-.mount", "-.slice",
    ]

    /// Template prefixes (`getty@tty1.service` is an instance of `getty@`).
    public static let templates: [String] = [
        "getty@", "serial-getty@", "container-getty@", "systemd-fsck@", "user@", "user-runtime-dir@",
        "autovt@", "ifup@",
    ]

    /// Unit types never masked: targets, slices and scopes are the structure of the boot.
    public static let suffixes: [String] = [".target", ".slice", ".scope", ".device"]

    public static func contains(_ unit: String) -> Bool {
        names.contains(unit) || templates.contains { unit.hasPrefix($0) } || suffixes.contains { unit.hasSuffix($0) }
    }
}
