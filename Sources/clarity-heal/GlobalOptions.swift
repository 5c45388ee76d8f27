import ArgumentParser
import HealSystem
import Logging

/// Options every command shares (docs/cli.md, "Options every command takes").
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The root of the system to examine.", valueName: "dir"))
    var root: String = "/"

    @Flag(name: .long, help: "Print one JSON document on stdout; diagnostics go to stderr.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: Logger.Level = .warning

    /// Opens the root, turning a bad path into a usage error that names it.
    func systemRoot() throws -> SystemRoot {
        do {
            return try SystemRoot(root)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Sends log messages to stderr at the chosen level. Only the executable does this;
    /// the libraries take a `Logger` and never choose where it writes.
    func bootstrapLogging() {
        Self.bootstrapLogging(level: logLevel)
    }

    static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A command that examines or changes a root (`--root`).
protocol RootedCommand {
    var global: GlobalOptions { get }
}
