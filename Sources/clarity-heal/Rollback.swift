import ArgumentParser
import HealCore
import HealSystem

extension ClarityHeal {
    struct Rollback: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo an applied fix from its verified backup.",
            discussion: """
                Restores everything the fix replaced or removed and removes what it created,
                through the same journal as apply. Without FIX_ID, the last fix applied on the
                root. Exits 0 when rolled back (or already rolled back), 3 when there is nothing
                to roll back or the backup does not verify (nothing changed), 4 when a change
                failed midway.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The fix to roll back (default: the last applied).", valueName: "fix-id"))
        var fixID: String?

        func validate() throws {
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            do {
                let result = try Applier(root: root, clock: ClarityHeal.clock).rollback(fixID)
                if global.json { try printJSON(result) } else { print(Self.render(result), terminator: "") }
            } catch let error as Applier.Error {
                throw ExitStatus.reporting(error)
            }
        }

        static func render(_ result: RollbackResult) -> String {
            var out = ""
            if let recovered = result.recovered {
                out += recovered.sentence + "\n"
            }
            out += (result.status == .rolledBack ? "rolled back " : "already rolled back ") + result.fixID + "\n"
            for path in result.restored { out += "  restored \(path)\n" }
            for path in result.removed { out += "  removed  \(path)\n" }
            out += "from backup \(result.backup)\n  sha256 \(result.backupSHA256)\n"
            if result.reboot.needed { out += "reboot needed: \(result.reboot.paths.joined(separator: ", "))\n" }
            return out
        }
    }
}
