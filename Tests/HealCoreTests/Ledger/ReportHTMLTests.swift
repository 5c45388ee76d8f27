import HealCore
import Testing

/// The HTML report shows a hostile root's words, never runs them.
@Suite struct ReportHTMLTests {
    @Test func everyTextFromTheRootIsEscaped() throws {
        var record = LedgerRecord(kind: .repair, fix: "fix-<1>", class: "<i>c</i>", strategy: "<b>x</b>", outcome: .validated,
                                  detail: ["reason": "<script>alert(1)</script>\u{1b}[31m \"quoted\" & 'single'"])
        record.seq = 1
        var report = try #require(FixReport(fix: "fix-<1>", records: [record]))
        report.verdict = "good\"><script>"
        let html = ReportHTML.render(report)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<b>x</b>") && !html.contains("<i>c</i>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("&quot;quoted&quot; &amp; &#39;single&#39;"))
        #expect(!html.contains("\u{1b}"))
        #expect(html.contains("Repair report: <code>fix-&lt;1&gt;</code>"))
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
    }
}
