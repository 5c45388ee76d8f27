import HealCore

/// Every detector, in boot-chain order (DESIGN.md §4). The engine runs them in this order.
public enum Detectors {
    public static var all: [any Detector] {
        []
    }
}
