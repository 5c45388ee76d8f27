import ArgumentParser
import Glibc

@main
struct ClarityHeal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clarity-heal",
        abstract: "Detect, diagnose and repair Linux boot failures.",
        discussion: """
            Exit status: 0 healthy or success, 1 findings or repair needed, 2 usage error,
            3 failed safely (nothing changed), 4 needs a person.
            """,
        subcommands: [Detect.self, Diagnose.self, Repair.self]
    )

    /// Runs the command, mapping ArgumentParser's usage status (EX_USAGE, 64) to the
    /// contract's 2 (DESIGN.md §5).
    static func main() async {
        do {
            var command = try parseAsRoot()
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
