import ArgumentParser
import HealCore
import HealSystem

extension ClarityHeal {
    struct Status: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the machine's repair state from the ledger.",
            discussion: """
                Reads <root>/var/lib/clarity-heal: the ledger, the staged/ and applied/ folders and
                an apply journal a crash left behind. Shows the last detection, every fix with
                its verification state (pending, good, failed, rolled back), fixes staged for the
                next boot, and an interrupted apply. Only reads.
                Exits 0 when nothing is in progress, 1 when repair work is under way (a staged or
                unverified fix, an interrupted apply), 3 when the ledger cannot be read, 4 when
                clarity-heal gave up and a person must act.
                """
        )

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            let pending = reportPendingRecovery(root)
            let state: RepairState
            do {
                state = try Ledger(root: root).state()
            } catch {
                throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
            }
            if global.json {
                try printJSON(state, notes: DocumentNotes(pendingRecovery: pending))
            } else {
                print(LedgerText.status(state), terminator: "")
            }
            switch state.attention {
            case .none: return
            case .inProgress: throw ExitStatus.findings
            case .needsPerson: throw ExitStatus.needsPerson
            }
        }
    }
}
