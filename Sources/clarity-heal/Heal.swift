import ArgumentParser
import HealCore
import HealSystem
import Logging

extension ClarityHeal {
    struct HealCommand: ParsableCommand, WritingCommand {
        static let configuration = CommandConfiguration(
            commandName: "heal",
            abstract: "The recovery pipeline: archive pstore, find the failure, repair it on a clone, apply it.",
            discussion: """
                What the initramfs runs when GRUB booted the clarity-heal recovery entry
                (clarity.heal=recover), and what a person may run in a recovery boot. Copies the
                pstore records no archive holds into <root>/var/lib/clarity-heal/pstore/. When a
                fix was applied before the boot that failed, that fix is judged failed, rolled
                back from its backup and the next strategy applied ([Reboot] MaxAttempts bounds
                it); otherwise the failure is detected, diagnosed and repaired on a clone (the
                microVM where one works, else the overlay) and the validated fix applied with a
                verified backup. With a fix in place the boot counter in grubenv is reset, so the
                next boot is the normal entry, which clarity-heal-verify.service verifies. Never
                reboots by itself: the caller does ("reboot now" in the output). After a run
                that gave up, nothing is tried again until a person has looked. Runs as root,
                holding the root's lock (see --wait). Exits 0 when nothing needed repair, 1 when
                a fix is in place (reboot now), 3 when it stopped before changing anything, 4
                when a person must act.
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var system: SystemOptions
        @OptionGroup var writing: WriteOptions

        @Option(name: .long, help: "Where to try repairs: auto (the microVM where QEMU runs and the root has a bootable entry, else overlay, else copy), overlay, copy or microvm.")
        var environment: RepairPipeline.EnvironmentChoice = .auto

        @Option(name: .long, help: ArgumentHelp("Scratch space for the clone.", valueName: "dir"))
        var scratch: String = "/var/tmp/clarity-heal"

        func validate() throws {
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            let result = try holdingRoot(root) { recovered in
                let config = SystemOptions.config(root)
                let request = Heal.Request(root: root, config: config.config, devices: system.device,
                                           pstoreDirectory: system.pstore, environment: environment, scratch: scratch,
                                           clock: ClarityHeal.clock, logger: Logger(label: "clarity-heal.heal"))
                do throws(Heal.Error) {
                    return try Heal().run(request)
                } catch {
                    throw error.leftRootUnchanged
                        ? CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
                        : CommandFailure(.needsPerson, "\(error)", status: ExitStatus.needsPerson)
                }
            }
            let notified = Notifications.send(HealEvent(result, time: ClarityHeal.clock.now()), root: root)
            if global.json {
                try printJSON(Output(heal: result, notified: notified))
            } else {
                print(Self.render(result) + Notifications.text(notified), terminator: "")
            }
            switch result.status {
            case .healthy: return
            case .applied: throw ExitStatus.findings
            case .needsPerson: throw ExitStatus.needsPerson
            }
        }

        /// What --json prints.
        struct Output: Encodable {
            var heal: Heal.Result
            var notified: [EventNotifier.Delivery]

            func encode(to encoder: any Encoder) throws {
                // The heal result's fields at the top level, as before events were told.
                try heal.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(notified, forKey: .notified)
            }

            enum Key: String, CodingKey { case notified }
        }

        static func render(_ result: Heal.Result) -> String {
            var out = ""
            for path in result.harvested { out += "archived pstore record \(path)\n" }
            if let verification = result.verification { out += Verify.render(verification) }
            if let repair = result.repair { out += RepairText.render(repair, applying: true) }
            if let apply = result.apply {
                out += "applied \(apply.fixID): backup \(apply.backup)\n"
            }
            if let reset = result.bootCounterReset { out += "boot counter reset in \(reset)\n" }
            for note in result.notes { out += "note: \(note)\n" }
            switch result.status {
            case .healthy:
                if result.repair == nil && result.verification == nil { out += "\(result.root): nothing to repair\n" }
            case .applied:
                out += "reboot now: \(result.fix ?? "the fix") is in place; the next boot verifies it\n"
            case .needsPerson:
                out += "\nWhat to do: \(result.advice ?? "see `clarity-heal status` and `clarity-heal report`")\n"
            }
            return out
        }
    }
}
