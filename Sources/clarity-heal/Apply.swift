import ArgumentParser
import HealCore
import HealSystem

extension ClarityHeal {
    struct Apply: ParsableCommand, WritingCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a validated fix package to the root, with a verified backup.",
            discussion: """
                Checks the package before any write (checksums, paths, links out of the root),
                backs up everything it replaces and verifies the backup, then changes files
                through a journal: a crash at any point ends with every file in its old or its
                new version on the next run. --next-boot stages the package for the initramfs
                instead. Runs as root, holding the root's lock (see --wait), and first finishes
                an apply or rollback a crash interrupted. Exits 0 when applied or staged, 3 when
                refused or nothing on the root was changed, 4 when a change failed midway (the
                journal is finished by the next apply, rollback, boot or verify).
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var writing: WriteOptions

        @Argument(help: ArgumentHelp("A fix package folder, or the id of a staged or stored fix.", valueName: "fix"))
        var fix: String

        @Flag(name: .long, help: "Apply now (the default).")
        var now = false

        @Flag(name: .long, help: "Stage the package for the next boot instead.")
        var nextBoot = false

        @Option(name: .long, help: ArgumentHelp("For a filesystem repair: the device to repair when it is no longer at the path the package names (it must carry the same UUID).", valueName: "device"))
        var device: String?

        func validate() throws {
            if now && nextBoot { throw ValidationError("give either --now or --next-boot, not both") }
            if device != nil && nextBoot { throw ValidationError("--device applies now; it cannot be staged with --next-boot") }
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let root = try global.systemRoot()
            try holdingRoot(root) { recovered in
                let package = try CommandFailure.applying(on: root) { () throws(Applier.Error) in
                    try Applier.openPackage(fix, root: root)
                }
                if nextBoot {
                    let staged = try CommandFailure.applying(on: root) { () throws(Applier.Error) in
                        try Applier.stage(package: package, root: root, clock: ClarityHeal.clock)
                    }
                    if global.json { try printJSON(staged) } else {
                        print("staged \(staged.fixID) at \(staged.directory); it is applied at the next boot")
                    }
                    return
                }
                var result = try CommandFailure.applying(on: root) { () throws(Applier.Error) in
                    try Applier(root: root, clock: ClarityHeal.clock).apply(package, device: device)
                }
                result.recovered = result.recovered ?? recovered
                if result.status == .applied && result.reboot.needed {
                    // The fix takes effect at the next boot: that boot verifies it.
                    do {
                        try VerifyFlag.markNextBoot(after: package.manifest, root: root)
                    } catch {
                        printError("clarity-heal: applied, but cannot mark the next boot for verification: \(error)")
                    }
                }
                if global.json { try printJSON(result) } else { print(Self.render(result), terminator: "") }
            }
        }

        static func render(_ result: ApplyResult) -> String {
            // A recovery before the apply was said on stderr already.
            var out = ""
            let verb = result.status == .applied ? "applied" : "already applied"
            out += "\(verb) \(result.fixID) (\(result.failureClass.rawValue))\n"
            for change in result.changes {
                out += "  \(change.action.padding(6)) \(change.path) (was \(change.before))\n"
            }
            out += "backup: \(result.backup)\n  sha256 \(result.backupSHA256)\n"
            if result.reboot.needed {
                out += "reboot needed: \(result.reboot.paths.joined(separator: ", "))\n"
            } else {
                out += "no reboot needed\n"
            }
            return out
        }
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
