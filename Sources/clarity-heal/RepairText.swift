import HealCore
import HealSystem

/// The readable forms of `repair` and `repair --dry-run`.
enum RepairText {
    /// - Parameter applying: the caller applies the fix itself (`heal`): no "apply it with".
    static func render(_ result: RepairPipeline.Result, applying: Bool = false) -> String {
        guard let finding = result.finding else { return "\(result.root): nothing to repair\n" }
        var out = "\(result.root): repairing \(finding.failureClass.rawValue) in the \(result.environment ?? "?") environment\n"
        out += "  \(finding.summary)\n\nstrategies tried\n"
        for attempt in result.attempts {
            out += "  \(attempt.validated ? "validated" : "failed   ") \(attempt.strategy)\n"
            for note in attempt.notes { out += "            \(note)\n" }
        }
        switch result.status {
        case .healthy:
            break
        case .validated:
            out += "\nfix package: \(result.fixPackage ?? "?")\n"
            for check in result.validation?.checks ?? [] {
                out += "  \(check.verdict.rawValue.padded(8)) \(check.name): \(check.detail)\n"
            }
            if !applying { out += "\napply it with: clarity-heal apply \(result.fixPackage ?? "FIX")\n" }
        case .unrepairable where result.attempts.isEmpty && result.environment == nil:
            // Nothing was tried: the crash is not to be repaired (PanicRoute).
            out += "  none: \(result.advice ?? "")\n"
        case .unrepairable:
            out += "\nno strategy validated. What to do: \(result.advice ?? "")\n"
        }
        if !result.remaining.isEmpty {
            out += applying ? "\nalso found before the repair (the next boot's verification looks again):\n"
                : "\nalso found (run repair again after applying):\n"
            for other in result.remaining { out += "  \(other.failureClass.rawValue): \(other.summary)\n" }
        }
        return out
    }

    static func render(_ dryRun: RepairPipeline.DryRun) -> String {
        guard let finding = dryRun.finding else { return "\(dryRun.root): nothing to repair\n" }
        if let route = dryRun.route, route.decision != .repair {
            return "\(dryRun.root): \(finding.failureClass.rawValue) found, nothing would be repaired\n  \(finding.summary)\n  \(route.summary)\n"
        }
        var out = "\(dryRun.root): would repair \(finding.failureClass.rawValue)\n  \(finding.summary)\n"
        if let route = dryRun.route {
            out += "  crash \(route.summary)\n"
        }
        out += "\ncandidates, in the order they would be tried\n"
        if dryRun.candidates.isEmpty { out += "  none: no strategy repairs this class\n" }
        for (index, candidate) in dryRun.candidates.enumerated() {
            let d = candidate.strategy
            let expected = Int(((candidate.rank?.score ?? d.priorEffectiveness) * 100).rounded())
            out += "  \(index + 1). \(d.id) (expected \(expected) %, risk \(d.risk)/10, ~\(d.estimatedSeconds) s)\n"
            out += "     \(d.title)\n"
            if let rank = candidate.rank, rank.position != rank.priorPosition || !rank.local.isEmpty || rank.fleet != nil {
                out += "     ranked: \(rank.why)\n"
            }
            if let reason = candidate.unmetPrecondition { out += "     skipped: \(reason)\n" }
            if let error = candidate.planError { out += "     cannot plan: \(error)\n" }
            for operation in candidate.operations { out += "     - \(operation)\n" }
        }
        for use in dryRun.insights where use.ignored != nil {
            out += "  fleet insight on \(use.insight.strategy) not used: \(use.ignored ?? "")\n"
        }
        return out
    }
}

extension String {
    func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
