import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Local learning end to end (issue 12): a copy of the Debian root whose fstab names a disk
/// that is gone, its ledger written by the real `Ledger`, and `repair --dry-run --json`
/// showing each candidate's rank, prior, outcomes, score and why it moved.
@Suite struct LearningScenarioTests {
    struct DryRun: Decodable {
        struct Candidate: Decodable {
            struct Strategy: Decodable { var id: String }
            struct Rank: Decodable {
                struct Local: Decodable { var tried: Int; var verified: Int; var failedFixes: Int }
                var position: Int
                var priorPosition: Int
                var prior: Double
                var score: Double
                var local: Local
                var why: String
            }
            var strategy: Strategy
            var rank: Rank?
        }
        struct InsightUse: Decodable { var ignored: String? }
        var candidates: [Candidate]
        var insights: [InsightUse]
    }

    static func brokenRoot() throws -> OverlayCopy {
        let copy = try TestRoot.writableCopy()
        try RepairCommandTests.edit(copy.at("/etc/fstab")) { $0 + "LABEL=nowhere /srv ext4 defaults 0 2\n" }
        return copy
    }

    static func dryRun(_ root: String) throws -> DryRun {
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--root", root, "--device", TestRoot.image, "--dry-run", "--json"])
        #expect(result.status == 1, "\(result.stderr)")
        return try JSONDecoder().decode(DryRun.self, from: Data(result.stdout.utf8))
    }

    /// Two fixes by the first-ranked strategy failed verification here and were rolled back:
    /// the second-ranked one moves to the front, and the JSON says why.
    @Test func failedFixesHereMoveTheFirstRankedStrategyDown() throws {
        let copy = try Self.brokenRoot()
        let before = try Self.dryRun(copy.path)
        let first = try #require(before.candidates.first)
        #expect(first.rank?.position == 1 && first.rank?.priorPosition == 1)
        #expect(first.rank?.why.hasSuffix("stays at 1") == true, "\(first.rank?.why ?? "")")
        let second = try #require(before.candidates.dropFirst().first)

        let ledger = Ledger(root: try SystemRoot(copy.path))
        let signature = FailureClass.fstabUnresolvableSource.rawValue
        for fix in ["fix-a", "fix-b"] {
            try ledger.append(LedgerRecord(kind: .repair, fix: fix, class: signature, strategy: first.strategy.id, outcome: .validated,
                                           detail: ["tried": first.strategy.id]))
            try ledger.append(LedgerRecord(kind: .verification, fix: fix, class: signature, strategy: first.strategy.id, outcome: .failed))
            try ledger.append(LedgerRecord(kind: .rollback, fix: fix, class: signature, strategy: first.strategy.id, outcome: .rolledBack))
        }
        let after = try Self.dryRun(copy.path)
        #expect(after.candidates.first?.strategy.id == second.strategy.id)
        let moved = try #require(after.candidates.first { $0.strategy.id == first.strategy.id }?.rank)
        // Below every candidate whose prior beats its score.
        #expect(moved.priorPosition == 1 && moved.position == 1 + after.candidates.count { ($0.rank?.score ?? 0) > moved.score })
        #expect(moved.position > 1)
        #expect(moved.local.tried == 2 && moved.local.failedFixes == 2 && moved.local.verified == 0)
        #expect(abs(moved.score - StrategyLearning.score(prior: moved.prior, successes: 0, failures: 2)) < 1e-9)
        #expect(moved.why.contains("2 failed after apply") && moved.why.hasSuffix("moved down from 1 to \(moved.position)"), "\(moved.why)")
        let text = try Tool.run(Tool.clarityHeal, ["repair", "--root", copy.path, "--device", TestRoot.image, "--dry-run"])
        #expect(text.stdout.contains("ranked: prior"), "\(text.stdout)")
    }

    /// Insights the agent stored: one the fleet is sure of moves the first-ranked strategy
    /// down; one below MinConfidence or older than MaxAgeDays changes nothing and is listed
    /// with the reason.
    @Test(arguments: ["sure", "unsure", "old"])
    func fleetInsightsChangeTheRankOnlyWhenSureAndRecent(_ kind: String) throws {
        let copy = try Self.brokenRoot()
        let prior = try Self.dryRun(copy.path).candidates.map(\.strategy.id)
        let now = Int64(Date().timeIntervalSince1970)
        let failures = kind == "unsure" ? 5 : 30
        let insight = FleetInsight(signature: FailureClass.fstabUnresolvableSource.rawValue, strategy: prior[0],
                                   profile: "debian-12 6.1 grub initramfs-tools", successes: 0, failures: failures,
                                   confidence: FleetInsight.confidence(successes: 0, outcomes: failures),
                                   generated: now - (kind == "old" ? 40 : 1) * 86_400)
        // The state folder as clarity-heal makes it (root-owned), where the agent writes.
        _ = try StateDirectory.make(try SystemRoot(copy.path))
        try JSONEncoder().encode(FleetInsights(received: now, insights: [insight]))
            .write(to: URL(fileURLWithPath: copy.at(FleetInsights.relativePath)))
        let after = try Self.dryRun(copy.path)
        if kind == "sure" {
            #expect(after.candidates.first?.strategy.id == prior[1])
            #expect(after.insights.map(\.ignored) == [nil])
        } else {
            #expect(after.candidates.map(\.strategy.id) == prior)
            let reason = try #require(after.insights.first?.ignored)
            #expect(reason.contains(kind == "old" ? "older than MaxAgeDays 30" : "below MinConfidence 0.70"), "\(reason)")
        }
    }

    /// Diagnosis learns too: a cause that repairs did not fix (two episodes gave up) loses
    /// confidence, and the step that named the causes of repairs verified here runs first.
    @Test func diagnosisFollowsWhatVerificationProved() throws {
        let copy = try TestRoot.writableCopy()
        _ = try Tool.run("/usr/bin/truncate", ["-s", "1000000", copy.at("/boot/initrd.img-\(TestRoot.kernelVersion)")])
        let arguments = ["diagnose", "--root", copy.path, "--device", TestRoot.image, "--json"]
        let before = try JSONDecoder().decode(DiagnoseCommandTests.Output.self, from: Data(Tool.run(Tool.clarityHeal, arguments).stdout.utf8))
        let cause = try #require(before.rootCause)
        #expect(cause.class == "initramfs-corrupt")
        #expect(before.steps.first?.stage == "bootloader")

        let ledger = Ledger(root: try SystemRoot(copy.path))
        for index in 0..<2 {
            // Two episodes of this cause gave up …
            try ledger.append(LedgerRecord(kind: .repair, fix: "fix-c\(index)", class: cause.class, strategy: "initramfs-rebuild",
                                           outcome: .validated, detail: ["signature": cause.signature]))
            try ledger.append(LedgerRecord(kind: .giveUp, fix: "fix-c\(index)", class: cause.class, strategy: "initramfs-rebuild",
                                           outcome: .needsPerson))
            // … and two repairs of a missing init, named by the init step, held.
            try ledger.append(LedgerRecord(kind: .repair, fix: "fix-i\(index)", class: "init-missing", strategy: "init-restore",
                                           outcome: .validated, detail: ["signature": "init-missing"]))
            try ledger.append(LedgerRecord(kind: .verification, fix: "fix-i\(index)", class: "init-missing", strategy: "init-restore",
                                           outcome: .good))
        }
        let after = try JSONDecoder().decode(DiagnoseCommandTests.Output.self, from: Data(Tool.run(Tool.clarityHeal, arguments).stdout.utf8))
        let learned = try #require(after.rootCause)
        #expect(learned.class == "initramfs-corrupt")
        #expect(abs(learned.confidence - cause.confidence * 4 / 6) < 1e-6, "\(cause.confidence) → \(learned.confidence)")
        #expect(after.steps.first?.stage == "init")
        #expect(after.steps.first?.reason == "moved up: it named the cause of 2 repairs verified on this machine")
        #expect(Array(after.steps.dropFirst().map(\.stage)) == before.steps.map(\.stage).filter { $0 != "init" })
    }
}
