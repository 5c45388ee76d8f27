/// The machine's repair state as the ledger and the state folders tell it: what `clarity-heal
/// status` prints. Derived in pure code from what HealSystem read.
public struct RepairState: Sendable, Hashable, Codable {
    /// Where one fix stands.
    public struct Fix: Sendable, Hashable, Codable {
        public enum Phase: String, Sendable, Hashable, Codable {
            /// Proven on a clone, not yet written to this root.
            case validated
            /// Waiting under `staged/` for the next boot's initramfs.
            case staged
            /// Written to this root.
            case applied
            /// Refused, failed, or an interrupted apply that was undone: the root is as before.
            case notApplied = "not-applied"
            /// Taken back from its backup.
            case rolledBack = "rolled-back"
        }

        /// The post-boot verdict of an applied fix.
        public enum Verification: String, Sendable, Hashable, Codable {
            case pending, good, failed
            case rolledBack = "rolled-back"
        }

        public var id: String
        public var failureClass: String?
        public var strategy: String?
        public var phase: Phase
        /// Nil until the fix reached this root.
        public var verification: Verification?
        /// The last record about the fix (nil for a fix only seen in a state folder).
        public var lastSeq: Int?
        public var lastTime: Int?
        public var backup: String?
        public var backupSHA256: String?

        enum CodingKeys: String, CodingKey {
            case id, failureClass = "class", strategy, phase, verification, lastSeq, lastTime, backup, backupSHA256
        }
    }

    /// An apply or rollback a crash cut short: its journal is still there. The next command
    /// that applies or rolls back finishes or undoes it.
    public struct Interrupted: Sendable, Hashable, Codable {
        /// `apply` or `rollback`, when the journal says.
        public var operation: String?
        public var fix: String?
        public var journal: String

        public init(operation: String?, fix: String?, journal: String) {
            self.operation = operation
            self.fix = fix
            self.journal = journal
        }
    }

    public var root: String
    public var lastDetection: LedgerRecord?
    public var fixes: [Fix]
    /// Ids of fixes waiting for the next boot, from `staged/` and the ledger.
    public var staged: [String]
    public var interrupted: Interrupted?
    /// The last give-up record, unless a fix verified good after it.
    public var gaveUp: LedgerRecord?
    /// How many records the ledger holds, and how many lines were not records.
    public var records: Int
    public var skippedLines: Int
    public var tornTail: Bool

    /// What the state asks of the caller: `status` exits 0, 1 or 4 (docs/cli.md, "status").
    public enum Attention: String, Sendable, Hashable, Codable {
        /// Nothing in progress.
        case none
        /// Repair work is under way: a staged fix, an unverified or failed verification, an
        /// interrupted apply.
        case inProgress = "in-progress"
        /// The attempt bound was reached: a person must act.
        case needsPerson = "needs-person"
    }

    public var attention: Attention {
        if gaveUp != nil { return .needsPerson }
        if interrupted != nil || !staged.isEmpty { return .inProgress }
        if fixes.contains(where: { $0.verification == .pending || $0.verification == .failed }) { return .inProgress }
        return .none
    }

    enum CodingKeys: String, CodingKey {
        case root, lastDetection, fixes, staged, interrupted, gaveUp, records, skippedLines, tornTail, attention
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(root, forKey: .root)
        try container.encodeIfPresent(lastDetection, forKey: .lastDetection)
        try container.encode(fixes, forKey: .fixes)
        try container.encode(staged, forKey: .staged)
        try container.encodeIfPresent(interrupted, forKey: .interrupted)
        try container.encodeIfPresent(gaveUp, forKey: .gaveUp)
        try container.encode(records, forKey: .records)
        try container.encode(skippedLines, forKey: .skippedLines)
        try container.encode(tornTail, forKey: .tornTail)
        try container.encode(attention, forKey: .attention)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        root = try container.decode(String.self, forKey: .root)
        lastDetection = try container.decodeIfPresent(LedgerRecord.self, forKey: .lastDetection)
        fixes = try container.decode([Fix].self, forKey: .fixes)
        staged = try container.decode([String].self, forKey: .staged)
        interrupted = try container.decodeIfPresent(Interrupted.self, forKey: .interrupted)
        gaveUp = try container.decodeIfPresent(LedgerRecord.self, forKey: .gaveUp)
        records = try container.decode(Int.self, forKey: .records)
        skippedLines = try container.decode(Int.self, forKey: .skippedLines)
        tornTail = try container.decode(Bool.self, forKey: .tornTail)
    }

    /// Folds the ledger's records (oldest first) and the state folders into one state.
    /// - Parameters:
    ///   - applied: fix ids found under `applied/` whose state says applied.
    ///   - rolledBack: fix ids found under `applied/` whose state says rolled back.
    ///   - staged: fix ids found under `staged/`.
    public init(root: String, records: [LedgerRecord], skippedLines: Int = 0, tornTail: Bool = false,
                applied: [String] = [], rolledBack: [String] = [], staged: [String] = [],
                interrupted: Interrupted? = nil) {
        self.root = root
        self.records = records.count
        self.skippedLines = skippedLines
        self.tornTail = tornTail
        self.interrupted = interrupted
        lastDetection = records.last { $0.kind == .detection }

        var order: [String] = []
        var fixes: [String: Fix] = [:]
        var gaveUp: LedgerRecord?
        for record in records {
            if record.kind == .giveUp { gaveUp = record }
            guard let id = record.fix else { continue }
            var fix = fixes[id] ?? Fix(id: id, phase: .validated)
            if fixes[id] == nil { order.append(id) }
            fix.failureClass = record.failureClass ?? fix.failureClass
            fix.strategy = record.strategy ?? fix.strategy
            fix.lastSeq = record.seq
            fix.lastTime = record.time
            if let backup = record.detail["backup"] { fix.backup = backup }
            if let sha = record.detail["backupSHA256"] { fix.backupSHA256 = sha }
            Self.advance(&fix, with: record)
            if fix.verification == .good { gaveUp = nil }
            fixes[id] = fix
        }
        // The folders are the apply engine's truth about files on disk; the ledger may lag
        // behind them after a crash between the change and its record.
        for id in applied where fixes[id] == nil {
            order.append(id)
            fixes[id] = Fix(id: id, phase: .applied, verification: .pending)
        }
        for id in applied {
            if var fix = fixes[id], fix.phase != .applied && fix.phase != .rolledBack {
                fix.phase = .applied
                fix.verification = fix.verification ?? .pending
                fixes[id] = fix
            }
        }
        for id in rolledBack {
            if fixes[id] == nil { order.append(id) }
            var fix = fixes[id] ?? Fix(id: id, phase: .rolledBack)
            fix.phase = .rolledBack
            fix.verification = .rolledBack
            fixes[id] = fix
        }
        for id in staged {
            if fixes[id] == nil { order.append(id) }
            var fix = fixes[id] ?? Fix(id: id, phase: .staged)
            if fix.phase == .validated || fix.phase == .notApplied { fix.phase = .staged }
            fixes[id] = fix
        }
        var stagedIDs = staged
        for id in order where fixes[id]?.phase == .staged && !stagedIDs.contains(id) { stagedIDs.append(id) }
        self.staged = stagedIDs
        self.fixes = order.compactMap { fixes[$0] }
        self.gaveUp = gaveUp
    }

    /// One record's effect on where a fix stands.
    static func advance(_ fix: inout Fix, with record: LedgerRecord) {
        switch (record.kind, record.outcome) {
        case (.stage, .staged):
            fix.phase = .staged
        case (.apply, .applied), (.apply, .recovered), (.bootApply, .applied), (.bootApply, .recovered):
            fix.phase = .applied
            fix.verification = .pending
        case (.apply, .refused), (.apply, .failed), (.apply, .undone),
             (.bootApply, .failed), (.bootApply, .undone), (.bootApply, .refused):
            if fix.phase != .applied { fix.phase = .notApplied }
        case (.verification, .good):
            fix.verification = .good
        case (.verification, .failed):
            fix.verification = .failed
        case (.rollback, .rolledBack):
            fix.phase = .rolledBack
            fix.verification = .rolledBack
        default:
            break
        }
    }
}

extension RepairState.Fix {
    init(id: String, phase: Phase, verification: Verification? = nil) {
        self.id = id
        self.phase = phase
        self.verification = verification
    }
}
