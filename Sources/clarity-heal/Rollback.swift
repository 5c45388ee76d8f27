import ArgumentParser
import HealCore
import HealSystem

extension ClarityHeal {
    struct Rollback: ParsableCommand, WritingCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo an applied fix from its verified backup.",
            discussion: """
                Restores everything the fix replaced or removed and removes what it created,
                through the same journal as apply. Without FIX_ID, the last fix applied on the
                root. Runs as root, holding the root's lock (see --wait), and first finishes an
                apply or rollback a crash interrupted. Exits 0 when rolled back (or already
                rolled back), 3 when there is nothing to roll back, FIX_ID names no fix, or the
                backup does not verify (nothing changed), 4 when a change failed midway.
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var writing: WriteOptions

        @Argument(help: ArgumentHelp("The fix to roll back (default: the last applied).", valueName: "fix-id"))
        var fixID: String?

        func validate() throws {
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            try holdingRoot(root) { recovered in
                var result = try CommandFailure.applying(on: root) { () throws(Applier.Error) in
                    try Applier(root: root, clock: ClarityHeal.clock).rollback(fixID)
                }
                result.recovered = result.recovered ?? recovered
                if global.json { try printJSON(result) } else { print(Self.render(result), terminator: "") }
            }
        }

        static func render(_ result: RollbackResult) -> String {
            // A recovery before the rollback was said on stderr already.
            var out = ""
            out += (result.status == .rolledBack ? "rolled back " : "already rolled back ") + result.fixID + "\n"
            for path in result.restored { out += "  restored \(path)\n" }
            for path in result.removed { out += "  removed  \(path)\n" }
            out += "from backup \(result.backup)\n  sha256 \(result.backupSHA256)\n"
            if result.reboot.needed { out += "reboot needed: \(result.reboot.paths.joined(separator: ", "))\n" }
            return out
        }
    }
}
