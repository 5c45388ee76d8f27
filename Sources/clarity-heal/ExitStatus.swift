import ArgumentParser
import HealSystem

/// The exit statuses (docs/cli.md, "Exit status"), in one place.
enum ExitStatus {
    static let healthy = ExitCode(0)
    static let findings = ExitCode(1)
    static let usage = ExitCode(2)
    static let failedSafely = ExitCode(3)
    static let needsPerson = ExitCode(4)

    /// An apply or rollback that failed: says why on stderr, then 3 when the target is as it
    /// was, 4 when it was left changed midway and a person must look.
    static func reporting(_ error: Applier.Error) -> ExitCode {
        printError("clarity-heal: \(error)")
        return error.leftTargetUnchanged ? failedSafely : needsPerson
    }
}
