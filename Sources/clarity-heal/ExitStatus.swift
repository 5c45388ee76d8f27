import ArgumentParser

/// The exit statuses of DESIGN.md §5, in one place.
enum ExitStatus {
    static let healthy = ExitCode(0)
    static let findings = ExitCode(1)
    static let usage = ExitCode(2)
    static let failedSafely = ExitCode(3)
    static let needsPerson = ExitCode(4)
}
