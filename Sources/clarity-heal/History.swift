import ArgumentParser
import HealCore
import HealSystem

extension ClarityHeal {
    struct History: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the ledger's records, newest first, one line each.",
            discussion: """
                Unreadable lines (a write cut short by a crash, garbage) are skipped and counted.
                Only reads. Exits 0, or 3 when the ledger cannot be read.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Show only the newest N records.", valueName: "n"))
        var limit: Int?

        func validate() throws {
            _ = try global.systemRoot()
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        /// `history --json`: the records newest first, and what could not be read.
        struct Document: Encodable {
            var records: [LedgerRecord]
            var skipped: [Ledger.Skipped]
            var tornTail: Bool
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            let pending = reportPendingRecovery(root)
            let reading: Ledger.Reading
            do {
                reading = try Ledger(root: root).records()
            } catch {
                throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
            }
            var records = reading.records
            if let limit, records.count > limit { records = Array(records.suffix(limit)) }
            if global.json {
                try printJSON(Document(records: records.reversed(), skipped: reading.skipped, tornTail: reading.tornTail),
                              notes: DocumentNotes(pendingRecovery: pending))
            } else {
                print(LedgerText.history(records, skipped: reading.skipped.count, tornTail: reading.tornTail), terminator: "")
            }
        }
    }
}
