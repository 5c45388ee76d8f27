import HealCore

/// Every repair strategy (docs/failure-catalogue.md). Each group lives beside its strategies in
/// `Strategies/`; the engine ranks the ones whose classes match (`StrategyRanking`).
public enum StrategyCatalogue {
    public static var all: [any RepairStrategy] {
        bootAndFileSystem + kernelAndInitramfs + bootFailures + resources
    }

    /// The strategies that repair `failureClass`, ranked: expected effectiveness, then
    /// risk, then cost.
    public static func candidates(for failureClass: FailureClass,
                                  effectiveness: (String) -> Double? = { _ in nil }) -> [any RepairStrategy] {
        let matching = all.filter { $0.descriptor.classes.contains(failureClass) }
        let order = StrategyRanking.rank(matching.map(\.descriptor), effectiveness: effectiveness).map(\.id)
        return order.compactMap { id in matching.first { $0.descriptor.id == id } }
    }
}
