import ArgumentParser
import Glibc
import HealCore
import HealSystem

@main
struct ClarityHeal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clarity-heal",
        abstract: "Detect, diagnose and repair Linux boot failures.",
        discussion: """
            Exit status: 0 healthy or success, 1 findings or repair needed, 2 usage error,
            3 failed safely (nothing changed), 4 needs a person.
            With --json, stdout carries exactly one JSON document, also when a command
            fails: {"error": {"kind": …, "message": …, "exitStatus": …}}.
            """,
        version: Product.version,
        subcommands: [Detect.self, Diagnose.self, Repair.self, Apply.self, Rollback.self,
                      Boot.self, Verify.self, Status.self, History.self, Report.self, Guest.self,
                      HealCommand.self, Emergency.self, ConfigCommand.self]
    )

    /// The one wall clock of a run: every command hands it down to what stamps time (the
    /// ledger, fix ids, the verify flag, the reboot policy); the libraries never read the
    /// time themselves.
    static let clock: any Clock = SystemClock()

    /// Parses and runs the command; every way it ends goes through `CommandFailure.exit`,
    /// which maps errors to the contract's statuses (ArgumentParser's EX_USAGE, 64, to 2)
    /// and prints the error document for `--json`.
    static func main() async {
        // The template guest's init (PID 1 as /init): no arguments to parse, never returns.
        // One getpid() before anything else, so `detect --quick` pays nothing for it.
        if GuestAgent.isGuestInit { GuestAgent.run() }
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let quick = QuickDetect(arguments: arguments) {
            quick.run()
        }
        // SIGTERM, SIGINT and SIGHUP undo the mounts and scratch folders of a repair before
        // the process exits (128 + signal); installed before any other thread starts.
        SignalTeardown.install()
        let json = wantsJSON(arguments)
        var writes = false
        do {
            var command = try parseAsRoot(arguments)
            writes = command is WritingCommand
            // Every subcommand runs synchronously; the root itself answers with its help.
            try command.run()
            Glibc.exit(ExitStatus.healthy.rawValue)
        } catch {
            CommandFailure.exit(error, json: json, writes: writes)
        }
    }

    /// Whether the command line asks for JSON (`--json`, or `report --format json`), read
    /// before parsing so that a usage error still gets its document.
    static func wantsJSON(_ arguments: [String]) -> Bool {
        var previous = ""
        for argument in arguments {
            if argument == "--" { return false }
            if argument == "--json" || argument == "--format=json" || (previous == "--format" && argument == "json") {
                return true
            }
            previous = argument
        }
        return false
    }
}
