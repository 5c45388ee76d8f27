import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The real scheduler and notifier run commands that reboot the machine or write to every
/// terminal; here a recording runner stands for them (a reboot cannot run in a test).
@Suite("PolicyScheduler")
struct PolicySchedulerTests {
    final class Recorder: CommandRunner, @unchecked Sendable {
        private let lock = NSLock()
        private var calls: [[String]] = []
        let failing: String?

        init(failing: String? = nil) { self.failing = failing }

        var recorded: [[String]] { lock.withLock { calls } }

        func run(_ executable: String, _ arguments: [String]) throws(CommandError) -> CommandResult {
            lock.withLock { calls.append([executable] + arguments) }
            let fails = executable == failing
            return CommandResult(status: fails ? 1 : 0, standardOutput: [],
                                 standardError: fails ? Array("Failed to start transient timer unit\n".utf8) : [])
        }
    }

    static func decision(_ mode: RebootPolicy.Mode, now: Int64) throws -> RebootDecision {
        var config = Config()
        try config.set(section: "Reboot", key: "Policy", value: mode.rawValue)
        try config.set(section: "Reboot", key: "Urgency", value: "7")
        return RebootPlanner.decide(RebootRequest(fix: "fix-1", failureClass: .fstabInvalidEntry), policy: config.reboot, now: now)
    }

    static let saturdayNight = CivilTime(year: 2026, month: 11, day: 28, hour: 23).seconds

    @Test func automaticRunsShutdownWithTheNotice() throws {
        let recorder = Recorder()
        let decision = try Self.decision(.automatic, now: Self.saturdayNight)
        #expect(RebootAction.carryOut(decision, scheduler: SystemRebootScheduler(runner: recorder),
                                      notifier: WallNotifier(runner: recorder)) == .scheduled)
        #expect(recorder.recorded.count == 1)
        #expect(recorder.recorded.first?.prefix(3) == ["shutdown", "-r", "+5"])
    }

    /// Where `shutdown` cannot schedule (no D-Bus or logind on a minimal system: it exits 1,
    /// "Failed to connect to bus"), the same reboot goes through systemd's own timers.
    @Test func aShutdownThatCannotRunFallsBackToTimers() throws {
        let recorder = Recorder(failing: "shutdown")
        let now = Int64(Date().timeIntervalSince1970)
        let decision = try Self.decision(.automatic, now: now)
        guard case .schedule(let reboot) = decision else { Issue.record("not scheduled"); return }
        #expect(RebootAction.carryOut(decision, scheduler: SystemRebootScheduler(runner: recorder),
                                      notifier: WallNotifier(runner: recorder)) == .scheduled)
        let calls = recorder.recorded
        #expect(calls.first?.first == "shutdown")
        // The notice is due now: wall at once; the reboot on a timer at the same time shutdown had.
        #expect(calls.contains { $0 == ["wall", reboot.message] })
        let at = "--on-calendar=" + CivilTime(seconds: reboot.at).systemdCalendarUTC
        #expect(calls.last?.contains(at) == true && calls.last?.suffix(2) == ["systemctl", "reboot"], "\(calls)")
    }

    /// NoticeMinutes=0: the notice and the reboot job at once, through systemctl.
    @Test func aRebootWithoutNoticeIsAWallAndASystemctlJob() throws {
        let recorder = Recorder()
        var config = Config()
        try config.set(section: "Reboot", key: "Policy", value: "automatic")
        try config.set(section: "Reboot", key: "NoticeMinutes", value: "0")
        let decision = RebootPlanner.decide(RebootRequest(fix: "fix-1", failureClass: .fstabInvalidEntry),
                                            policy: config.reboot, now: Self.saturdayNight)
        #expect(RebootAction.carryOut(decision, scheduler: SystemRebootScheduler(runner: recorder),
                                      notifier: WallNotifier(runner: recorder)) == .scheduled)
        #expect(recorder.recorded.count == 2)
        #expect(recorder.recorded.first?.first == "wall")
        #expect(recorder.recorded.last == ["systemctl", "--no-block", "reboot"])
    }

    @Test func aWindowStopsEarlierTimersThenStartsTheNoticeAndTheReboot() throws {
        let recorder = Recorder()
        let decision = try Self.decision(.window, now: Self.saturdayNight)
        #expect(RebootAction.carryOut(decision, scheduler: SystemRebootScheduler(runner: recorder),
                                      notifier: WallNotifier(runner: recorder)) == .scheduled)
        let calls = recorder.recorded
        #expect(calls.count == 3)
        #expect(calls[0] == ["systemctl", "stop", "clarity-heal-reboot.timer", "clarity-heal-reboot-notice.timer"])
        #expect(calls[1].contains("--on-calendar=2026-11-29 01:55:00 UTC") && calls[1].contains("wall"))
        #expect(calls[2].contains("--on-calendar=2026-11-29 02:00:00 UTC") && calls[2].suffix(2) == ["systemctl", "reboot"])
    }

    @Test func aPromptGoesOutAsAWallMessage() throws {
        let recorder = Recorder()
        let decision = try Self.decision(.prompt, now: Self.saturdayNight)
        guard case .prompt(let prompt) = decision else {
            Issue.record("not a prompt")
            return
        }
        #expect(RebootAction.carryOut(decision, scheduler: SystemRebootScheduler(runner: recorder),
                                      notifier: WallNotifier(runner: recorder)) == .prompted)
        #expect(recorder.recorded == [["wall", prompt.wallMessage]])
    }

    @Test func aFailedCommandIsReportedWithItsOutput() throws {
        let recorder = Recorder(failing: "systemd-run")
        let decision = try Self.decision(.window, now: Self.saturdayNight)
        let outcome = RebootAction.carryOut(decision, scheduler: SystemRebootScheduler(runner: recorder),
                                            notifier: WallNotifier(runner: recorder))
        #expect(outcome.status == .failed)
        let reason = outcome.reason ?? ""
        #expect(reason.hasPrefix("cannot schedule the reboot: `systemd-run --unit=clarity-heal-reboot-notice"))
        #expect(reason.hasSuffix("exited 1: Failed to start transient timer unit"))
        // The reboot timer is not started after the notice failed.
        #expect(recorder.recorded.count == 2)
    }

    @Test func theSystemClockAgreesWithDate() throws {
        let clock = SystemClock()
        let date = Int64(try Tool.run("/bin/date", ["+%s"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(abs(clock.now() - date) <= 2)
        let offset = try Tool.run("/bin/date", ["+%z"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let sign = offset.hasPrefix("-") ? -1 : 1
        let digits = offset.dropFirst()
        let hours = Int(digits.prefix(2)) ?? 0, minutes = Int(digits.suffix(2)) ?? 0
        #expect(clock.utcOffset(at: clock.now()) == sign * (hours * 3600 + minutes * 60))
    }
}
