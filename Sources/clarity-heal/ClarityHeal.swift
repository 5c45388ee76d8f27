import ArgumentParser
import Glibc
import HealSystem

@main
struct ClarityHeal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clarity-heal",
        abstract: "Detect, diagnose and repair Linux boot failures.",
        discussion: """
            Exit status: 0 healthy or success, 1 findings or repair needed, 2 usage error,
            3 failed safely (nothing changed), 4 needs a person.
            """,
        subcommands: [Detect.self, Diagnose.self, Repair.self, Apply.self, Rollback.self,
                      Boot.self, Verify.self, Status.self, History.self, Report.self]
    )

    /// Every command first finishes (or undoes) an apply or rollback a crash interrupted, so
    /// it never looks at a root with half-replaced files (DESIGN.md §7).
    static func finishInterruptedApply(before command: ParsableCommand) throws {
        guard let rooted = command as? RootedCommand, let root = try? SystemRoot(rooted.global.root) else { return }
        try finishInterruptedApply(root: root)
    }

    static func finishInterruptedApply(root: SystemRoot) throws {
        do {
            if let report = try Applier.recover(root: root) {
                printError("clarity-heal: " + report.sentence)
            }
        } catch {
            printError("clarity-heal: \(error)")
            throw ExitStatus.failedSafely
        }
    }

    /// Runs the command, mapping ArgumentParser's usage status (EX_USAGE, 64) to the
    /// contract's 2 (DESIGN.md §5).
    static func main() async {
        if let quick = QuickDetect(arguments: CommandLine.arguments.dropFirst()) {
            quick.run()
        }
        // SIGTERM, SIGINT and SIGHUP undo the mounts and scratch folders of a repair before
        // the process exits (128 + signal); installed before any other thread starts.
        SignalTeardown.install()
        do {
            var command = try parseAsRoot()
            try finishInterruptedApply(before: command)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code.rawValue == 64 {
                printError(fullMessage(for: error))
                Glibc.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}
