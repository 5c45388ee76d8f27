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

    /// The outcomes of `records` after `afterSeq` (what was sent before stays out), read by
    /// `StrategyOutcome.read`, the same reading this machine's ranking uses. A fix that failed
    /// verification and was rolled back is one `failed-after-apply`.
    public static func outcomes(_ records: [LedgerRecord], machineHash: String, afterSeq: Int = 0) -> [Outcome] {
        var failedFixes: Set<String> = []
        return StrategyOutcome.read(records).compactMap { read -> Outcome? in
            let signature = SystemProfile.token(read.signature), strategy = SystemProfile.token(read.strategy)
            guard read.seq > afterSeq, signature != "unknown", strategy != "unknown" else { return nil }
            let result: Outcome.Result
            switch read.result {
            case .validated: result = .validated
            case .failedValidation: result = .failedValidation
            case .verified: result = .verified
            case .gaveUp: result = .gaveUp
            case .failedVerification, .rolledBack:
                guard failedFixes.insert(strategy + " " + (read.fix ?? "seq \(read.seq)")).inserted else { return nil }
                result = .failedAfterApply
            }
            return Outcome(id: String(sha256Hex(machineHash + ":\(read.seq):" + strategy).prefix(32)), signature: signature,
                           strategy: strategy, result: result, day: day(read.time))
        }
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
