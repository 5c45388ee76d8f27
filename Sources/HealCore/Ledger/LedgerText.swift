/// The readable forms of the ledger: `history` lines, `status`, and the Markdown report.
public enum LedgerText {
    /// "2024-06-10 12:00:00Z" for seconds since the epoch (proleptic Gregorian, UTC).
    public static func utc(_ seconds: Int) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - days * 86400
        // Howard Hinnant's days_from_civil inverse (http://howardhinnant.github.io/date_algorithms.html).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(rest / 3600, 2)):\(pad(rest % 3600 / 60, 2)):\(pad(rest % 60, 2))Z"
    }

    /// One `history` line: seq, time, kind, fix, class, strategy, outcome, details.
    public static func historyLine(_ record: LedgerRecord) -> String {
        var fields = ["#\(record.seq)".padded(5), utc(record.time), record.kind.rawValue.padded(12), record.outcome.rawValue.padded(12)]
        if let fix = record.fix { fields.append(fix) }
        if let slug = record.failureClass { fields.append(slug) }
        if let strategy = record.strategy { fields.append(strategy) }
        let details = record.detail.sorted { $0.key < $1.key }.map { "\($0.key)=\(oneLine($0.value))" }
        return (fields + details).joined(separator: " ")
    }

    /// `history`: newest first.
    public static func history(_ records: [LedgerRecord], skipped: Int, tornTail: Bool) -> String {
        var out = records.reversed().map { historyLine($0) + "\n" }.joined()
        if records.isEmpty { out += "no records\n" }
        out += notes(skipped: skipped, tornTail: tornTail)
        return out
    }

    /// `status`.
    public static func status(_ state: RepairState) -> String {
        var out = "\(state.root): "
        switch state.attention {
        case .none: out += "nothing in progress"
        case .inProgress: out += "repair in progress"
        case .needsPerson: out += "needs a person"
        }
        out += " (\(state.records) ledger records)\n"
        if let detection = state.lastDetection {
            out += "\nlast detection  #\(detection.seq) \(utc(detection.time)): \(detection.outcome)"
            if let slug = detection.failureClass { out += " \(slug)" }
            out += "\n"
        } else {
            out += "\nlast detection  none recorded\n"
        }
        if let interrupted = state.interrupted {
            out += "\ninterrupted \(interrupted.operation ?? "apply") of \(interrupted.fix ?? "an unknown fix")"
            out += " (journal \(interrupted.journal)); the next apply, rollback or boot finishes or undoes it\n"
        }
        if !state.staged.isEmpty {
            out += "\nstaged for the next boot\n" + state.staged.map { "  \($0)\n" }.joined()
        }
        if !state.fixes.isEmpty {
            out += "\nfixes\n"
            for fix in state.fixes {
                out += "  \(fix.id)  \(fix.phase.rawValue)"
                if fix.phase == .applied, let verification = fix.verification { out += ", verification \(verification.rawValue)" }
                if let slug = fix.failureClass { out += "  \(slug)" }
                if let strategy = fix.strategy { out += " / \(strategy)" }
                out += "\n"
                if let backup = fix.backup { out += "    backup \(backup)\(fix.backupSHA256.map { " sha256 \($0)" } ?? "")\n" }
            }
        }
        if let gaveUp = state.gaveUp {
            out += "\ngave up at #\(gaveUp.seq) \(utc(gaveUp.time))"
            if let slug = gaveUp.failureClass { out += " on \(slug)" }
            out += "\n"
            if let advice = gaveUp.detail["advice"] { out += "  what to do: \(oneLine(advice))\n" }
            out += "  support reference: \(gaveUp.detail["support"] ?? "ledger #\(gaveUp.seq)")\n"
        }
        return out + notes(skipped: state.skippedLines, tornTail: state.tornTail)
    }

    /// `report --format md`.
    public static func markdown(_ report: FixReport) -> String {
        var out = "# Repair report: \(report.fix)\n\n"
        out += "| | |\n|---|---|\n"
        out += "| verdict | **\(cell(report.verdict))** |\n"
        if let slug = report.failureClass { out += "| class | `\(cell(slug))` |\n" }
        if let strategy = report.strategy { out += "| strategy | `\(cell(strategy))` |\n" }
        if let needsReboot = report.needsReboot { out += "| needs reboot | \(needsReboot ? "yes" : "no") |\n" }
        if let package = report.package { out += "| package | `\(cell(package))` |\n" }

        out += "\n## Timeline\n\n"
        if report.timeline.isEmpty {
            out += "No ledger records name this fix.\n"
        } else {
            out += "| # | time (UTC) | kind | outcome | strategy | details |\n|---|---|---|---|---|---|\n"
            for record in report.timeline {
                let details = record.detail.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
                out += "| \(record.seq) | \(utc(record.time)) | \(record.kind.rawValue) | \(cell(record.outcome.rawValue)) "
                out += "| \(cell(record.strategy ?? "")) | \(cell(details)) |\n"
            }
        }

        out += "\n## Evidence\n\n"
        if report.evidence.isEmpty { out += "None recorded.\n" }
        var lastSummary: String?
        for item in report.evidence {
            if let summary = item.summary, summary != lastSummary {
                let heading = [item.failureClass.map { "`\($0)`" }, item.severity].compactMap { $0 }.joined(separator: ", ")
                out += "- \(heading.isEmpty ? "" : heading + ": ")\(oneLine(summary))\n"
                lastSummary = summary
            }
            out += "  - `\(oneLine(item.source))`: \(oneLine(item.detail))\n"
        }

        out += "\n## Diagnosis\n\n"
        if let diagnosis = report.diagnosis {
            if let cause = diagnosis.rootCause {
                out += "Root cause `\(cause)`"
                if let confidence = diagnosis.confidence { out += " (confidence \(Int((confidence * 100).rounded())) %)" }
                out += ".\n"
            }
            if let explanation = diagnosis.explanation { out += "\n\(oneLine(explanation))\n" }
            if let signature = diagnosis.signature { out += "\nSignature: `\(oneLine(signature))`\n" }
            if let steps = diagnosis.steps { out += "\n\(steps) diagnosis steps.\n" }
        } else {
            out += "Not recorded.\n"
        }

        out += "\n## Strategies tried\n\n"
        if report.strategies.isEmpty { out += "None recorded.\n" }
        for (index, tried) in report.strategies.enumerated() {
            out += "\(index + 1). `\(tried.strategy)`: \(tried.outcome)\n"
            for note in tried.notes { out += "   - \(oneLine(note))\n" }
        }

        out += "\n## Validation\n\n"
        if report.validation.isEmpty {
            out += "No validation checks recorded.\n"
        } else {
            out += "| check | verdict | detail |\n|---|---|---|\n"
            for check in report.validation { out += "| \(cell(check.name)) | \(cell(check.verdict)) | \(cell(check.detail)) |\n" }
        }

        if let console = report.bootConsole {
            out += "\n## Boot console\n\n"
            out += "The validation boot's console (\(console.lines) lines, the whole log in the fix package)"
            out += console.lines > console.tail.count ? "; the last \(console.tail.count):\n\n" : ":\n\n"
            // Indented, not fenced: a guest's line cannot end the block.
            for line in console.tail { out += "    " + line + "\n" }
        }

        out += "\n## Backup\n\n"
        if let backup = report.backup {
            out += "- location: `\(oneLine(backup.location ?? "not recorded"))`\n"
            out += "- SHA-256: `\(oneLine(backup.sha256 ?? "not recorded"))`\n"
        } else {
            out += "No backup recorded (the fix was not applied to this root).\n"
        }

        out += "\n## Verification\n\n" + verificationSentence(report) + "\n"
        return out
    }

    /// The verdict after the reboot in one sentence, with the verification record that gave it.
    static func verificationSentence(_ report: FixReport) -> String {
        var out: String
        switch report.verdict {
        case "good": out = "Verified good after the reboot"
        case "failed": out = "Verification failed; the fix awaits rollback"
        case "rolled-back": out = "Rolled back from its backup"
        case "pending": out = "Applied; not verified yet (verification runs on the next boot)"
        case "staged": out = "Staged; it is applied on the next boot, then verified"
        default: out = "Not applied to this root"
        }
        if let verification = report.timeline.last(where: { $0.kind == .verification }) {
            out += " (verification #\(verification.seq) at \(utc(verification.time)): \(verification.outcome))"
        }
        return out + "."
    }

    // MARK: - Helpers

    private static func notes(skipped: Int, tornTail: Bool) -> String {
        var out = ""
        if skipped > 0 { out += "\nnote: \(skipped) unreadable ledger line\(skipped == 1 ? "" : "s") skipped\n" }
        if tornTail { out += "\nnote: the last ledger line is incomplete (a write cut short) and was ignored\n" }
        return out
    }

    /// A Markdown table cell: pipes escaped, one line.
    static func cell(_ text: String) -> String {
        oneLine(text).replacingPipes()
    }

    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

private extension String {
    func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    func replacingPipes() -> String {
        var out = ""
        for character in self {
            if character == "|" { out += "\\|" } else { out.append(character) }
        }
        return out
    }
}
