import Glibc
import HealCore

/// Something that can reboot the machine later: behind a protocol because a test cannot
/// reboot.
public protocol RebootScheduler: Sendable {
    /// Arranges `reboot` (its time, notice and commands).
    /// - Throws: `RebootSchedulerError` when the reboot could not be arranged.
    func schedule(_ reboot: ScheduledReboot) throws(RebootSchedulerError)
}

public enum RebootSchedulerError: Error, Sendable, Equatable, CustomStringConvertible {
    case failed(command: String, status: Int32, output: String)
    case cannotRun(String)

    public var description: String {
        switch self {
        case .failed(let command, let status, let output):
            "cannot schedule the reboot: `\(command)` exited \(status)" + (output.isEmpty ? "" : ": \(output)")
        case .cannotRun(let reason): "cannot schedule the reboot: \(reason)"
        }
    }
}

/// The real scheduler: runs the commands `RebootCommands` chose — `shutdown -r +M MESSAGE`
/// for a reboot within the notice, or `systemd-run --on-calendar` timers (a `wall` notice
/// and `systemctl reboot`) for a later one. Earlier clarity-heal timers are stopped first,
/// so the last decision wins. Never run by the tests: it reboots the machine.
public struct SystemRebootScheduler: RebootScheduler {
    public var runner: any CommandRunner

    public init(runner: any CommandRunner = SpawnCommandRunner()) {
        self.runner = runner
    }

    public func schedule(_ reboot: ScheduledReboot) throws(RebootSchedulerError) {
        do {
            try run(reboot.commands)
        } catch {
            // `shutdown -r +M` asks logind over D-Bus; a minimal system runs neither. The
            // same reboot through systemd's own timers.
            guard reboot.commands.first?.first == "shutdown" else { throw error }
            let now = Int64(time(nil))
            try run(RebootCommands.timers(at: max(reboot.at, now + 1), noticeAt: reboot.noticeAt, now: now,
                                          message: reboot.message).commands)
        }
    }

    private func run(_ commands: [[String]]) throws(RebootSchedulerError) {
        if commands.first?.first == "systemd-run" {
            // A unit name still taken by an earlier schedule would make systemd-run fail.
            // Stopping a unit that is not loaded is not an error worth stopping for.
            _ = try? runner.run("systemctl", ["stop", RebootCommands.rebootUnit + ".timer", RebootCommands.noticeUnit + ".timer"])
        }
        for command in commands {
            guard let executable = command.first else { continue }
            let result: CommandResult
            do {
                result = try runner.run(executable, Array(command.dropFirst()))
            } catch {
                throw .cannotRun(error.description)
            }
            guard result.status == 0 else {
                throw .failed(command: RebootCommands.shell(command), status: result.status,
                              output: (result.errorOutput.isEmpty ? result.output : result.errorOutput).trimmingNewlines)
            }
        }
    }
}

/// Tells the people logged in: behind a protocol for the same reason as the scheduler.
public protocol Notifier: Sendable {
    func notify(_ message: String) throws(NotifierError)
}

public enum NotifierError: Error, Sendable, Equatable, CustomStringConvertible {
    case failed(status: Int32, output: String)
    case cannotRun(String)

    public var description: String {
        switch self {
        case .failed(let status, let output): "cannot send the wall message: wall exited \(status): \(output)"
        case .cannotRun(let reason): "cannot send the wall message: \(reason)"
        }
    }
}

/// The real notifier: util-linux `wall MESSAGE` writes to every logged-in terminal.
public struct WallNotifier: Notifier {
    public var runner: any CommandRunner

    public init(runner: any CommandRunner = SpawnCommandRunner()) {
        self.runner = runner
    }

    public func notify(_ message: String) throws(NotifierError) {
        let result: CommandResult
        do {
            result = try runner.run("wall", [message])
        } catch {
            throw .cannotRun(error.description)
        }
        guard result.status == 0 else { throw .failed(status: result.status, output: result.errorOutput.trimmingNewlines) }
    }
}

/// Carrying a reboot decision out: schedule it, or put the question to the people logged
/// in (the console text and the JSON event are the caller's output).
public enum RebootAction {
    /// What became of a decision.
    public struct Outcome: Sendable, Equatable, Codable {
        public enum Status: String, Sendable, Equatable, Codable {
            case scheduled
            case prompted
            /// Not carried out: an offline root (`--root`), whose machine is not this one.
            case notOnThisMachine = "not-on-this-machine"
            case failed
        }

        public var status: Status
        /// Why it failed.
        public var reason: String?

        public init(_ status: Status, reason: String? = nil) {
            self.status = status
            self.reason = reason
        }

        public static let scheduled = Outcome(.scheduled)
        public static let prompted = Outcome(.prompted)
        public static let notOnThisMachine = Outcome(.notOnThisMachine)
        public static func failed(_ reason: String) -> Outcome { Outcome(.failed, reason: reason) }
    }

    public static func carryOut(_ decision: RebootDecision, scheduler: any RebootScheduler,
                                notifier: any Notifier) -> Outcome {
        switch decision {
        case .schedule(let reboot):
            do {
                try scheduler.schedule(reboot)
                return .scheduled
            } catch {
                return .failed(error.description)
            }
        case .prompt(let prompt):
            do {
                try notifier.notify(prompt.wallMessage)
                return .prompted
            } catch {
                return .failed(error.description)
            }
        }
    }
}

extension String {
    /// Without the trailing newlines a command prints.
    var trimmingNewlines: String {
        var text = Substring(self)
        while text.last == "\n" { text = text.dropLast() }
        return String(text)
    }
}
