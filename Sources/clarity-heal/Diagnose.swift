import ArgumentParser
import HealCore
import HealSystem
import Logging

extension ClarityHeal {
    struct Diagnose: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find the root cause of a boot failure, broad to narrow along the boot chain.",
            discussion: """
                Runs the detectors stage by stage (boot loader, kernel, initramfs, root device,
                fstab, init, services, resources, integrity), adds targeted steps when one finds
                something (a crashing module: its file, dependencies, initramfs, package), and
                settles the root cause with the knowledge base: the built-in signatures plus
                <root>/etc/clarity-heal/knowledge.d/*.json. Only reads: a bad config setting is
                a warning (its default is used), an interrupted apply is reported, not finished.
                Exits 0 when healthy, 1 when a root cause was found, 2 on a usage error or a bad
                knowledge file, 3 when nothing was found but a step could not look.
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var system: SystemOptions

        func validate() throws {
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let logger = Logger(label: "clarity-heal.diagnose")
            let root = try global.systemRoot()
            let config = SystemOptions.config(root)
            let knowledge: KnowledgeBase
            do {
                knowledge = try KnowledgeBase.load(root: root)
            } catch {
                throw CommandFailure(.config, "\(error)", status: ExitStatus.usage)
            }
            let notes = DocumentNotes(warnings: config.warnings, pendingRecovery: reportPendingRecovery(root))
            let context = DetectionContext(root: root, thresholds: config.config.thresholds, extraDevices: system.device,
                                           pstoreDirectory: system.pstore, logger: logger)
            let diagnosis = Diagnoser(knowledgeBase: knowledge).run(context)
            if global.json {
                try printJSON(diagnosis, notes: notes)
            } else {
                print(DiagnosisText.render(diagnosis), terminator: "")
            }
            if diagnosis.rootCause != nil { throw ExitStatus.findings }
            if !diagnosis.errors.isEmpty { throw ExitStatus.failedSafely }
        }
    }
}

/// The readable form of a diagnosis: the verdict first, then the evidence, then every step.
enum DiagnosisText {
    static func render(_ diagnosis: Diagnosis) -> String {
        var out = ""
        guard let cause = diagnosis.rootCause else {
            out += "\(diagnosis.root): no root cause found (\(diagnosis.steps.count) steps)\n"
            out += errors(diagnosis) + steps(diagnosis)
            return out
        }
        out += "\(diagnosis.root): root cause \(cause.failureClass.rawValue) (confidence \(percent(cause.confidence)))\n"
        out += "  \(cause.explanation)\n"
        out += "  signature: \(cause.signature)\n"
        if !cause.specifics.isEmpty {
            out += "  specifics:\n"
            for (name, value) in cause.specifics.sorted(by: { $0.key < $1.key }) { out += "    \(name): \(value)\n" }
        }
        out += "  affected: \(diagnosis.affectedComponents.map(\.rawValue).joined(separator: ", "))\n"
        if let estimate = diagnosis.estimatedRepair {
            out += "  estimated repair: \(estimate.seconds) s, at most \(estimate.worstCaseSeconds) s (\(estimate.basis))\n"
        }
        out += "\nevidence\n" + findings(cause.findings)
        if !diagnosis.otherFindings.isEmpty {
            out += "\nother findings\n" + findings(diagnosis.otherFindings)
        }
        return out + errors(diagnosis) + steps(diagnosis)
    }

    private static func percent(_ value: Double) -> String {
        "\(Int((value * 100).rounded())) %"
    }

    private static func findings(_ list: [Finding]) -> String {
        var out = ""
        for finding in list {
            out += "  \(finding.failureClass.rawValue): \(finding.summary)\n"
            for evidence in finding.evidence { out += "    - \(evidence.source): \(evidence.detail)\n" }
        }
        return out
    }

    private static func errors(_ diagnosis: Diagnosis) -> String {
        guard !diagnosis.errors.isEmpty else { return "" }
        return "\ncould not check\n" + diagnosis.errors.map { "  \($0.step): \($0.message)\n" }.joined()
    }

    private static func steps(_ diagnosis: Diagnosis) -> String {
        var out = "\nsteps\n"
        for (index, step) in diagnosis.steps.enumerated() {
            out += "  \(index + 1). [\(step.stage.rawValue)] \(step.name)\n"
            if let reason = step.reason { out += "     because \(reason)\n" }
            for ran in step.ran { out += "     ran \(ran)\n" }
            if step.found.isEmpty { out += "     found nothing\n" }
            for found in step.found { out += "     \(step.significant ? "!" : "-") \(found.source): \(found.detail)\n" }
        }
        return out
    }
}
