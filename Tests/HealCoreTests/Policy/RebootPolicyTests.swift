import Foundation
import Testing
@testable import HealCore

@Suite("RebootPolicy")
struct RebootPolicyTests {
    /// 2026-11-… at hh:mm UTC. Sun 29 is the default window's day.
    static func at(_ day: Int, _ hour: Int, _ minute: Int = 0, month: Int = 11) -> Int64 {
        CivilTime(year: 2026, month: month, day: day, hour: hour, minute: minute).seconds
    }

    static func policy(_ mode: RebootPolicy.Mode, window: String = "Sun 02:00-04:00", urgency: String? = nil) throws -> RebootPolicy {
        var config = Config()
        try config.set(section: "Reboot", key: "Policy", value: mode.rawValue)
        try config.set(section: "Reboot", key: "Window", value: window)
        if let urgency { try config.set(section: "Reboot", key: "Urgency", value: urgency) }
        return config.reboot
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var mode: RebootPolicy.Mode
        var window = "Sun 02:00-04:00"
        var urgency: String?
        var failureClass: FailureClass
        var now: Int64
        var utcOffset = 0
        /// The reboot time, or nil for a prompt.
        var rebootAt: Int64?
        var reasonContains: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "automatic: now plus the notice", mode: .automatic, failureClass: .fstabInvalidEntry,
             now: at(30, 10), rebootAt: at(30, 10, 5), reasonContains: "Policy=automatic"),
        Case(name: "window this night", mode: .window, failureClass: .fstabUnresolvableSource,
             now: at(28, 23), rebootAt: at(29, 2), reasonContains: "opens Sun 2026-11-29 02:00 UTC, within the 1 day a critical fix may wait"),
        Case(name: "window open now", mode: .window, failureClass: .fstabUnresolvableSource,
             now: at(29, 3), rebootAt: at(29, 3, 5), reasonContains: "is open until Sun 2026-11-29 04:00 UTC"),
        Case(name: "window closing before the notice ends, next week beyond a critical urgency", mode: .window,
             failureClass: .initramfsMissing, now: at(29, 3, 58), rebootAt: nil,
             reasonContains: "opens Sun 2026-12-06 02:00 UTC, later than the 1 day a critical fix may wait"),
        Case(name: "window closing before the notice ends, next week within a moderate urgency", mode: .window,
             failureClass: .unitFailures, now: at(29, 3, 58), rebootAt: at(6, 2, month: 12),
             reasonContains: "within the 7 days a moderate fix may wait"),
        Case(name: "window next week beyond urgency: prompt", mode: .window, failureClass: .fstabInvalidEntry,
             now: at(30, 10), rebootAt: nil, reasonContains: "later than the 3 days a high fix may wait"),
        Case(name: "window next week within an urgency of 6 days", mode: .window, urgency: "6",
             failureClass: .fstabInvalidEntry, now: at(30, 10), rebootAt: at(6, 2, month: 12),
             reasonContains: "within the 6 days a high fix may wait"),
        Case(name: "urgency per severity: high:0 waits for nothing", mode: .window, urgency: "high:0",
             failureClass: .fstabInvalidEntry, now: at(29, 1), rebootAt: nil, reasonContains: "later than the 0 days"),
        Case(name: "weekday window from the weekend", mode: .window, window: "Mon..Fri 22:00-23:30",
             failureClass: .fstabUnresolvableSource, now: at(29, 23), rebootAt: at(30, 22), reasonContains: "opens Mon 2026-11-30 22:00 UTC"),
        Case(name: "weekday window 34 hours away, beyond a critical urgency", mode: .window, window: "Mon..Fri 22:00-23:30",
             failureClass: .fstabUnresolvableSource, now: at(29, 12), rebootAt: nil, reasonContains: "later than the 1 day a critical fix may wait"),
        Case(name: "window in local time UTC+01:00", mode: .window, failureClass: .fstabUnresolvableSource,
             now: at(28, 23), utcOffset: 3600, rebootAt: at(29, 1),
             reasonContains: "opens Sun 2026-11-29 02:00 UTC+01:00"),
        Case(name: "prompt", mode: .prompt, failureClass: .fstabUnresolvableSource, now: at(28, 23), rebootAt: nil,
             reasonContains: "Policy=prompt"),
    ]

    @Test(arguments: cases)
    func decides(_ test: Case) throws {
        let policy = try Self.policy(test.mode, window: test.window, urgency: test.urgency)
        let request = RebootRequest(fix: "fix-1", failureClass: test.failureClass)
        let decision = RebootPlanner.decide(request, policy: policy, now: test.now, utcOffset: test.utcOffset)
        switch decision {
        case .schedule(let reboot):
            #expect(reboot.at == test.rebootAt)
            #expect(reboot.reason.contains(test.reasonContains), "\(reboot.reason)")
            #expect(reboot.noticeAt == max(test.now, reboot.at - 300))
            #expect(reboot.message.contains("fix-1"))
        case .prompt(let prompt):
            #expect(test.rebootAt == nil, "prompted: \(prompt.reason)")
            #expect(prompt.reason.contains(test.reasonContains), "\(prompt.reason)")
            #expect(prompt.choices.map(\.id) == ["reboot-now", "schedule", "remind-later"])
        }
    }

    @Test func aCloseRebootUsesShutdownWithTheNotice() throws {
        let policy = try Self.policy(.automatic)
        guard case .schedule(let reboot) = RebootPlanner.decide(RebootRequest(fix: "fix-1", failureClass: .fstabInvalidEntry),
                                                                policy: policy, now: Self.at(30, 10)) else {
            Issue.record("not scheduled")
            return
        }
        #expect(reboot.commands == [["shutdown", "-r", "+5", reboot.message]])
        #expect(reboot.cancel == ["shutdown", "-c"])
        #expect(reboot.message.hasPrefix("clarity-heal: this machine reboots in 5 minutes (Mon 2026-11-30 10:05 UTC) to finish repair fix-1 (fstab-invalid-entry)."))
        #expect(reboot.message.hasSuffix("To cancel: shutdown -c"))
    }

    @Test func aLaterRebootUsesTwoTimers() throws {
        let policy = try Self.policy(.window)
        guard case .schedule(let reboot) = RebootPlanner.decide(RebootRequest(fix: "fix-1", failureClass: .fstabUnresolvableSource),
                                                                policy: policy, now: Self.at(28, 23)) else {
            Issue.record("not scheduled")
            return
        }
        #expect(reboot.noticeAt == Self.at(29, 1, 55))
        #expect(reboot.commands == [
            ["systemd-run", "--unit=clarity-heal-reboot-notice", "--on-calendar=2026-11-29 01:55:00 UTC",
             "--timer-property=AccuracySec=1s", "--", "wall", reboot.message],
            ["systemd-run", "--unit=clarity-heal-reboot", "--on-calendar=2026-11-29 02:00:00 UTC",
             "--timer-property=AccuracySec=1s", "--", "systemctl", "reboot"],
        ])
        #expect(reboot.cancel == ["systemctl", "stop", "clarity-heal-reboot.timer", "clarity-heal-reboot-notice.timer"])
    }

    @Test func promptOffersThreeChoicesOnConsoleWallAndJSON() throws {
        let policy = try Self.policy(.prompt)
        let now = Self.at(30, 10)
        guard case .prompt(let prompt) = RebootPlanner.decide(RebootRequest(fix: "fix-1", failureClass: .fstabInvalidEntry),
                                                              policy: policy, now: now) else {
            Issue.record("not a prompt")
            return
        }
        // Schedule suggests the next window; remind later is four hours on.
        #expect(prompt.choices[1].at == "2026-12-06T02:00:00Z")
        #expect(prompt.choices[2].at == "2026-11-30T14:00:00Z")
        #expect(prompt.choices[0].commands == [["systemctl", "reboot"]])
        #expect(prompt.choices[1].commands?.last?.suffix(2) == ["systemctl", "reboot"])

        let text = prompt.text
        #expect(text.contains("fix-1 (fstab-invalid-entry) is in place; it takes effect after a reboot."))
        #expect(text.contains("1) reboot now\n       systemctl reboot\n"))
        #expect(text.contains("2) schedule the reboot for Sun 2026-12-06 02:00 UTC\n"))
        #expect(text.contains(" '--on-calendar=2026-12-06 02:00:00 UTC' "))
        #expect(text.contains("3) remind me at Mon 2026-11-30 14:00 UTC\n"))
        #expect(prompt.wallMessage.hasPrefix("clarity-heal: repair fix-1 (fstab-invalid-entry) needs a reboot"))
        #expect(prompt.wallMessage.contains(" To reboot now: systemctl reboot. To schedule the reboot for Sun 2026-12-06 02:00 UTC: systemd-run"))

        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(prompt)) as? [String: Any]
        #expect(json?["event"] as? String == "reboot-prompt")
        #expect(json?["fix"] as? String == "fix-1")
        #expect(json?["class"] as? String == "fstab-invalid-entry")
        #expect(json?["severity"] as? String == "high")
        let choices = json?["choices"] as? [[String: Any]]
        #expect(choices?.compactMap { $0["id"] as? String } == ["reboot-now", "schedule", "remind-later"])
    }

    @Test func shellQuoting() {
        #expect(RebootCommands.shell(["wall", "it's 5"]) == "wall 'it'\\''s 5'")
        #expect(RebootCommands.shell(["systemctl", "stop", "a.timer"]) == "systemctl stop a.timer")
    }

    @Test func readsTheRebootSection() throws {
        let defaults = RebootPolicy()
        #expect(defaults.mode == .prompt)
        #expect(defaults.noticeMinutes == 5)
        #expect(defaults.window.description == "Sun 02:00-04:00")
        #expect(defaults.urgency.description == "critical:1 high:3 moderate:7")
        #expect(defaults.maxAttempts == 3)
        #expect(defaults.emergencySeconds == 60)

        var config = Config()
        for (key, value) in [("Policy", "Window"), ("NoticeMinutes", "15"), ("Window", "Sat,Sun 01:00-05:00"),
                             ("Urgency", "critical:0, moderate:14"), ("MaxAttempts", "2"),
                             ("EmergencySeconds", "0")] {
            try config.set(section: "Reboot", key: key, value: value)
        }
        #expect(config.reboot.mode == .window)
        #expect(config.reboot.noticeMinutes == 15)
        #expect(config.reboot.window.description == "Sat,Sun 01:00-05:00")
        #expect(config.reboot.urgency.description == "critical:0 high:3 moderate:14")
        #expect(config.reboot.maxAttempts == 2)
        #expect(config.reboot.emergencySeconds == 0)
        #expect(config.thresholds == Thresholds())
        try config.set(section: "Reboot", key: "Urgency", value: "2")
        #expect(config.reboot.urgency.description == "critical:2 high:2 moderate:2")
    }

    @Test(arguments: [
        ("Policy", "never"), ("NoticeMinutes", "-1"), ("NoticeMinutes", "soon"), ("Window", "Sun"),
        ("Urgency", "urgent"), ("Urgency", "critical:x"), ("Urgency", "low:3"), ("Urgency", ""), ("Urgency", "-2"),
        ("MaxAttempts", "0"), ("MaxAttempts", "many"), ("EmergencySeconds", "3601"), ("EmergencySeconds", "-1"),
    ])
    func refusesBadRebootSettings(key: String, value: String) {
        var config = Config()
        #expect(throws: Config.SettingError.self) { try config.set(section: "Reboot", key: key, value: value) }
        #expect(config == Config())
    }

    @Test func unknownRebootKey() {
        var config = Config()
        #expect(throws: Config.SettingError.unknownKey(section: "Reboot", key: "Polcy")) {
            try config.set(section: "Reboot", key: "Polcy", value: "prompt")
        }
    }
}
