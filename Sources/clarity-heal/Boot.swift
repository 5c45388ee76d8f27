import ArgumentParser
import HealCore
import HealSystem

extension ClarityHeal {
    struct Boot: ParsableCommand, WritingCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the fixes staged for this boot (run from the initramfs, before the root is used).",
            discussion: """
                Applies every fix under <root>/var/lib/clarity-heal/staged/, oldest first, with
                the same code as `apply --now` (checks, verified backup, journal), moves each to
                applied/, records it in the ledger and marks the boot as after a repair for
                `clarity-heal verify`. A fix that changed /boot asks for an immediate reboot
                ("reboot now" in the output). Runs as root, holding the root's lock (see --wait),
                and first finishes an apply or rollback a crash interrupted. Exits 0 when every
                staged fix was applied (or none was staged), 3 when one was refused (nothing of
                it written), 4 when one failed midway (the journal is finished by the next
                command that writes).
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var writing: WriteOptions

        func validate() throws {
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            let result = try holdingRoot(root) { recovered in
                var result: StagedBoot.Result
                do {
                    result = try StagedBoot(root: root, clock: ClarityHeal.clock).run()
                } catch {
                    throw CommandFailure(.needsPerson, "\(error)", status: ExitStatus.needsPerson)
                }
                result.recovered = result.recovered ?? recovered
                return result
            }
            if global.json { try printJSON(result) } else { print(Self.render(result), terminator: "") }
            if result.refused.contains(where: { !$0.leftRootUnchanged }) { throw ExitStatus.needsPerson }
            if !result.refused.isEmpty { throw ExitStatus.failedSafely }
        }

        static func render(_ result: StagedBoot.Result) -> String {
            // A recovery before the staged fixes was said on stderr already.
            var out = ""
            if result.applied.isEmpty && result.refused.isEmpty { out += "\(result.root): no staged fix\n" }
            for fix in result.applied {
                out += "applied \(fix.fix) (\(fix.failureClass.rawValue), \(fix.strategy))\n"
                out += "  backup \(fix.backup)\n  sha256 \(fix.backupSHA256)\n"
            }
            for fix in result.refused {
                out += "not applied \(fix.fix): \(fix.reason)\n"
            }
            if let flag = result.verifyPending {
                out += "this boot is verified after start: \(flag.fix), attempt \(flag.attempt)\n"
            }
            if result.rebootNow { out += "reboot now: the fix changed /boot, which this boot already loaded\n" }
            return out
        }
    }
}
