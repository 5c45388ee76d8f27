import ArgumentParser
import HealCore
import HealSystem

extension ClarityHeal {
    struct Report: ParsableCommand, RootedCommand {
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case md, json, html
        }

        static let configuration = CommandConfiguration(
            abstract: "Report on one fix: timeline, evidence, diagnosis, strategies, validation, backup, verdict.",
            discussion: """
                Reads the fix's ledger records and, when it is still on the root, its package under
                <root>/var/lib/clarity-heal/applied/FIX_ID or staged/FIX_ID.
                Only reads. Exits 0, 3 when no record or package names FIX_ID (as `rollback` does for
                an unknown fix) or when the ledger cannot be read.
                """
        )

        @Argument(help: ArgumentHelp("The fix id, as `status` and `history` show it (fix-…).", valueName: "fix-id"))
        var fixID: String

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "md (Markdown), json, or html (one self-contained page, printable); --json is the same as --format json.")
        var format: Format = .md

        func validate() throws {
            _ = try global.systemRoot()
            if fixID.isEmpty || fixID.contains("/") {
                throw ValidationError("\(fixID.isEmpty ? "an empty fix id" : fixID) is not a fix id")
            }
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            let pending = reportPendingRecovery(root)
            let report: FixReport?
            do {
                report = try Ledger(root: root).report(fix: fixID)
            } catch {
                throw CommandFailure(.failed, "\(error)", status: ExitStatus.failedSafely)
            }
            guard let report else {
                throw CommandFailure(.notFound, "no fix \(fixID) on \(root): neither the ledger nor a fix package names it "
                                     + "(see `clarity-heal history`)", status: ExitStatus.failedSafely)
            }
            if global.json || format == .json {
                try printJSON(report, notes: DocumentNotes(pendingRecovery: pending))
            } else if format == .html {
                print(ReportHTML.render(report), terminator: "")
            } else {
                print(LedgerText.markdown(report), terminator: "")
            }
        }
    }
}
