/// `report FIX --format html`: one self-contained page (no script, no link, styles inline)
/// with the fix's timeline — detection, diagnosis, each strategy with its checks, the
/// validation boot's console, apply and backup, reboot, verification — readable offline and
/// printable. Every text from the ledger or the package is escaped: a hostile root's words
/// are shown, never run.
public enum ReportHTML {
    public static func render(_ report: FixReport) -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Repair report \(escape(report.fix))</title>
            <style>
            body{font:14px/1.45 "DejaVu Sans",sans-serif;margin:2em auto;max-width:60em;color:#1d2733;padding:0 1em}
            h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #c9d2dc;margin-top:1.6em}
            table{border-collapse:collapse;width:100%}td,th{border:1px solid #d5dde5;padding:.25em .5em;text-align:left;vertical-align:top}
            th{background:#eef2f6}code,pre{font-family:"DejaVu Sans Mono",monospace;font-size:.92em}
            pre{background:#f4f6f8;border:1px solid #d5dde5;padding:.6em;white-space:pre-wrap;word-break:break-all}
            .verdict{display:inline-block;padding:.15em .6em;border-radius:.3em;font-weight:bold;background:#e3e8ee}
            .good,.validated,.applied{color:#106b21}.failed,.rolled-back,.refused,.needs-person{color:#a31515}
            ol.timeline{list-style:none;padding-left:0;border-left:3px solid #9fb3c8;margin-left:.5em}
            ol.timeline li{margin:0 0 .6em 1em;position:relative}
            ol.timeline li:before{content:"";position:absolute;left:-1.45em;top:.45em;width:.7em;height:.7em;border-radius:50%;background:#4a6a8a}
            @media print{body{margin:0;max-width:none}h2{page-break-after:avoid}pre,table{page-break-inside:avoid}}
            </style></head><body>
            <h1>Repair report: <code>\(escape(report.fix))</code></h1>
            <p><span class="verdict \(escape(report.verdict))">\(escape(report.verdict))</span>
            """
        if let slug = report.failureClass { out += " class <code>\(escape(slug))</code>" }
        if let strategy = report.strategy { out += " · strategy <code>\(escape(strategy))</code>" }
        if let needsReboot = report.needsReboot { out += " · needs reboot: \(needsReboot ? "yes" : "no")" }
        out += "</p>\n"

        out += "<h2>Timeline</h2>\n"
        if report.timeline.isEmpty { out += "<p>No ledger records name this fix.</p>\n" }
        out += "<ol class=\"timeline\">\n"
        for record in report.timeline {
            let details = record.detail.sorted { $0.key < $1.key }.map { "\(escape($0.key))=\(escape($0.value))" }.joined(separator: ", ")
            out += "<li><b>\(escape(LedgerText.utc(record.time)))</b> #\(record.seq) \(escape(stepName(record.kind)))"
            out += ": <span class=\"\(escape(record.outcome.rawValue))\">\(escape(record.outcome.rawValue))</span>"
            if let strategy = record.strategy { out += " <code>\(escape(strategy))</code>" }
            if !details.isEmpty { out += "<br><small>\(details)</small>" }
            out += "</li>\n"
        }
        out += "</ol>\n"

        out += "<h2>Detection: evidence</h2>\n"
        if report.evidence.isEmpty { out += "<p>None recorded.</p>\n" }
        out += "<ul>\n"
        for item in report.evidence {
            let heading = [item.failureClass, item.severity, item.summary].compactMap { $0 }.joined(separator: " · ")
            out += "<li>\(heading.isEmpty ? "" : escape(heading) + "<br>")<code>\(escape(item.source))</code>: \(escape(item.detail))</li>\n"
        }
        out += "</ul>\n"

        out += "<h2>Diagnosis</h2>\n"
        if let diagnosis = report.diagnosis {
            out += "<p>"
            if let cause = diagnosis.rootCause { out += "Root cause <code>\(escape(cause))</code>" }
            if let confidence = diagnosis.confidence { out += " (confidence \(Int((confidence * 100).rounded())) %)" }
            if let steps = diagnosis.steps { out += ", \(steps) diagnosis steps" }
            out += ".</p>\n"
            if let explanation = diagnosis.explanation { out += "<p>\(escape(explanation))</p>\n" }
            if let signature = diagnosis.signature { out += "<p>Signature <code>\(escape(signature))</code></p>\n" }
        } else {
            out += "<p>Not recorded.</p>\n"
        }

        out += "<h2>Attempts</h2>\n<ol>\n"
        for tried in report.strategies {
            out += "<li><code>\(escape(tried.strategy))</code>: <span class=\"\(escape(tried.outcome))\">\(escape(tried.outcome))</span>"
            if !tried.notes.isEmpty { out += "<ul>" + tried.notes.map { "<li>\(escape($0))</li>" }.joined() + "</ul>" }
            out += "</li>\n"
        }
        out += "</ol>\n"
        if report.strategies.isEmpty { out += "<p>None recorded.</p>\n" }

        out += "<h2>Validation checks</h2>\n"
        if report.validation.isEmpty {
            out += "<p>No validation checks recorded.</p>\n"
        } else {
            out += "<table><tr><th>check</th><th>verdict</th><th>detail</th></tr>\n"
            for check in report.validation {
                out += "<tr><td>\(escape(check.name))</td><td class=\"\(escape(check.verdict))\">\(escape(check.verdict))</td><td>\(escape(check.detail))</td></tr>\n"
            }
            out += "</table>\n"
        }
        if let console = report.bootConsole {
            out += "<h2>Validation boot: console</h2>\n<p>\(console.lines) lines (the whole log is in the fix package)"
            out += console.lines > console.tail.count ? "; the last \(console.tail.count):</p>\n" : ":</p>\n"
            out += "<pre>" + console.tail.map(escape).joined(separator: "\n") + "</pre>\n"
        }

        out += "<h2>Apply and backup</h2>\n"
        if let backup = report.backup {
            out += "<p>Backup <code>\(escape(backup.location ?? "not recorded"))</code>, SHA-256 <code>\(escape(backup.sha256 ?? "not recorded"))</code></p>\n"
        } else {
            out += "<p>No backup recorded (the fix was not applied to this root).</p>\n"
        }
        if let package = report.package { out += "<p>Fix package <code>\(escape(package))</code></p>\n" }

        out += "<h2>Reboot and verification</h2>\n<p>\(escape(LedgerText.verificationSentence(report)))</p>\n"
        out += "</body></html>\n"
        return out
    }

    /// What a ledger record's kind is in the repair's story.
    static func stepName(_ kind: LedgerRecord.Kind) -> String {
        switch kind {
        case .detection: "detection"
        case .repair: "repair on the clone"
        case .apply: "apply"
        case .stage: "staged for the next boot"
        case .bootApply: "applied by the initramfs"
        case .verification: "verification after the reboot"
        case .rollback: "rollback"
        case .retry: "retry"
        case .giveUp: "gave up"
        }
    }

    /// Text as HTML: `&`, `<`, `>`, quotes escaped, control characters shown as U+FFFD.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if (scalar.value < 0x20 && scalar != "\t" && scalar != "\n") || (0x7f...0x9f).contains(scalar.value) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
