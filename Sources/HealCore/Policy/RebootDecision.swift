/// A fix in place that needs a reboot to take effect.
public struct RebootRequest: Sendable, Hashable, Codable {
    public var fix: String
    public var failureClass: FailureClass
    public var severity: Severity

    public init(fix: String, failureClass: FailureClass, severity: Severity? = nil) {
        self.fix = fix
        self.failureClass = failureClass
        self.severity = severity ?? failureClass.defaultSeverity
    }

    enum CodingKeys: String, CodingKey { case fix, failureClass = "class", severity }
}

/// A reboot the policy scheduled, and how it is carried out.
public struct ScheduledReboot: Sendable, Hashable, Codable {
    public var fix: String
    /// When the machine reboots, seconds since the epoch.
    public var at: Int64
    /// When the notice goes out (`at` minus the notice, never before the decision).
    public var noticeAt: Int64
    public var reason: String
    /// The notice users see (wall, `shutdown`'s broadcast).
    public var message: String
    /// The commands that schedule it, in order (`RebootCommands`).
    public var commands: [[String]]
    /// The command that cancels it.
    public var cancel: [String]
}

/// The question put to a person under `Policy=prompt` (or a window too far away): the
/// console text, the wall message and, encoded, the JSON event other front ends read:
///
/// ```
///   {"event":"reboot-prompt","fix":"fix-…","class":"fstab-invalid-entry","severity":"high",
///    "reason":"…","choices":[
///      {"id":"reboot-now","label":"reboot now","command":["systemctl","reboot"]},
///      {"id":"schedule","label":"…","at":"2026-12-06T02:00:00Z","command":[…]},
///      {"id":"remind-later","label":"…","at":"2026-11-30T02:38:25Z"}]}
/// ```
public struct RebootPrompt: Sendable, Hashable, Codable {
    public struct Choice: Sendable, Hashable, Codable {
        /// `reboot-now`, `schedule` or `remind-later`.
        public var id: String
        public var label: String
        /// For `schedule` and `remind-later`: when (RFC 3339, UTC).
        public var at: String?
        /// What carries the choice out, when a command does.
        public var commands: [[String]]?
    }

    public var event = "reboot-prompt"
    public var fix: String
    public var failureClass: FailureClass
    public var severity: Severity
    public var reason: String
    public var choices: [Choice]

    enum CodingKeys: String, CodingKey { case event, fix, failureClass = "class", severity, reason, choices }

    /// For the console: what happened, why a person is asked, and the three choices with
    /// the commands behind them.
    public var text: String {
        var out = "\(fix) (\(failureClass.rawValue)) is in place; it takes effect after a reboot.\n"
        out += reason + "\n"
        for (number, choice) in choices.enumerated() {
            out += "  \(number + 1)) \(choice.label)\n"
            for command in choice.commands ?? [] {
                out += "       " + RebootCommands.shell(command) + "\n"
            }
        }
        return out
    }

    /// For `wall`: one short paragraph.
    public var wallMessage: String {
        var text = "clarity-heal: repair \(fix) (\(failureClass.rawValue)) needs a reboot to take effect. " + reason
        for choice in choices {
            guard let commands = choice.commands, !commands.isEmpty else { continue }
            text += " To \(choice.label): " + commands.map(RebootCommands.shell).joined(separator: "; ") + "."
        }
        return text
    }
}

/// What the policy decided.
public enum RebootDecision: Sendable, Hashable {
    case schedule(ScheduledReboot)
    case prompt(RebootPrompt)
}

/// The commands that reboot a machine (systemd's, run by `SystemRebootScheduler` and shown
/// to a person in a prompt). Pure, so the prompt shows exactly what the scheduler runs.
public enum RebootCommands {
    /// The transient units a scheduled reboot uses, so a later decision replaces an
    /// earlier one and a person can find and stop them.
    public static let rebootUnit = "clarity-heal-reboot"
    public static let noticeUnit = "clarity-heal-reboot-notice"

    public static let now = ["systemctl", "reboot"]
    /// A reboot at once from a unit or a script: the job is queued and systemctl returns
    /// before the shutdown it starts stops the caller (no D-Bus needed as root).
    public static let immediate = ["systemctl", "--no-block", "reboot"]

    /// Whether a reboot at `at` is close enough for `shutdown -r +M`, which broadcasts its
    /// own notices up to the reboot: within the notice period (and a minute of rounding).
    public static func usesShutdown(at: Int64, now: Int64, noticeMinutes: Int) -> Bool {
        at - now <= Int64(noticeMinutes) * 60 + 59
    }

    /// The commands that schedule a reboot at `at` with a notice at `noticeAt`.
    ///
    /// Close reboots use `shutdown -r +M MESSAGE` (minutes rounded up; `shutdown -c`
    /// cancels). Later ones use two systemd timers (`systemd-run --on-calendar`, a UTC
    /// calendar event, so a time zone change does not move them): one runs `wall` at the
    /// notice time, one `systemctl reboot` at the reboot time.
    public static func schedule(at: Int64, noticeAt: Int64, now: Int64, noticeMinutes: Int,
                                message: String) -> (commands: [[String]], cancel: [String]) {
        if at <= now {
            // Now (NoticeMinutes=0): the notice and the reboot job. systemctl reaches systemd
            // over its private socket as root; `shutdown` needs logind over D-Bus, which a
            // minimal system does not run.
            return ([["wall", message], immediate], ["systemctl", "cancel"])
        }
        if usesShutdown(at: at, now: now, noticeMinutes: noticeMinutes) {
            let minutes = max(0, (at - now + 59) / 60)
            return ([["shutdown", "-r", "+\(minutes)", message]], ["shutdown", "-c"])
        }
        return timers(at: at, noticeAt: noticeAt, now: now, message: message)
    }

    /// Two systemd timers: the notice (`wall`, at once when its time has come: a calendar
    /// event in the past never elapses) and the reboot. Also where `shutdown -r +M` cannot
    /// run (no D-Bus, no logind).
    public static func timers(at: Int64, noticeAt: Int64, now: Int64, message: String) -> (commands: [[String]], cancel: [String]) {
        var commands: [[String]] = []
        if noticeAt <= now {
            commands.append(["wall", message])
        } else if noticeAt < at {
            commands.append(timer(noticeUnit, at: noticeAt) + ["wall", message])
        }
        commands.append(timer(rebootUnit, at: at) + ["systemctl", "reboot"])
        return (commands, ["systemctl", "stop", rebootUnit + ".timer", noticeUnit + ".timer"])
    }

    private static func timer(_ unit: String, at: Int64) -> [String] {
        ["systemd-run", "--unit=" + unit, "--on-calendar=" + CivilTime(seconds: at).systemdCalendarUTC,
         "--timer-property=AccuracySec=1s", "--"]
    }

    /// A command as a person would type it in a POSIX shell.
    public static func shell(_ command: [String]) -> String {
        command.map { word in
            let plain = !word.isEmpty && word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=+:@,".contains($0)) }
            if plain { return word }
            var quoted = "'"
            for character in word {
                quoted += character == "'" ? "'\\''" : String(character)
            }
            return quoted + "'"
        }.joined(separator: " ")
    }
}

/// The reboot policy as a function of the clock (issue 4 §3): no I/O, so tests drive time.
public enum RebootPlanner {
    /// How long "remind later" waits.
    public static let remindAfter: Int64 = 4 * 3600

    /// Decides how the machine reboots for `request`.
    /// - Parameters:
    ///   - now: seconds since the epoch.
    ///   - utcOffset: seconds east of UTC of the local time the maintenance window is
    ///     written in (0 for UTC). The offset at `now` is used for the whole week ahead:
    ///     a daylight-saving change before the window moves it by the change.
    public static func decide(_ request: RebootRequest, policy: RebootPolicy, now: Int64, utcOffset: Int = 0) -> RebootDecision {
        let notice = Int64(policy.noticeMinutes) * 60
        switch policy.mode {
        case .automatic:
            return .schedule(scheduled(request, at: now + notice, now: now, policy: policy, utcOffset: utcOffset,
                                       reason: "Policy=automatic: the machine reboots \(policy.noticeMinutes) minutes after a notice."))
        case .prompt:
            return .prompt(prompt(request, policy: policy, now: now, utcOffset: utcOffset,
                                  reason: "Policy=prompt: a person decides when to reboot."))
        case .window:
            let offset = Int64(utcOffset)
            guard var opening = policy.window.opening(atOrAfter: now + offset) else {
                return .prompt(prompt(request, policy: policy, now: now, utcOffset: utcOffset,
                                      reason: "The maintenance window \(policy.window) never opens."))
            }
            if opening.start - offset <= now {
                // Open now: reboot after the notice if that is still inside the window,
                // else wait for the next opening.
                let end = opening.end - offset
                if now + notice < end {
                    return .schedule(scheduled(request, at: now + notice, now: now, policy: policy, utcOffset: utcOffset,
                                               reason: "The maintenance window \(policy.window) is open until \(local(end, utcOffset))."))
                }
                guard let next = policy.window.opening(atOrAfter: opening.end) else {
                    return .prompt(prompt(request, policy: policy, now: now, utcOffset: utcOffset,
                                          reason: "The maintenance window \(policy.window) never opens again."))
                }
                opening = next
            }
            let start = opening.start - offset
            let days = policy.urgency.days(for: request.severity)
            let wait = "\(days) day\(days == 1 ? "" : "s")"
            if start - now <= Int64(days) * CivilTime.secondsPerDay {
                return .schedule(scheduled(request, at: start, now: now, policy: policy, utcOffset: utcOffset,
                                           reason: "The next maintenance window opens \(local(start, utcOffset)), within the \(wait) a \(request.severity.rawValue) fix may wait."))
            }
            return .prompt(prompt(request, policy: policy, now: now, utcOffset: utcOffset,
                                  reason: "The next maintenance window opens \(local(start, utcOffset)), later than the \(wait) a \(request.severity.rawValue) fix may wait."))
        }
    }

    static func scheduled(_ request: RebootRequest, at: Int64, now: Int64, policy: RebootPolicy, utcOffset: Int,
                          reason: String) -> ScheduledReboot {
        let noticeAt = max(now, at - Int64(policy.noticeMinutes) * 60)
        let minutes = (at - now + 59) / 60
        let when = at - now < 3600 ? "in \(minutes) minute\(minutes == 1 ? "" : "s") (\(local(at, utcOffset)))" : "at \(local(at, utcOffset))"
        // The cancel command depends only on the mechanism, not on the message.
        let cancel = RebootCommands.schedule(at: at, noticeAt: noticeAt, now: now,
                                             noticeMinutes: policy.noticeMinutes, message: "").cancel
        let message = "clarity-heal: this machine reboots \(when) to finish repair \(request.fix) (\(request.failureClass.rawValue)). "
            + "Save your work. To cancel: \(RebootCommands.shell(cancel))"
        let withMessage = RebootCommands.schedule(at: at, noticeAt: noticeAt, now: now,
                                                  noticeMinutes: policy.noticeMinutes, message: message)
        return ScheduledReboot(fix: request.fix, at: at, noticeAt: noticeAt, reason: reason, message: message,
                               commands: withMessage.commands, cancel: withMessage.cancel)
    }

    static func prompt(_ request: RebootRequest, policy: RebootPolicy, now: Int64, utcOffset: Int, reason: String) -> RebootPrompt {
        // The suggested time: the window's next opening far enough ahead for the notice.
        let notice = Int64(policy.noticeMinutes) * 60
        let offset = Int64(utcOffset)
        var suggestion = now + notice
        if let opening = policy.window.opening(atOrAfter: now + notice + offset) {
            suggestion = max(opening.start - offset, now + notice)
        }
        let schedule = RebootCommands.schedule(at: suggestion, noticeAt: max(now, suggestion - notice), now: now,
                                               noticeMinutes: policy.noticeMinutes,
                                               message: "clarity-heal: this machine reboots at \(local(suggestion, utcOffset)) to finish repair \(request.fix).")
        return RebootPrompt(
            fix: request.fix, failureClass: request.failureClass, severity: request.severity, reason: reason,
            choices: [
                .init(id: "reboot-now", label: "reboot now", at: nil, commands: [RebootCommands.now]),
                .init(id: "schedule", label: "schedule the reboot for \(local(suggestion, utcOffset))",
                      at: CivilTime(seconds: suggestion).iso8601, commands: schedule.commands),
                .init(id: "remind-later", label: "remind me at \(local(now + remindAfter, utcOffset))",
                      at: CivilTime(seconds: now + remindAfter).iso8601, commands: nil),
            ])
    }

    /// `Sun 2026-12-06 02:00 UTC`, or with the offset for local time (`… UTC+01:00`).
    public static func local(_ time: Int64, _ utcOffset: Int) -> String {
        let shown = CivilTime(seconds: time + Int64(utcOffset)).readable
        guard utcOffset != 0 else { return shown + " UTC" }
        let sign = utcOffset < 0 ? "-" : "+"
        let minutes = abs(utcOffset) / 60
        return shown + " UTC" + sign + CivilTime.pad(minutes / 60) + ":" + CivilTime.pad(minutes % 60)
    }
}
