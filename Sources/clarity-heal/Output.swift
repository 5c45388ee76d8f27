import FoundationEssentials
import Glibc
import HealCore
import HealSystem

/// Writes a line to stderr.
func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Prints one JSON document on stdout (docs/cli.md, "JSON conventions").
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    StandardOutput.write(String(decoding: data, as: UTF8.self) + "\n")
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
