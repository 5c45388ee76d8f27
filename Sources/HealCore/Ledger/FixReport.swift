/// Everything known about one fix, for `clarity-heal report FIX_ID`: its timeline in the
/// ledger, and — when the fix package is still on the root — the evidence, diagnosis,
/// strategies and validation it carries. Built and rendered in pure code.
public struct FixReport: Sendable, Hashable, Codable {
    public struct EvidenceItem: Sendable, Hashable, Codable {
        /// The failure class slug the evidence supports.
        public var failureClass: String?
        public var severity: String?
        public var summary: String?
        public var source: String
        public var detail: String

        public init(failureClass: String?, severity: String?, summary: String?, source: String, detail: String) {
            self.failureClass = failureClass
            self.severity = severity
            self.summary = summary
            self.source = source
            self.detail = detail
        }

        enum CodingKeys: String, CodingKey { case failureClass = "class", severity, summary, source, detail }
    }

    public struct DiagnosisSummary: Sendable, Hashable, Codable {
        public var rootCause: String?
        public var confidence: Double?
        public var signature: String?
        public var explanation: String?
        public var steps: Int?
    }

    public struct StrategyTried: Sendable, Hashable, Codable {
        public var strategy: String
        /// `validated`, `failed`, or a ledger outcome (`rolled-back`, …).
        public var outcome: String
        public var notes: [String]
    }

    public struct Check: Sendable, Hashable, Codable {
        public var name: String
        public var verdict: String
        public var detail: String
    }

    public struct Backup: Sendable, Hashable, Codable {
        public var location: String?
        public var sha256: String?

        public init(location: String?, sha256: String?) {
            self.location = location
            self.sha256 = sha256
        }
    }

    /// The post-boot verdict: `good`, `failed`, `rolled-back`, `pending` (applied, not yet
    /// verified), `staged`, or `not-applied`.
    public var verdict: String
    public var fix: String
    public var failureClass: String?
    public var strategy: String?
    /// Where the fix package was read from, when it was.
    public var package: String?
    public var timeline: [LedgerRecord]
    public var evidence: [EvidenceItem]
    public var diagnosis: DiagnosisSummary?
    public var strategies: [StrategyTried]
    public var validation: [Check]
    public var backup: Backup?
    /// Whether the change needs a reboot, when the manifest says.
    public var needsReboot: Bool?
    /// The console of the boot that validated the fix, when its package keeps one.
    public var bootConsole: BootConsole?

    /// How many lines the validation boot's console has, and the last of them (escape
    /// sequences and control characters dropped); the whole log is in the package.
    public struct BootConsole: Sendable, Hashable, Codable {
        public var lines: Int
        public var tail: [String]

        public static let tailLines = 60

        public init(_ text: String) {
            let all = GuestConsole.excerpt(text, lines: Int.max)
            lines = all.count
            tail = Array(all.suffix(Self.tailLines))
        }
    }

    enum CodingKeys: String, CodingKey {
        case fix, failureClass = "class", strategy, verdict, package, timeline, evidence, diagnosis, strategies,
             validation, backup, needsReboot, bootConsole
    }

    /// The report for `fix`, or nil when neither the ledger nor a package knows it.
    /// - Parameters:
    ///   - records: the whole ledger, oldest first (retry and give-up records that name the
    ///     fix's class after it belong to its story too).
    ///   - manifest: the fix package's manifest, when one is on the root.
    ///   - console: the validation boot's console the package keeps.
    public init?(fix: String, records: [LedgerRecord], manifest: FixManifest? = nil, package: String? = nil,
                 console: String? = nil) {
        var own = records.filter { $0.fix == fix }
        guard !own.isEmpty || manifest != nil else { return nil }
        own = Self.withFollowUps(own, in: records)
        self.fix = fix
        self.package = manifest == nil ? nil : package
        self.timeline = own
        failureClass = manifest?.failureClass.rawValue ?? own.lazy.compactMap(\.failureClass).first
        strategy = manifest?.strategy.id ?? own.lazy.compactMap(\.strategy).last
        needsReboot = manifest?.needsReboot
        bootConsole = console.map(BootConsole.init)

        var state = RepairState.Fix(id: fix, phase: .validated)
        for record in own { RepairState.advance(&state, with: record) }
        switch (state.phase, state.verification) {
        case (_, .some(let verification)): verdict = verification.rawValue
        case (.staged, nil): verdict = "staged"
        case (.notApplied, nil): verdict = "not-applied"
        default: verdict = manifest != nil || own.contains { $0.kind == .repair } ? "validated" : "unknown"
        }

        if let manifest {
            evidence = manifest.findings.flatMap { finding in
                finding.evidence.map {
                    EvidenceItem(failureClass: finding.failureClass.rawValue, severity: finding.severity.rawValue,
                                 summary: finding.summary, source: $0.source, detail: $0.detail)
                }
            }
            if let found = manifest.diagnosis {
                diagnosis = DiagnosisSummary(rootCause: found.rootCause?.failureClass.rawValue,
                                             confidence: found.rootCause?.confidence ?? found.confidence,
                                             signature: found.rootCause?.signature,
                                             explanation: found.rootCause?.explanation,
                                             steps: found.steps.count)
            }
            strategies = manifest.attempts.map {
                StrategyTried(strategy: $0.strategy, outcome: $0.validated ? "validated" : "failed", notes: $0.notes)
            }
            validation = manifest.validation.checks.map { Check(name: $0.name, verdict: $0.verdict.rawValue, detail: $0.detail) }
        } else {
            evidence = Self.evidence(fromDetails: own)
            strategies = []
            validation = []
            if let record = own.last(where: { $0.detail["rootCause"] != nil || $0.detail["diagnosis"] != nil }) {
                diagnosis = DiagnosisSummary(rootCause: record.detail["rootCause"] ?? record.failureClass,
                                              confidence: record.detail["confidence"].flatMap(Double.init),
                                              signature: record.detail["signature"],
                                              explanation: record.detail["diagnosis"], steps: nil)
            }
        }
        // The ledger adds what happened on this machine after the package was made:
        // strategies that a verification rejected, and retries.
        for record in own where record.strategy != nil {
            guard let id = record.strategy else { continue }
            let outcome: String?
            switch (record.kind, record.outcome) {
            case (.rollback, .rolledBack): outcome = "rolled-back"
            case (.verification, .failed): outcome = "verification-failed"
            case (.verification, .good): outcome = "verified-good"
            case (.repair, let result): outcome = result.rawValue
            default: outcome = nil
            }
            guard let outcome else { continue }
            if let index = strategies.lastIndex(where: { $0.strategy == id }) {
                if record.kind != .repair { strategies[index].outcome = outcome }
            } else {
                strategies.append(StrategyTried(strategy: id, outcome: outcome, notes: record.detail["reason"].map { [$0] } ?? []))
            }
        }
        if let record = own.last(where: { $0.detail["backup"] != nil || $0.detail["backupSHA256"] != nil }) {
            backup = Backup(location: record.detail["backup"], sha256: record.detail["backupSHA256"])
        }
    }

    /// Adds the retry and give-up records that carry no fix id but follow this fix for its
    /// class: after its first record, before the first record of the next fix of that class.
    static func withFollowUps(_ own: [LedgerRecord], in records: [LedgerRecord]) -> [LedgerRecord] {
        guard let first = own.first, let slug = own.lazy.compactMap(\.failureClass).first else { return own }
        let fixID = first.fix
        let nextFix = records.first { $0.seq > first.seq && $0.fix != nil && $0.fix != fixID && $0.failureClass == slug }
        let followUps = records.filter {
            $0.fix == nil && ($0.kind == .retry || $0.kind == .giveUp) && $0.failureClass == slug
                && $0.seq > first.seq && $0.seq < (nextFix?.seq ?? Int.max)
        }
        return (own + followUps).sorted { $0.seq < $1.seq }
    }

    /// Evidence the writers put in record details: `summary`, and `evidence` or
    /// `evidence.<n>` as "source: detail".
    static func evidence(fromDetails records: [LedgerRecord]) -> [EvidenceItem] {
        var items: [EvidenceItem] = []
        for record in records where record.kind == .detection || record.kind == .repair {
            let keys = record.detail.keys.filter { $0 == "evidence" || $0.hasPrefix("evidence.") }
                .sorted { (Int($0.dropFirst(9)) ?? -1, $0) < (Int($1.dropFirst(9)) ?? -1, $1) }
            for key in keys {
                guard let text = record.detail[key] else { continue }
                let parts = text.split(separator: ":", maxSplits: 1)
                let item = parts.count == 2
                    ? EvidenceItem(failureClass: record.failureClass, severity: nil, summary: record.detail["summary"],
                                   source: String(parts[0]), detail: String(parts[1].drop { $0 == " " }))
                    : EvidenceItem(failureClass: record.failureClass, severity: nil, summary: record.detail["summary"],
                                   source: "ledger #\(record.seq)", detail: text)
                if !items.contains(item) { items.append(item) }
            }
        }
        return items
    }
}
