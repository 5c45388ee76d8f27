/// When a count or a ratio becomes a finding; `/etc/clarity-heal/clarity-heal.conf` overrides
/// the defaults below (docs/formats.md, "The config file").
public struct Thresholds: Sendable, Codable, Equatable {
    /// Panic or Oops records in pstore that make a `kernel-panic` finding.
    public var kernelPanics: Int = 1
    /// Units failed on the previous boot that make a `unit-failures` finding.
    public var failedUnits: Int = 3
    /// Failed boot attempts that make a `boot-failures` finding.
    public var bootFailures: Int = 1
    /// Percentage of blocks or inodes in use that makes an exhaustion finding.
    public var resourceExhaustionPercent: Double = 95

    public init() {}
}
