import FoundationEssentials
import Glibc
import HealCore
import HealSystem

/// Writes a line to stderr.
func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// What a command's one document carries besides its result: the config file's warnings
/// and an interrupted apply or rollback this command did not finish. Both are left out of
/// the document when there is nothing to say.
struct DocumentNotes {
    var warnings: [Config.Warning] = []
    var pendingRecovery: PendingRecovery?
}

/// The process's stdout, which carries one document at most.
enum Output {
    /// Whether `printJSON` wrote the document; the error path then prints none.
    nonisolated(unsafe) static var documentPrinted = false
}

/// Prints the one JSON document of a run on stdout, `notes` added to its top level.
func printJSON<T: Encodable>(_ value: T, notes: DocumentNotes = DocumentNotes()) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(Noted(value: value, notes: notes))
    Output.documentPrinted = true
    StandardOutput.write(String(decoding: data, as: UTF8.self) + "\n")
}

/// A result with the notes merged into its own JSON object: the result encodes its keys,
/// then the notes add theirs to the same keyed container (every result is a keyed struct).
private struct Noted<T: Encodable>: Encodable {
    var value: T
    var notes: DocumentNotes

    enum CodingKeys: String, CodingKey { case warnings, pendingRecovery }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
        guard !notes.warnings.isEmpty || notes.pendingRecovery != nil else { return }
        var container = encoder.container(keyedBy: CodingKeys.self)
        if !notes.warnings.isEmpty { try container.encode(notes.warnings, forKey: .warnings) }
        try container.encodeIfPresent(notes.pendingRecovery, forKey: .pendingRecovery)
    }
}

/// The readable form of a detection report, grouped by component in boot-chain order.
enum ReportText {
    static func render(_ report: DetectionReport) -> String {
        var out = ""
        let scope = report.quick ? "quick detection" : "detection"
        if report.findings.isEmpty {
            out += "\(report.root): no findings (\(scope))\n"
        } else {
            let noun = report.findings.count == 1 ? "finding" : "findings"
            out += "\(report.root): \(report.findings.count) \(noun) (\(scope))\n"
        }
        let order: [Component] = [.bootloader, .kernel, .drivers, .fileSystem, .systemServices, .securitySubsystems, .resources]
        for component in order {
            let group = report.findings.filter { $0.component == component }
            if group.isEmpty { continue }
            out += "\n\(component.rawValue)\n"
            for finding in group {
                out += "  \(finding.severity.rawValue.padded(9)) \(finding.failureClass.rawValue)\n"
                out += "            \(finding.summary)\n"
                for evidence in finding.evidence {
                    out += "            - \(evidence.source): \(evidence.detail)\n"
                }
            }
        }
        if !report.errors.isEmpty {
            out += "\ncould not check\n"
            for failure in report.errors {
                out += "  \(failure.detector): \(failure.message)\n"
            }
        }
        return out
    }
}

extension RecoveryReport {
    /// One line for a person about an apply or rollback a crash interrupted.
    var sentence: String {
        "recovered an interrupted \(operation.rawValue) of \(fixID): \(action.rawValue)"
    }
}
