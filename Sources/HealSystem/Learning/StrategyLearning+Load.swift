import FoundationEssentials
import HealCore

extension StrategyLearning {
    /// What a root knows: its ledger's outcomes and the fleet insights its agent stored, both
    /// read from its state folder only when that folder is clarity-heal's own
    /// (`StateDirectory`). Never fails: what cannot be read is left out and said in `notes`,
    /// and ranking falls back to the catalogue's prior.
    public static func load(root: SystemRoot, settings: FleetSettings, now: Int64) -> (StrategyLearning, notes: [String]) {
        var notes: [String] = []
        var local = LedgerEvidence()
        do {
            local = LedgerEvidence(records: try Ledger(root: root).records().records)
        } catch {
            notes.append("learning: the ledger was not read (\(error)); ranking by the catalogue's prior")
        }
        var insights: [FleetInsight] = []
        do {
            if let state = try StateDirectory.open(root),
               let bytes = try state.files.readIfPresent("/insights.json", limit: FleetInsights.maximumBytes, links: .refuse) {
                insights = try JSONDecoder().decode(FleetInsights.self, from: Data(bytes)).insights
            }
        } catch {
            notes.append("learning: the fleet's insights were not read (\(error)); only this machine's outcomes count")
        }
        return (StrategyLearning(local: local, insights: insights, settings: settings, now: now), notes)
    }
}
