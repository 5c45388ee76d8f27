import HealCore

/// The site's own checks of a boot (`/etc/clarity-heal/health.d/*`): what the machine must
/// do for its owner beyond booting — a database answering, a mount in place. The
/// validation boot in the microVM runs them (GuestProbe); `verify` runs them on the first
/// boot after a fix, so a fix that boots but breaks what the site needs is rolled back and
/// the next strategy tried.
///
/// Each executable runs with nothing on stdin and its output dropped, for at most
/// `seconds`; exit status 0 passes.
/// Only on the running system: an examined root's executables are never run.
public enum SiteChecks {
    public static let folder = GuestProbe.siteChecks
    public static let seconds = 60

    /// One check per executable, `site:NAME`; a file left out is a check `not-run` with
    /// why, so the site sees that its check did not run.
    public static func run(root: SystemRoot, runner: any CommandRunner, seconds: Int = seconds) -> [ValidationReport.Check] {
        let (executables, skipped) = SiteExecutables.list(folder, root: root)
        var checks: [ValidationReport.Check] = []
        for path in executables {
            let name = "site:" + String(path.split(separator: "/").last ?? "")
            let command = SiteExecutables.command(root.files.hostPath(path), seconds: seconds)
            do {
                let result = try runner.run(command[0], Array(command.dropFirst()))
                switch result.status {
                case 0:
                    checks.append(.init(name: name, verdict: .passed, detail: "exit 0"))
                case SiteExecutables.timedOut:
                    checks.append(.init(name: name, verdict: .failed, detail: "still running after \(seconds) s"))
                default:
                    checks.append(.init(name: name, verdict: .failed, detail: "exit \(result.status) (\(path))"))
                }
            } catch {
                checks.append(.init(name: name, verdict: .failed, detail: "\(error)"))
            }
        }
        for file in skipped {
            checks.append(.init(name: "site:" + file.name, verdict: .notRun, detail: file.reason))
        }
        return checks
    }
}
