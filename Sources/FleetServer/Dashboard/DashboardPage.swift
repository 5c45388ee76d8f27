import FleetProtocol
import Foundation
import HealCore

/// The fleet dashboard (`GET /dashboard`): repairs over time, success rate per class and per
/// strategy, machines that need a person; plots as inline SVG, one self-contained page with
/// no script, so it renders the same in a browser, a headless one, and on paper.
public enum DashboardPage {
    static let colors: [(result: String, color: String)] = [
        ("verified", "#2e8b3d"), ("validated", "#7fb3d5"), ("failed-validation", "#e0a030"),
        ("failed-after-apply", "#c0392b"), ("gave-up", "#6c3483"),
    ]

    public static func render(_ summary: FleetSummary) -> String {
        let escape = ReportHTML.escape
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>clarity-fleet</title>
            <style>
            body{font:14px/1.4 "DejaVu Sans",sans-serif;margin:1.5em;color:#1d2733}
            h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .4em}
            .cards{display:flex;gap:1em}.card{border:1px solid #d5dde5;border-radius:.4em;padding:.6em 1em;min-width:8em}
            .card b{display:block;font-size:1.6em}svg{background:#fafbfc;border:1px solid #e3e8ee}
            table{border-collapse:collapse}td,th{border:1px solid #d5dde5;padding:.25em .6em;text-align:left}th{background:#eef2f6}
            .legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em}
            </style></head><body>
            <h1>clarity-fleet</h1>
            <p>Exports: <a href="/v1/export.csv">CSV</a> · <a href="/v1/export.json">JSON</a></p>
            <div class="cards"><div class="card"><b>\(summary.machines)</b>machines</div>
            <div class="card"><b>\(summary.submissions)</b>submissions</div><div class="card"><b>\(summary.outcomes)</b>outcomes</div>
            <div class="card"><b>\(Set(summary.needsPerson.map(\.machine)).count)</b>machines need a person</div></div>
            <h2>Repairs over time</h2>

            """
        out += timeSeries(summary.days)
        out += "<div class=\"legend\">" + colors.map { "<span><i style=\"background:\($0.color)\"></i>\($0.result)</span>" }.joined() + "</div>\n"
        out += "<h2>Success rate per failure class</h2>\n" + rateBars(summary.perClass)
        out += "<h2>Success rate per strategy</h2>\n" + rateBars(summary.perStrategy)
        out += "<h2>Machines that need a person</h2>\n"
        if summary.needsPerson.isEmpty {
            out += "<p>None: every episode the fleet reported ended in a fix that held.</p>\n"
        } else {
            out += "<table><tr><th>machine</th><th>failure class</th><th>gave up on</th></tr>\n"
            for item in summary.needsPerson.prefix(200) {
                out += "<tr><td><code>\(escape(item.machine))</code></td><td>\(escape(item.signature))</td><td>\(escape(item.since))</td></tr>\n"
            }
            out += "</table>\n"
        }
        out += "<h2>Rollouts</h2>\n" + rolloutTable(summary.rollouts)
        return out + "</body></html>\n"
    }

    /// Fix packages across machines: pending ones (waiting for approval) first, then those
    /// offered, each with how the fixes made from it fared, and why a stopped one stopped.
    static func rolloutTable(_ rollouts: [RolloutStanding]) -> String {
        guard !rollouts.isEmpty else { return "<p>None: no machine has published a fix package.</p>\n" }
        let order = ["pending": 0, "offered": 1, "stopped": 2]
        let escape = ReportHTML.escape
        var out = "<table><tr><th>rollout</th><th>failure class</th><th>strategy</th><th>profile</th><th>verified</th><th>failed</th><th>state</th></tr>\n"
        for item in rollouts.sorted(by: { (order[$0.state] ?? 3, $0.published) < (order[$1.state] ?? 3, $1.published) }) {
            let state = switch item.state {
            case "pending": "pending: waiting for an administrator's approval"
            case "offered": "offered to the machines of its profile"
            default: "stopped: " + (item.stopReason ?? "")
            }
            out += "<tr><td><code>\(escape(item.rollout))</code></td><td>\(escape(item.signature))</td><td>\(escape(item.strategy))</td>"
                + "<td>\(escape(item.profile))</td><td>\(item.verified)</td><td>\(item.failed)</td><td>\(escape(state))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    /// Stacked bars of outcomes per day, by result.
    static func timeSeries(_ days: [FleetSummary.Day]) -> String {
        let width = 900.0, height = 220.0, left = 40.0, bottom = 30.0
        guard !days.isEmpty else {
            return "<svg width=\"\(Int(width))\" height=\"60\" role=\"img\"><text x=\"12\" y=\"35\">No outcomes yet.</text></svg>\n"
        }
        let totals = days.map { $0.results.values.reduce(0, +) }
        let top = Double(max(1, totals.max() ?? 1))
        let slot = (width - left - 10) / Double(days.count)
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"outcomes per day\">\n"
        svg += "<text x=\"4\" y=\"14\" font-size=\"11\">\(Int(top))</text><text x=\"4\" y=\"\(Int(height - bottom))\" font-size=\"11\">0</text>\n"
        for (index, day) in days.enumerated() {
            var y = height - bottom
            let x = left + Double(index) * slot + slot * 0.1
            for (result, color) in colors {
                let count = Double(day.results[result] ?? 0)
                guard count > 0 else { continue }
                let h = count / top * (height - bottom - 20)
                y -= h
                svg += "<rect x=\"\(format(x))\" y=\"\(format(y))\" width=\"\(format(slot * 0.8))\" height=\"\(format(h))\" fill=\"\(color)\">"
                svg += "<title>\(ReportHTML.escape(day.day)): \(Int(count)) \(result)</title></rect>\n"
            }
            if days.count <= 16 || index % max(1, days.count / 8) == 0 {
                svg += "<text x=\"\(format(x))\" y=\"\(Int(height - 10))\" font-size=\"10\">\(ReportHTML.escape(String(day.day.suffix(5))))</text>\n"
            }
        }
        return svg + "</svg>\n"
    }

    /// One horizontal bar per name: the success rate, with its counts and confidence.
    static func rateBars(_ rates: [FleetSummary.Rate]) -> String {
        guard !rates.isEmpty else { return "<p>No outcomes yet.</p>\n" }
        let shown = Array(rates.prefix(40))
        let row = 24.0, labelWidth = 260.0, barWidth = 420.0
        var svg = "<svg width=\"\(Int(labelWidth + barWidth + 240))\" height=\"\(Int(Double(shown.count) * row + 10))\" role=\"img\">\n"
        for (index, rate) in shown.enumerated() {
            let y = 5 + Double(index) * row
            svg += "<text x=\"6\" y=\"\(format(y + 16))\" font-size=\"12\">\(ReportHTML.escape(rate.name))</text>\n"
            svg += "<rect x=\"\(Int(labelWidth))\" y=\"\(format(y + 3))\" width=\"\(Int(barWidth))\" height=\"16\" fill=\"#e8ecf0\"/>\n"
            svg += "<rect x=\"\(Int(labelWidth))\" y=\"\(format(y + 3))\" width=\"\(format(barWidth * rate.rate))\" height=\"16\" fill=\"\(rate.rate >= 0.5 ? "#2e8b3d" : "#c0392b")\"/>\n"
            svg += "<text x=\"\(Int(labelWidth + barWidth + 8))\" y=\"\(format(y + 16))\" font-size=\"12\">\(Int((rate.rate * 100).rounded())) % of \(rate.successes + rate.failures) · confidence \(StrategyLearning.figure(rate.confidence))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Per signature, strategy and profile, as CSV (RFC 4180: every field quoted).
    public static func csv(_ summary: FleetSummary) -> String {
        func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        var out = "signature,strategy,profile,successes,failures,rate,confidence\r\n"
        for rate in summary.perProfile {
            let parts = rate.name.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count == 3 else { continue }
            out += [quoted(parts[0]), quoted(parts[1]), quoted(parts[2]), "\(rate.successes)", "\(rate.failures)",
                    StrategyLearning.figure(rate.rate), StrategyLearning.figure(rate.confidence)].joined(separator: ",") + "\r\n"
        }
        return out
    }
}
