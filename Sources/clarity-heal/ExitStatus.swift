import ArgumentParser
import Glibc
import HealSystem

/// The exit statuses of the command-line contract: 0 healthy or success, 1 findings or
/// repair needed, 2 usage, 3 failed safely (nothing changed), 4 needs a person.
enum ExitStatus {
    static let healthy = ExitCode(0)
    static let findings = ExitCode(1)
    static let usage = ExitCode(2)
    static let failedSafely = ExitCode(3)
    static let needsPerson = ExitCode(4)
}

/// Why a command stopped before it printed its result: the message, the status it exits
/// with, and a stable kind for programs reading `--json`. A command throws this (or an
/// error `CommandFailure.init(_:writes:)` maps); `CommandFailure.exit` is the one place
/// that prints it and ends the process.
///
/// A command that printed its result and only sets the status throws a bare `ExitCode`
/// instead (findings, a fix that needs a person).
struct CommandFailure: Error, CustomStringConvertible {
    enum Kind: String, Encodable {
        /// A bad command line: exit 2.
        case usage
        /// A file the command needs (a knowledge file) is unusable: exit 2.
        case config
        /// A command that writes was run by another user than root: exit 3.
        case needsRoot = "needs-root"
        /// Another clarity-heal held the root's lock for the whole wait: exit 3.
        case busy
        /// A check refused the request before anything was written: exit 3.
        case refused
        /// The fix id names nothing on the root: exit 3.
        case notFound = "not-found"
        /// Something could not be read or written; nothing was changed: exit 3.
        case failed
        /// A change stopped midway; the next command that writes finishes it: exit 4.
        case interrupted
        /// An interrupted change cannot be finished: exit 4.
        case recovery
        /// The root may have changed and the run could not finish: exit 4.
        case needsPerson = "needs-person"
    }

    var kind: Kind
    var message: String
    var status: ExitCode

    init(_ kind: Kind, _ message: String, status: ExitCode) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    var description: String { message }

    /// Maps an error no command turned into a `CommandFailure`: argument errors are usage
    /// errors; anything else failed, safely for a command that only reads, while one that
    /// writes cannot promise that.
    init(_ error: any Error, writes: Bool) {
        switch error {
        case let failure as CommandFailure:
            self = failure
        case let error as RootLock.Error:
            if case .busy = error {
                self.init(.busy, "\(error)", status: ExitStatus.failedSafely)
            } else {
                self.init(.failed, "\(error)", status: ExitStatus.failedSafely)
            }
        case let status as ExitCode:
            self.init(.failed, "stopped with status \(status.rawValue)", status: status)
        default:
            if ClarityHeal.exitCode(for: error).rawValue == 64 {
                self.init(.usage, ClarityHeal.message(for: error), status: ExitStatus.usage)
            } else {
                if writes {
                    self.init(.needsPerson, "\(error)", status: ExitStatus.needsPerson)
                } else {
                    self.init(.failed, "\(error)", status: ExitStatus.failedSafely)
                }
            }
        }
    }

    /// An apply, rollback or staging that failed. Whether the root changed is read from
    /// what is left on it, not guessed from the error: with no journal (or one that never
    /// got past `prepare`) no file of the root was touched, so the run failed safely (3);
    /// a journal past `begin` means a change stopped midway (4), which the next command
    /// that writes finishes.
    init(_ error: Applier.Error, root: SystemRoot) {
        switch error {
        case .refused, .backup, .notApplied, .nothingApplied, .untrustedState:
            self.init(.refused, "\(error)", status: ExitStatus.failedSafely)
        case .recovery:
            self.init(.recovery, "\(error); a person must look at \(root.host(StateDirectory.path + ApplyLayout.journal))",
                      status: ExitStatus.needsPerson)
        case .io:
            let pending = Applier(root: root).pendingRecovery()
            switch pending?.action {
            case nil, .discard?, .remove?:
                let after = pending.map { "; \($0.sentence)" } ?? ""
                self.init(.failed, "\(error); nothing on \(root) was changed" + after, status: ExitStatus.failedSafely)
            case .rollForward?, .undo?, .close?, .unreadable?:
                self.init(.interrupted, "\(error); \(pending?.sentence ?? "")", status: ExitStatus.needsPerson)
            }
        }
    }

    /// Runs one step of an apply, rollback or staging on `root`, its error mapped by
    /// `init(_:root:)`.
    static func applying<T>(on root: SystemRoot, _ step: () throws(Applier.Error) -> T) throws(CommandFailure) -> T {
        do {
            return try step()
        } catch {
            throw CommandFailure(error, root: root)
        }
    }

    /// `{"error": {"kind": …, "message": …, "exitStatus": …}}`: the one document a
    /// `--json` run prints when it stops on an error.
    struct Document: Encodable {
        struct Body: Encodable {
            var kind: Kind
            var message: String
            var exitStatus: Int32
        }

        var error: Body
    }

    /// Prints `error` and exits with its status: a line on stderr (with the usage for a
    /// usage error) and, when `json` asks for it and no document was printed yet, the error
    /// document on stdout. `--help` goes to ArgumentParser, which prints it.
    static func exit(_ error: any Error, json: Bool, writes: Bool) -> Never {
        // A bare status follows a printed result; with --json and no document printed
        // (which no command does on purpose), the error document below still goes out.
        if let status = error as? ExitCode, status == .success || !json || Output.documentPrinted {
            Glibc.exit(status.rawValue)
        }
        // `--help` and the like: ArgumentParser prints them (asked only for errors of its
        // own, so the boot path's statuses never wake it).
        let ours = error is CommandFailure || error is ExitCode || error is RootLock.Error
        if !ours && ClarityHeal.exitCode(for: error) == .success {
            ClarityHeal.exit(withError: error)
        }
        let failure = CommandFailure(error, writes: writes)
        if failure.kind == .usage && !(error is CommandFailure) {
            printError(ClarityHeal.fullMessage(for: error))
        } else {
            printError("clarity-heal: \(failure.message)")
        }
        if json && !Output.documentPrinted {
            let document = Document(error: .init(kind: failure.kind, message: failure.message,
                                                 exitStatus: failure.status.rawValue))
            // An error document always encodes; a failed write of stdout has nowhere to go.
            try? printJSON(document)
        }
        Glibc.exit(failure.status.rawValue)
    }
}
