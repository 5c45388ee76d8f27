import ArgumentParser
import Glibc
import FoundationEssentials
import HealCore
import HealSystem

extension ClarityHeal {
    struct Verify: ParsableCommand, WritingCommand {
        static let configuration = CommandConfiguration(
            abstract: "On the first boot after a repair, prove the fix; roll it back and retry when it fails.",
            discussion: """
                Acts only on a boot marked as after a repair (<root>/var/lib/clarity-heal/verify-pending).
                Re-runs the repaired class's detectors, the core boot-chain checks and the count
                of units failed on this boot. Success: the ledger records the fix good and the
                boot counter (clarity_heal_attempts) is reset. Failure: the fix is rolled back
                from its backup, then repaired again without the strategies that failed, up to
                [Reboot] MaxAttempts; the reboot for the new fix follows [Reboot] Policy (only on
                the running system, never for --root DIR). A bad config setting is a warning and
                its default is used. Runs as root, holding the root's lock (see --wait), and
                first finishes an apply or rollback a crash interrupted. Exits 0 when verified or
                nothing to verify, 1 when a retry is in place (a reboot verifies it), 3 when it
                stopped before changing anything, 4 when clarity-heal stopped and a person must
                act (the output names the support reference).
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var system: SystemOptions
        @OptionGroup var writing: WriteOptions

        @Option(name: .long, help: "Where a retry tries repairs: auto (overlay, else copy), overlay, copy or microvm.")
        var environment: RepairPipeline.EnvironmentChoice = .auto

        @Option(name: .long, help: ArgumentHelp("Scratch space for a retry's clone.", valueName: "dir"))
        var scratch: String = "/var/tmp/clarity-heal"

        @Option(name: .long, help: ArgumentHelp("Read the running boot's id from this file (tests).", valueName: "file"))
        var bootIDFile: String = "/proc/sys/kernel/random/boot_id"

        func validate() throws {
            _ = try global.systemRoot()
        }

        /// What --json prints: the verification, the reboot decision for a retry, and an
        /// interrupted apply or rollback finished before it.
        struct Output: Encodable {
            var verification: Verification.Result
            var reboot: RebootReport?
            var recovered: RecoveryReport?
            /// The events told to the machine (events.jsonl, wall, notify.d).
            var notified: [EventNotifier.Delivery]
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            try holdingRoot(root) { recovered in
                let config = SystemOptions.config(root)
                let clock = ClarityHeal.clock
                let request = Verification.Request(root: root, config: config.config, extraDevices: system.device,
                                                   pstoreDirectory: system.pstore, bootIDPath: bootIDFile,
                                                   environment: environment, scratch: scratch, clock: clock)
                let result: Verification.Result
                do throws(Verification.Error) {
                    result = try Verification().run(request)
                } catch {
                    throw error.leftRootUnchanged
                        ? CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
                        : CommandFailure(.needsPerson, "\(error)", status: ExitStatus.needsPerson)
                }
                let notified = Notifications.send(HealEvent(result, time: clock.now()), root: root,
                                                   deliverQueued: root.isLive)
                // The verdict is printed before a reboot is carried out: a reboot at once
                // (NoticeMinutes=0) stops this unit, and what it had not printed is lost.
                if !global.json {
                    print(Self.render(result) + Notifications.text(notified), terminator: "")
                    fflush(nil)
                }
                var reboot: RebootReport?
                if result.status == .retrying, let retry = result.retry, let failureClass = result.failureClass {
                    reboot = RebootReport.decide(RebootRequest(fix: retry.fix, failureClass: failureClass),
                                                 policy: config.config.reboot, clock: clock, root: root)
                }
                if global.json {
                    try printJSON(Output(verification: result, reboot: reboot, recovered: recovered, notified: notified),
                                  notes: DocumentNotes(warnings: config.warnings))
                } else if let reboot {
                    print(reboot.text, terminator: "")
                }
                switch result.status {
                case .notPending, .good: return
                case .retrying: throw ExitStatus.findings
                case .stopped: throw ExitStatus.needsPerson
                }
            }
        }

        static func recoveryText(_ outcome: RecoveryInitramfs.Outcome?) -> String {
            switch outcome {
            case .kept(let path): "the recovery entry's initramfs kept: \(path)\n"
            case .skipped(let why): "note: no initramfs kept for the recovery entry: \(why)\n"
            case .unchanged, nil: ""
            }
        }

        static func render(_ result: Verification.Result) -> String {
            guard let fix = result.fix else {
                return "\(result.root): this boot is not after a repair; nothing to verify\n"
                    + (result.bootCounterReset.map { "a good boot: boot counter reset in \($0)\n" } ?? "")
                    + recoveryText(result.recoveryInitramfs)
            }
            var out = "verifying \(fix) (\(result.failureClass?.rawValue ?? "?"), \(result.strategy ?? "?")), attempt \(result.attempt ?? 1) of \(result.maxAttempts)\n"
            for check in result.checks {
                out += "  \(check.verdict.rawValue.padded(8)) \(check.name): \(check.detail)\n"
            }
            switch result.status {
            case .notPending:
                break
            case .good:
                out += "the fix holds: recorded good"
                out += result.bootCounterReset.map { "; boot counter reset in \($0)\n" } ?? "\n"
                out += recoveryText(result.recoveryInitramfs)
            case .retrying, .stopped:
                if let rollback = result.rollback {
                    out += "rolled back \(rollback.fixID): restored \(rollback.restored.count), removed \(rollback.removed.count) (backup \(rollback.backup))\n"
                }
                if let kept = result.kept {
                    out += "left \(kept) in place\(result.reapplied == nil ? "" : " (put back)"): "
                        + "this boot came up with it, the boots before it failed\n"
                }
                if let retry = result.retry {
                    out += "retrying without \(retry.excluded.joined(separator: ", ")): applied \(retry.fix) (\(retry.strategy)), attempt \(retry.attempt)\n"
                }
                if let reset = result.bootCounterReset { out += "this boot came up: boot counter reset in \(reset)\n" }
                if let advice = result.advice { out += "\nWhat to do: \(advice)\n" }
            }
            for note in result.notes { out += "note: \(note)\n" }
            return out
        }
    }
}

/// The reboot for a fix that needs one, decided by the policy and, on the running system,
/// carried out (scheduled, or put to the people logged in as a wall message).
struct RebootReport: Encodable {
    var decision: String
    var scheduled: ScheduledReboot?
    /// The JSON event other front ends read (`{"event":"reboot-prompt",…}`).
    var prompt: RebootPrompt?
    var outcome: RebootAction.Outcome
    /// The local time's offset the times are shown in.
    var utcOffset: Int

    static func decide(_ request: RebootRequest, policy: RebootPolicy, clock: any Clock, root: SystemRoot) -> RebootReport {
        let now = clock.now()
        let decision = RebootPlanner.decide(request, policy: policy, now: now, utcOffset: clock.utcOffset(at: now))
        // Only this machine's own root is rebooted; an offline root belongs to another boot.
        let outcome = root.isLive
            ? RebootAction.carryOut(decision, scheduler: SystemRebootScheduler(), notifier: WallNotifier())
            : .notOnThisMachine
        switch decision {
        case .schedule(let reboot):
            return RebootReport(decision: "schedule", scheduled: reboot, prompt: nil, outcome: outcome,
                                utcOffset: clock.utcOffset(at: now))
        case .prompt(let prompt):
            return RebootReport(decision: "prompt", scheduled: nil, prompt: prompt, outcome: outcome,
                                utcOffset: clock.utcOffset(at: now))
        }
    }

    var text: String {
        var out = "\n"
        if let scheduled {
            out += "reboot at \(RebootPlanner.local(scheduled.at, utcOffset)): \(scheduled.reason)\n"
            out += "  cancel: \(RebootCommands.shell(scheduled.cancel))\n"
        }
        if let prompt { out += prompt.text }
        if outcome == .notOnThisMachine { out += "(an offline root: nothing scheduled on this machine)\n" }
        if outcome.status == .failed { out += "could not arrange the reboot: \(outcome.reason ?? "")\n" }
        return out
    }
}
