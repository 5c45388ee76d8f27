/// What a boot that ended in systemd's emergency mode does (`clarity-heal emergency`, run
/// by clarity-heal-emergency.service, wanted by emergency.target).
///
/// A boot that reaches emergency mode never reaches clarity-heal-verify.service, so GRUB's
/// count of failed boots stays up; rebooting is all it takes for GRUB to boot the recovery
/// entry. Only an unattended machine (`[Reboot] Policy=automatic`) reboots by itself, after
/// `EmergencySeconds` in which a person at the console can stop it; otherwise the console
/// is left to the person, with what a reboot would do.
public enum EmergencyReboot {
    public static let unit = "clarity-heal-emergency.service"

    public enum Decision: Sendable, Equatable {
        case reboot(afterSeconds: Int)
        case stay(reason: String)
    }

    public static func decide(_ policy: RebootPolicy) -> Decision {
        switch policy.mode {
        case .automatic:
            .reboot(afterSeconds: policy.emergencySeconds)
        case .window, .prompt:
            .stay(reason: "[Reboot] Policy=\(policy.mode.rawValue): a person decides")
        }
    }

    /// The text for the console (and the journal).
    public static func notice(_ decision: Decision) -> String {
        switch decision {
        case .reboot(let seconds):
            """
            this boot ended in emergency mode. Rebooting in \(seconds) s: GRUB then boots the \
            clarity-heal recovery entry, which repairs this system.
            To stay in emergency mode, log in and run: systemctl stop \(unit)

            """
        case .stay(let reason):
            """
            this boot ended in emergency mode; not rebooting by itself (\(reason)).
            `systemctl reboot` boots the clarity-heal recovery entry, which repairs this system.

            """
        }
    }
}
