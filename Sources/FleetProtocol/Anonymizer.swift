import HealCore

/// Turns a machine's ledger into the outcomes it may send (issue 12: anonymized before they
/// leave the machine). Only the class slug, the strategy id (both checked to be slugs), the
/// result and the day go; a record's fix id, paths, devices, reasons and time of day stay.
/// The machine is named by a hash of its machine-id salted per fleet, never by the id.
public enum Anonymizer {
    /// The machine's name in the fleet: hex SHA-256 of the fleet's salt and the machine-id.
    public static func machineHash(machineID: String, salt: String) -> String {
        sha256Hex("clarity-fleet machine\n" + salt + "\n" + trimmed(machineID))
    }

    /// The outcomes of `records` after `afterSeq` (what was sent before stays out).
    public static func outcomes(_ records: [LedgerRecord], machineHash: String, afterSeq: Int = 0) -> [Outcome] {
        var outcomes: [Outcome] = []
        var failedFixes: Set<String> = []
        for record in records where record.seq > afterSeq {
            guard let signature = record.failureClass.map(SystemProfile.token), signature != "unknown" else { continue }
            func add(_ strategy: String, _ result: Outcome.Result) {
                let strategy = SystemProfile.token(strategy)
                guard strategy != "unknown" else { return }
                outcomes.append(Outcome(id: String(sha256Hex(machineHash + ":\(record.seq):" + strategy).prefix(32)), signature: signature,
                                        strategy: strategy, result: result, day: day(record.time)))
            }
            let tried = (record.detail["tried"] ?? "").split(separator: " ").map(String.init)
            switch (record.kind, record.outcome) {
            case (.repair, .validated):
                guard let strategy = record.strategy else { continue }
                for other in tried where other != strategy { add(other, .failedValidation) }
                add(strategy, .validated)
            case (.repair, .unrepairable):
                for strategy in tried { add(strategy, .failedValidation) }
            case (.verification, .good):
                if let strategy = record.strategy { add(strategy, .verified) }
            case (.verification, .failed), (.rollback, .rolledBack):
                // Once per fix: a failed verification is followed by its rollback.
                guard let strategy = record.strategy, failedFixes.insert(record.fix ?? "seq \(record.seq)").inserted else { continue }
                add(strategy, .failedAfterApply)
            case (.giveUp, _):
                if let strategy = record.strategy { add(strategy, .gaveUp) }
            default:
                continue
            }
        }
        return outcomes
    }

    /// `YYYY-MM-DD` of a time, UTC.
    public static func day(_ seconds: Int) -> String {
        let time = CivilTime(seconds: Int64(seconds))
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(time.year)-\(two(time.month))-\(two(time.day))"
    }
}

/// `text` without leading and trailing whitespace (a machine-id file ends in a newline).
func trimmed(_ text: String) -> String {
    var scalars = Substring(text)
    while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
    while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
    return String(scalars)
}
