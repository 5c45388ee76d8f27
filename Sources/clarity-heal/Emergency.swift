import ArgumentParser
import Glibc
import HealCore
import HealSystem

extension ClarityHeal {
    struct Emergency: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "After a boot that ended in emergency mode: reboot into the recovery entry when unattended.",
            discussion: """
                Run by clarity-heal-emergency.service, which emergency.target wants. A boot that
                ends in emergency mode never reaches clarity-heal-verify.service, so GRUB's count
                of failed boots stays up and the next boot is the clarity-heal recovery entry.
                With [Reboot] Policy=automatic the machine reboots after [Reboot] EmergencySeconds;
                a person at the console stops that with `systemctl stop clarity-heal-emergency`
                (or Ctrl-C when run by hand). Otherwise it only says what a reboot would do. The
                running system only. Exits 0 (reboot started, or left to a person), 3 when the
                reboot could not be started.
                """
        )

        @OptionGroup var global: GlobalOptions

        struct Output: Encodable {
            var decision: String
            var seconds: Int?
            var reason: String?
            var stop: String?
            var notified: [EventNotifier.Delivery]
        }

        func validate() throws {
            guard try global.systemRoot().isLive else {
                throw ValidationError("emergency acts on the running system only; --root must be /")
            }
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            let config = SystemOptions.config(root)
            let decision = EmergencyReboot.decide(config.config.reboot)
            var notified: [EventNotifier.Delivery] = []
            var output = Output(decision: "stay", notified: [])
            switch decision {
            case .reboot(let seconds):
                output = Output(decision: "reboot", seconds: seconds, stop: "systemctl stop \(EmergencyReboot.unit)",
                                notified: [])
                notified = Notifications.send(HealEvent(event: .emergencyReboot, time: ClarityHeal.clock.now(),
                                                        message: "this boot ended in emergency mode; rebooting in \(seconds) s into the clarity-heal recovery entry."),
                                              root: root)
                output.notified = notified
            case .stay(let reason):
                output.reason = reason
            }
            if global.json {
                try printJSON(output)
            } else {
                print("clarity-heal: " + EmergencyReboot.notice(decision), terminator: "")
                print(Notifications.text(notified), terminator: "")
            }
            fflush(nil)
            guard case .reboot(let seconds) = decision else { return }
            // Stopping the unit (SIGTERM) or Ctrl-C ends the process here, before the reboot.
            var left = seconds
            while left > 0 {
                let step = min(left, 10)
                sleep(UInt32(step))
                left -= step
                if left > 0 && !global.json { print("clarity-heal: rebooting in \(left) s"); fflush(nil) }
            }
            // Queued, not waited for: the shutdown stops this unit (and a waiting systemctl
            // with it, which would look like a failure).
            let reboot = RebootCommands.immediate
            let result: CommandResult
            do {
                result = try SpawnCommandRunner().run(reboot[0], Array(reboot.dropFirst()))
            } catch {
                throw CommandFailure(.failed, "cannot reboot: \(error)", status: ExitStatus.failedSafely)
            }
            guard result.succeeded else {
                throw CommandFailure(.failed, "cannot reboot: \(RebootCommands.shell(reboot)) exited \(result.status): \(result.errorOutput)",
                                     status: ExitStatus.failedSafely)
            }
            if !global.json { print("clarity-heal: rebooting"); fflush(nil) }
        }
    }
}
