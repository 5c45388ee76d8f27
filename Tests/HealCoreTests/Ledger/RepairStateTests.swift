import HealCore
import Testing

@Suite("RepairState and FixReport")
struct RepairStateTests {
    typealias Kind = LedgerRecord.Kind

    /// Records with seq and time filled in, as the ledger returns them.
    static func records(_ items: [(Kind, String?, String?, String)], details: [Int: [String: String]] = [:]) -> [LedgerRecord] {
        items.enumerated().map { index, item in
            var record = LedgerRecord(kind: item.0, fix: item.1, class: "fstab-invalid-entry", strategy: item.2,
                                      outcome: LedgerRecord.Outcome(rawValue: item.3), detail: details[index] ?? [:])
            record.seq = index + 1
            record.time = 1_718_000_000 + index * 60
            return record
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var items: [(Kind, String?, String?, String)]
        var phase: RepairState.Fix.Phase
        var verification: RepairState.Fix.Verification?
        var attention: RepairState.Attention
        var verdict: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "validated only", items: [(.detection, nil, nil, "findings"), (.repair, "fix-a", "s1", "validated")],
             phase: .validated, verification: nil, attention: .none, verdict: "validated"),
        Case(name: "staged", items: [(.repair, "fix-a", "s1", "validated"), (.stage, "fix-a", "s1", "staged")],
             phase: .staged, verification: nil, attention: .inProgress, verdict: "staged"),
        Case(name: "applied, not verified", items: [(.repair, "fix-a", "s1", "validated"), (.apply, "fix-a", "s1", "applied")],
             phase: .applied, verification: .pending, attention: .inProgress, verdict: "pending"),
        Case(name: "boot-applied then good", items: [(.stage, "fix-a", "s1", "staged"), (.bootApply, "fix-a", "s1", "applied"),
                                                     (.verification, "fix-a", "s1", "good")],
             phase: .applied, verification: .good, attention: .none, verdict: "good"),
        Case(name: "verification failed, not yet rolled back",
             items: [(.apply, "fix-a", "s1", "applied"), (.verification, "fix-a", "s1", "failed")],
             phase: .applied, verification: .failed, attention: .inProgress, verdict: "failed"),
        Case(name: "rolled back", items: [(.apply, "fix-a", "s1", "applied"), (.verification, "fix-a", "s1", "failed"),
                                          (.rollback, "fix-a", "s1", "rolled-back")],
             phase: .rolledBack, verification: .rolledBack, attention: .none, verdict: "rolled-back"),
        Case(name: "refused", items: [(.apply, "fix-a", "s1", "refused")],
             phase: .notApplied, verification: nil, attention: .none, verdict: "not-applied"),
        Case(name: "interrupted then recovered", items: [(.apply, "fix-a", "s1", "recovered")],
             phase: .applied, verification: .pending, attention: .inProgress, verdict: "pending"),
        Case(name: "interrupted then undone", items: [(.apply, "fix-a", "s1", "undone")],
             phase: .notApplied, verification: nil, attention: .none, verdict: "not-applied"),
        Case(name: "gave up", items: [(.apply, "fix-a", "s1", "applied"), (.verification, "fix-a", "s1", "failed"),
                                      (.rollback, "fix-a", "s1", "rolled-back"), (.giveUp, nil, nil, "needs-person")],
             phase: .rolledBack, verification: .rolledBack, attention: .needsPerson, verdict: "rolled-back"),
    ]

    @Test(arguments: cases)
    func foldsRecordsIntoPhaseVerificationAndVerdict(_ c: Case) throws {
        let records = Self.records(c.items)
        let state = RepairState(root: "/r", records: records)
        let fix = try #require(state.fixes.first { $0.id == "fix-a" })
        #expect(fix.phase == c.phase)
        #expect(fix.verification == c.verification)
        #expect(state.attention == c.attention)
        #expect(fix.lastSeq == records.last { $0.fix == "fix-a" }?.seq)
        let report = try #require(FixReport(fix: "fix-a", records: records))
        #expect(report.verdict == c.verdict)
    }

    @Test func aGoodFixAfterAGiveUpClearsIt() {
        let records = Self.records([(.giveUp, nil, nil, "needs-person"), (.apply, "fix-b", "s2", "applied"),
                                    (.verification, "fix-b", "s2", "good")])
        let state = RepairState(root: "/r", records: records)
        #expect(state.gaveUp == nil)
        #expect(state.attention == .none)
    }

    @Test func foldersAddWhatTheLedgerLacks() {
        let records = Self.records([(.repair, "fix-a", "s1", "validated"), (.detection, nil, nil, "findings")])
        let journal = RepairState.Interrupted(operation: "apply", fix: "fix-c", journal: "/r/var/lib/clarity-heal/journal")
        let state = RepairState(root: "/r", records: records, skippedLines: 2, tornTail: true,
                                applied: ["fix-b"], staged: ["fix-a"], interrupted: journal)
        #expect(state.fixes.map(\.id) == ["fix-a", "fix-b"])
        #expect(state.fixes[0].phase == .staged)
        #expect(state.fixes[1].phase == .applied && state.fixes[1].verification == .pending)
        #expect(state.staged == ["fix-a"])
        #expect(state.lastDetection?.seq == 2)
        #expect(state.attention == .inProgress)
        let text = LedgerText.status(state)
        #expect(text.contains("interrupted apply of fix-c"))
        #expect(text.contains("staged for the next boot\n  fix-a\n"))
        #expect(text.contains("2 unreadable ledger lines skipped"))
        #expect(text.contains("last ledger line is incomplete"))
    }

    @Test func backupComesFromTheApplyRecord() throws {
        let records = Self.records([(.apply, "fix-a", "s1", "applied")],
                                   details: [0: ["backup": "/var/lib/clarity-heal/applied/fix-a/backup.tar", "backupSHA256": "ab12"]])
        let state = RepairState(root: "/r", records: records)
        #expect(state.fixes.first?.backup == "/var/lib/clarity-heal/applied/fix-a/backup.tar")
        let report = try #require(FixReport(fix: "fix-a", records: records))
        #expect(report.backup == FixReport.Backup(location: "/var/lib/clarity-heal/applied/fix-a/backup.tar", sha256: "ab12"))
        let markdown = LedgerText.markdown(report)
        #expect(markdown.contains("- location: `/var/lib/clarity-heal/applied/fix-a/backup.tar`\n- SHA-256: `ab12`\n"))
    }

    @Test func theValidationBootsConsoleIsShownItsLastLinesIndentedAndPlain() throws {
        let records = Self.records([(.apply, "fix-a", "s1", "applied")])
        // 100 lines, colour codes on one, and a line that would end a fenced block.
        var console = (1...98).map { "[    \($0).000000] line \($0)" }.joined(separator: "\r\n")
        console += "\r\n[\u{1b}[0;32m  OK  \u{1b}[0m] Reached target \u{1b}[0;1;39mgraphical.target\u{1b}[0m.\r\n```\n"
        let report = try #require(FixReport(fix: "fix-a", records: records, console: console))
        let shown = try #require(report.bootConsole)
        #expect(shown.lines == 100)
        #expect(shown.tail.count == FixReport.BootConsole.tailLines)
        #expect(shown.tail.first == "[    41.000000] line 41")
        #expect(shown.tail.suffix(2) == ["[  OK  ] Reached target graphical.target.", "```"])
        let markdown = LedgerText.markdown(report)
        #expect(markdown.contains("## Boot console\n\nThe validation boot's console (100 lines, the whole log in the fix package); the last 60:\n\n    [    41.000000] line 41\n"))
        #expect(markdown.contains("    [  OK  ] Reached target graphical.target.\n    ```\n"))
        #expect(FixReport(fix: "fix-a", records: records)?.bootConsole == nil)
        #expect(!LedgerText.markdown(try #require(FixReport(fix: "fix-a", records: records))).contains("## Boot console"))
    }

    @Test func unknownFixHasNoReport() {
        #expect(FixReport(fix: "fix-nope", records: Self.records([(.apply, "fix-a", "s1", "applied")])) == nil)
    }

    @Test func reportFromLedgerDetailsAlone() throws {
        let records = Self.records(
            [(.repair, "fix-a", "fstab-set-type", "validated"), (.apply, "fix-a", "fstab-set-type", "applied"),
             (.verification, "fix-a", "fstab-set-type", "failed"), (.rollback, "fix-a", "fstab-set-type", "rolled-back"),
             (.retry, nil, nil, "retrying")],
            details: [0: ["summary": "line 3 | has type xfs", "evidence": "/etc/fstab: line 3 names type xfs, blkid sees ext4",
                          "evidence.2": "blkid: ext4", "rootCause": "fstab-invalid-entry", "confidence": "0.9"]])
        let report = try #require(FixReport(fix: "fix-a", records: records))
        // The retry names no fix but follows this one for its class: it is part of the story.
        #expect(report.timeline.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(report.evidence.map(\.source) == ["/etc/fstab", "blkid"])
        #expect(report.evidence.first?.detail == "line 3 names type xfs, blkid sees ext4")
        #expect(report.diagnosis?.rootCause == "fstab-invalid-entry")
        #expect(report.diagnosis?.confidence == 0.9)
        #expect(report.strategies.map(\.strategy) == ["fstab-set-type"])
        #expect(report.strategies.first?.outcome == "rolled-back")
        let markdown = LedgerText.markdown(report)
        for section in ["# Repair report: fix-a", "## Timeline", "## Evidence", "## Diagnosis", "## Strategies tried",
                        "## Validation", "## Backup", "## Verification"] {
            #expect(markdown.contains(section + "\n"), "missing \(section)")
        }
        #expect(markdown.contains("| 4 | 2024-06-10 06:16:20Z | rollback | rolled-back | fstab-set-type |  |\n"))
        #expect(markdown.contains("Root cause `fstab-invalid-entry` (confidence 90 %)."))
        #expect(markdown.contains("Rolled back from its backup (verification #3 at 2024-06-10 06:15:20Z: failed)."))
        #expect(markdown.contains("| 5 | 2024-06-10 06:17:20Z | retry | retrying |"))
        // A pipe inside a table cell would break the table; the summary is not in a table.
        #expect(markdown.contains("line 3 | has type xfs"))
        #expect(markdown.contains(#"summary=line 3 \| has type xfs"#))
    }

    @Test func reportFromAManifest() throws {
        let finding = Finding(.fstabInvalidEntry, summary: "fstab line 3 is wrong",
                              evidence: [Evidence(source: "/etc/fstab", detail: "line 3: type xfs")], severity: .critical)
        let strategy = StrategyDescriptor(id: "fstab-set-type", title: "Set the type blkid sees", classes: [.fstabInvalidEntry],
                                          risk: 2, sideEffects: "none", priorEffectiveness: 0.8, estimatedSeconds: 5)
        let manifest = FixManifest(
            id: "fix-m", created: 1_718_000_000, failureClass: .fstabInvalidEntry, strategy: strategy, findings: [finding],
            operations: ["write /etc/fstab"], changes: [],
            validation: ValidationReport(checks: [.init(name: "resolved", verdict: .passed, detail: "detector clean"),
                                                  .init(name: "boot", verdict: .notRun, detail: "no microVM")]),
            attempts: [.init(strategy: "fstab-restore-backup", validated: false, notes: ["no backup"], operations: []),
                       .init(strategy: "fstab-set-type", validated: true, notes: ["resolved"], operations: [])],
            environment: "overlay", needsReboot: true)
        let report = try #require(FixReport(fix: "fix-m", records: [], manifest: manifest, package: "/r/var/lib/clarity-heal/staged/fix-m"))
        #expect(report.verdict == "validated")
        #expect(report.evidence == [FixReport.EvidenceItem(failureClass: "fstab-invalid-entry", severity: "critical",
                                                          summary: "fstab line 3 is wrong", source: "/etc/fstab", detail: "line 3: type xfs")])
        #expect(report.strategies.map(\.outcome) == ["failed", "validated"])
        #expect(report.validation.map(\.verdict) == ["passed", "not-run"])
        let markdown = LedgerText.markdown(report)
        #expect(markdown.contains("| needs reboot | yes |"))
        #expect(markdown.contains("1. `fstab-restore-backup`: failed\n   - no backup\n2. `fstab-set-type`: validated\n"))
        #expect(markdown.contains("| boot | not-run | no microVM |"))
        #expect(markdown.contains("  - `/etc/fstab`: line 3: type xfs\n"))
        #expect(markdown.contains("No ledger records name this fix."))
    }

    @Test func historyIsNewestFirst() {
        let records = Self.records([(.detection, nil, nil, "findings"), (.repair, "fix-a", "s1", "validated")],
                                   details: [1: ["reason": "two\nlines"]])
        let text = LedgerText.history(records, skipped: 1, tornTail: false)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "#2    2024-06-10 06:14:20Z repair       validated    fix-a fstab-invalid-entry s1 reason=two lines")
        #expect(lines[1] == "#1    2024-06-10 06:13:20Z detection    findings     fstab-invalid-entry")
        #expect(text.contains("1 unreadable ledger line skipped"))
    }
}
