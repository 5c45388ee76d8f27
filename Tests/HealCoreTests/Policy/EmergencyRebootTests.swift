import HealCore
import Testing

/// Only an unattended machine reboots out of emergency mode by itself; the console always
/// says how a person stops it or what a reboot would do.
@Suite("EmergencyReboot")
struct EmergencyRebootTests {
    @Test func automaticRebootsAfterItsSecondsAndSaysHowToStopIt() throws {
        var policy = RebootPolicy()
        policy.mode = .automatic
        policy.emergencySeconds = 45
        let decision = EmergencyReboot.decide(policy)
        #expect(decision == .reboot(afterSeconds: 45))
        let notice = EmergencyReboot.notice(decision)
        #expect(notice.contains("Rebooting in 45 s"))
        #expect(notice.contains("systemctl stop clarity-heal-emergency.service"))
    }

    @Test(arguments: [RebootPolicy.Mode.prompt, .window])
    func otherwiseAPersonDecides(mode: RebootPolicy.Mode) {
        var policy = RebootPolicy()
        policy.mode = mode
        let decision = EmergencyReboot.decide(policy)
        #expect(decision == .stay(reason: "[Reboot] Policy=\(mode.rawValue): a person decides"))
        #expect(EmergencyReboot.notice(decision).contains("`systemctl reboot` boots the clarity-heal recovery entry"))
    }
}
