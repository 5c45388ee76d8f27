/// The manifest of a validated fix package: what to change on the real system, why, and
/// the proof from the clone (docs/formats.md, "Fix package").
///
/// ```
///  <fix-id>/
///  ├── manifest.json      this structure: changes (contents by SHA-256), the operations
///  │                      that produced them, the findings, diagnosis and validation
///  ├── files/<sha256>     the new contents of every file the fix writes
///  └── SHA256SUMS         sha256sum(1) lines for manifest.json and files/*
/// ```
public struct FixManifest: Sendable, Codable, Hashable {
    /// One path the fix changes, in the order apply must follow (parents first).
    public struct Change: Sendable, Codable, Hashable {
        public enum Kind: String, Sendable, Codable { case file, symlink, directory, removed }
        public var path: String
        public var kind: Kind
        public var mode: UInt32?
        public var owner: UInt32?
        public var group: UInt32?
        /// SHA-256 of the new contents (`files/<sha256>`), for files.
        public var sha256: String?
        public var size: Int?
        /// The link target, for symbolic links.
        public var target: String?

        public init(path: String, kind: Kind, mode: UInt32? = nil, owner: UInt32? = nil, group: UInt32? = nil,
                    sha256: String? = nil, size: Int? = nil, target: String? = nil) {
            self.path = path
            self.kind = kind
            self.mode = mode
            self.owner = owner
            self.group = group
            self.sha256 = sha256
            self.size = size
            self.target = target
        }
    }

    /// One strategy the engine tried, in order, with its outcome.
    public struct Attempt: Sendable, Codable, Hashable {
        public var strategy: String
        public var validated: Bool
        /// Why it was skipped or failed; what passed when it validated.
        public var notes: [String]
        public var operations: [String]
        /// The validation checks it went through, when it got that far.
        public var checks: [ValidationReport.Check]

        public init(strategy: String, validated: Bool, notes: [String], operations: [String],
                    checks: [ValidationReport.Check] = []) {
            self.strategy = strategy
            self.validated = validated
            self.notes = notes
            self.operations = operations
            self.checks = checks
        }

        enum CodingKeys: String, CodingKey { case strategy, validated, notes, operations, checks }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            strategy = try container.decode(String.self, forKey: .strategy)
            validated = try container.decode(Bool.self, forKey: .validated)
            notes = try container.decode([String].self, forKey: .notes)
            operations = try container.decode([String].self, forKey: .operations)
            // Packages written before attempts carried their checks have none.
            checks = try container.decodeIfPresent([ValidationReport.Check].self, forKey: .checks) ?? []
        }
    }

    public static let currentFormat = 1

    public var format: Int
    /// A unique id: the fix package's name and the ledger's reference.
    public var id: String
    /// Seconds since the epoch when the fix was validated.
    public var created: Int
    public var failureClass: FailureClass
    public var strategy: StrategyDescriptor
    /// What was wrong: the findings the fix repairs.
    public var findings: [Finding]
    /// How the root cause was found, step by step, when diagnosis ran.
    public var diagnosis: Diagnosis?
    /// The operations as planned (file contents omitted: they are in `changes`).
    public var operations: [String]
    public var changes: [Change]
    public var validation: ValidationReport
    public var attempts: [Attempt]
    public var environment: String
    /// Whether the change needs a reboot to take effect (kernel, initramfs, boot loader,
    /// fstab, command line, libc or init).
    public var needsReboot: Bool
    /// For a block-level repair (`RepairOperation.checkFilesystem`): the device it repairs
    /// and what the check showed; nil for a fix made of file changes.
    public var filesystem: FilesystemRepair?
    /// The console of the boot that validated the fix (the microVM environment), kept in
    /// the package as `files/<sha256>` beside the contents; nil when no boot ran.
    public var bootConsole: Attachment?

    /// A file the package carries that no change writes.
    public struct Attachment: Sendable, Codable, Hashable {
        public var sha256: String
        public var size: Int

        public init(sha256: String, size: Int) {
            self.sha256 = sha256
            self.size = size
        }
    }

    /// One `files/<sha256>` of the package and what it is for (a path the fix writes, or
    /// "the boot console").
    public struct ContentsFile: Sendable, Hashable {
        public var sha256: String?
        public var size: Int?
        public var purpose: String
    }

    /// Every `files/<sha256>` the manifest names: the contents of the files it writes, then
    /// the boot console. Nothing else in the folder is ever read.
    public var contentsFiles: [ContentsFile] {
        changes.filter { $0.kind == .file }.map { ContentsFile(sha256: $0.sha256, size: $0.size, purpose: $0.path) }
            + (bootConsole.map { [ContentsFile(sha256: $0.sha256, size: $0.size, purpose: "the boot console")] } ?? [])
    }

    public init(id: String, created: Int, failureClass: FailureClass, strategy: StrategyDescriptor,
                findings: [Finding], operations: [String], changes: [Change], validation: ValidationReport,
                attempts: [Attempt], environment: String, needsReboot: Bool, diagnosis: Diagnosis? = nil) {
        self.format = Self.currentFormat
        self.id = id
        self.created = created
        self.failureClass = failureClass
        self.strategy = strategy
        self.findings = findings
        self.operations = operations
        self.changes = changes
        self.validation = validation
        self.attempts = attempts
        self.environment = environment
        self.needsReboot = needsReboot
        self.diagnosis = diagnosis
    }

    enum CodingKeys: String, CodingKey {
        case format, id, created, failureClass = "class", strategy, findings, diagnosis, operations, changes,
             validation, attempts, environment, needsReboot, filesystem, bootConsole
    }
}

/// What validation on the clone showed, check by check.
public struct ValidationReport: Sendable, Codable, Hashable {
    /// `inconclusive`: the check ran but could not tell (a boot under TCG that ran out of
    /// time); it fails nothing and proves nothing.
    public enum Verdict: String, Sendable, Codable { case passed, failed, notRun = "not-run", inconclusive }

    public struct Check: Sendable, Codable, Hashable {
        /// A stable name: `resolved`, `no-regressions`, `changes-declared`, `core-boot-chain`,
        /// `boot`, `stability`.
        public var name: String
        public var verdict: Verdict
        public var detail: String
        /// What the check saw, line by line (a boot's console excerpt); empty for most.
        public var evidence: [String]

        public init(name: String, verdict: Verdict, detail: String, evidence: [String] = []) {
            self.name = name
            self.verdict = verdict
            self.detail = detail
            self.evidence = evidence
        }

        // Written as `status`; packages written before it was renamed say `verdict`.
        enum CodingKeys: String, CodingKey { case name, status, verdict, detail, evidence }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            verdict = try container.decodeIfPresent(Verdict.self, forKey: .status)
                ?? container.decode(Verdict.self, forKey: .verdict)
            detail = try container.decode(String.self, forKey: .detail)
            evidence = try container.decodeIfPresent([String].self, forKey: .evidence) ?? []
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(verdict, forKey: .status)
            try container.encode(detail, forKey: .detail)
            try container.encode(evidence, forKey: .evidence)
        }
    }

    public var checks: [Check]

    public init(checks: [Check]) { self.checks = checks }

    /// Passed when no check failed. A check not run (a boot without a microVM) does not
    /// fail validation, but it is never reported as passed either.
    public var passed: Bool { !checks.contains { $0.verdict == .failed } }
}

extension FixManifest.Attempt {
    /// Whether the strategy ran on the clone. One skipped for an unmet precondition, or that
    /// could not plan, did not: it is no evidence against the strategy.
    public var ran: Bool { !operations.isEmpty }
}

extension Sequence<FixManifest.Attempt> {
    /// The `tried` detail of a repair record: the strategies that ran on the clone, in order
    /// (`StrategyOutcome.read` counts those that did not validate as failures).
    public var triedDetail: String { filter(\.ran).map(\.strategy).joined(separator: " ") }
}
