/// `[MicroVM]` of the config: how validation and diagnosis boots run.
///
/// ```
///   [MicroVM]
///   Accelerator=auto        auto (KVM when a probe guest runs, else TCG) | kvm | tcg
///   MemoryMiB=1024          guest memory, at most (also at most a quarter of the host's)
///   CPUs=2                  guest CPUs, at most (also at most the host's)
///   StabilitySeconds=10     how long a validated guest must stay up after its checks
///   BootTimeout=600         seconds a boot may take under TCG (a quarter under KVM)
/// ```
public struct MicroVMSettings: Sendable, Equatable {
    public enum Accelerator: String, Sendable, CaseIterable { case auto, kvm, tcg }

    public var accelerator = Accelerator.auto
    public var memoryMiB = 1024
    public var cpus = 2
    public var stabilitySeconds = 10
    public var bootTimeoutSeconds = 600

    public init() {}

    public static let keys = ["Accelerator", "MemoryMiB", "CPUs", "StabilitySeconds", "BootTimeout"]

    /// The value of `key` as the file writes it; nil for an unknown key.
    public func text(key: String) -> String? {
        switch key {
        case "Accelerator": accelerator.rawValue
        case "MemoryMiB": "\(memoryMiB)"
        case "CPUs": "\(cpus)"
        case "StabilitySeconds": "\(stabilitySeconds)"
        case "BootTimeout": "\(bootTimeoutSeconds)"
        default: nil
        }
    }

    /// Puts `key` back to its default; false for an unknown key.
    public mutating func resetToDefault(key: String) -> Bool {
        let defaults = MicroVMSettings()
        switch key {
        case "Accelerator": accelerator = defaults.accelerator
        case "MemoryMiB": memoryMiB = defaults.memoryMiB
        case "CPUs": cpus = defaults.cpus
        case "StabilitySeconds": stabilitySeconds = defaults.stabilitySeconds
        case "BootTimeout": bootTimeoutSeconds = defaults.bootTimeoutSeconds
        default: return false
        }
        return true
    }

    public mutating func set(key: String, value: String) throws(Config.SettingError) {
        func number(_ range: ClosedRange<Int>) throws(Config.SettingError) -> Int {
            guard let number = Int(value), range.contains(number) else {
                throw .badValue(key: key, value: value, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        switch key {
        case "Accelerator":
            guard let accelerator = Accelerator(rawValue: value.lowercased()) else {
                throw .badValue(key: key, value: value, expected: "auto, kvm or tcg")
            }
            self.accelerator = accelerator
        case "MemoryMiB": memoryMiB = try number(256...65536)
        case "CPUs": cpus = try number(1...64)
        case "StabilitySeconds": stabilitySeconds = try number(0...3600)
        case "BootTimeout": bootTimeoutSeconds = try number(30...7200)
        default: throw .unknownKey(section: "MicroVM", key: key)
        }
    }
}
