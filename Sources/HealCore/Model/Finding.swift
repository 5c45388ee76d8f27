/// One piece of evidence behind a finding: where it was read and what it showed.
public struct Evidence: Sendable, Codable, Hashable {
    /// A path under the root, or the probe that produced it (`blkid /dev/vda2`, `pstore`).
    public var source: String
    /// What was seen there: a line, a value, a probe's output.
    public var detail: String

    public init(source: String, detail: String) {
        self.source = source
        self.detail = detail
    }
}

/// A failure detected on a root, of one catalogue class.
public struct Finding: Sendable, Codable, Hashable {
    public var failureClass: FailureClass
    public var component: Component
    public var severity: Severity
    /// One line for a person: what is wrong, with its specifics.
    public var summary: String
    public var evidence: [Evidence]

    public init(
        _ failureClass: FailureClass,
        summary: String,
        evidence: [Evidence],
        severity: Severity? = nil
    ) {
        self.failureClass = failureClass
        self.component = failureClass.component
        self.severity = severity ?? failureClass.defaultSeverity
        self.summary = summary
        self.evidence = evidence
    }

    enum CodingKeys: String, CodingKey {
        case failureClass = "class", component, severity, summary, evidence
    }
}
