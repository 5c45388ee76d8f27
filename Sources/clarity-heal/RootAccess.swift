import ArgumentParser
import Glibc
import HealSystem

/// The option of every command that writes to a root.
struct WriteOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Seconds to wait while another clarity-heal changes the same root, then give up with status 3.",
        valueName: "seconds"))
    var wait: Double = 30

    func validate() throws {
        guard wait.isFinite, (0...86_400).contains(wait) else {
            throw ValidationError("--wait must be a number of seconds from 0 to 86400")
        }
    }
}

/// A command that writes to its root: `apply`, `rollback`, `boot`, `verify`. It runs as
/// root, holds the root's lock for its whole run, and finishes an apply or rollback a crash
/// interrupted before it does anything else. Every other command only reads: it reports an
/// interrupted operation (`reportPendingRecovery`) and leaves it alone.
protocol WritingCommand: RootedCommand {
    var writing: WriteOptions { get }
}

extension WritingCommand {
    /// Runs `body` with the root held: refused for another user than root, then the lock
    /// (waiting up to `--wait`), then recovery, whose report `body` receives.
    func holdingRoot<Result>(_ root: SystemRoot, _ body: (RecoveryReport?) throws -> Result) throws -> Result {
        let name = String(describing: Self.self).lowercased()
        guard geteuid() == 0 else {
            throw CommandFailure(.needsRoot, "clarity-heal \(name) changes files owned by root and must run as root "
                                 + "(it runs as uid \(geteuid())); nothing was changed: run it again as root, e.g. with sudo",
                                 status: ExitStatus.failedSafely)
        }
        let lock = try RootLock(root: root, waitingUpTo: writing.wait)
        let result: Result
        do {
            result = try body(try Self.recover(root))
        } catch {
            lock.release()
            throw error
        }
        lock.release()
        return result
    }

    /// Finishes or discards an apply or rollback a crash interrupted, so the command never
    /// works on a root with half-replaced files; says so on stderr.
    static func recover(_ root: SystemRoot) throws -> RecoveryReport? {
        do {
            let report = try Applier.recover(root: root, clock: ClarityHeal.clock)
            if let report { printError("clarity-heal: " + report.sentence) }
            return report
        } catch {
            // A state folder that is not clarity-heal's own was neither read nor written.
            if case .untrustedState = error { throw CommandFailure(error, root: root) }
            throw CommandFailure(.recovery, "cannot finish the interrupted operation first: \(error); "
                                 + "a person must look at \(root.host(StateDirectory.path + ApplyLayout.journal))",
                                 status: ExitStatus.needsPerson)
        }
    }
}

/// Says on stderr that an interrupted apply or rollback waits on `root`, for a command that
/// only reads; returns it for the command's document. Changes nothing.
func reportPendingRecovery(_ root: SystemRoot) -> PendingRecovery? {
    let pending = Applier(root: root).pendingRecovery()
    if let pending { printError("clarity-heal: " + pending.sentence) }
    return pending
}
