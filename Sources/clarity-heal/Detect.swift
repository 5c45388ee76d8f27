import ArgumentParser
import FoundationEssentials
import HealCore
import HealSystem
import Logging

extension FailureClass: ExpressibleByArgument {}

extension ClarityHeal {
    struct Detect: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "Look for every known boot failure on a root.",
            discussion: """
                Exits 0 when the root is healthy, 1 when something was found, 3 when a
                detector could not look (nothing found elsewhere).
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var system: SystemOptions



        @Flag(name: .long, help: "Only the cheap checks of the boot path: pstore, boot counter, staged fixes.")
        var quick = false

        @Option(name: .customLong("class"), help: ArgumentHelp(
            "Run only the detectors of this failure class (repeatable; slugs of DESIGN.md §4).",
            valueName: "slug"))
        var classes: [FailureClass] = []

        @Flag(name: .long, help: "Count the boot in progress as not yet failed (the boot path sets this).")
        var currentBoot = false

        func validate() throws {
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let logger = Logger(label: "clarity-heal.detect")
            let root = try global.systemRoot()
            let thresholds = try SystemOptions.thresholds(root)
            let context = DetectionContext(
                root: root, thresholds: thresholds, extraDevices: system.device,
                pstoreDirectory: system.pstore, countsCurrentBoot: currentBoot, logger: logger)
            var engine = DetectionEngine()
            if !classes.isEmpty {
                engine.detectors.removeAll { detector in !detector.classes.contains { classes.contains($0) } }
            }
            var report = engine.run(context, quick: quick)
            if !classes.isEmpty {
                report.findings.removeAll { !classes.contains($0.failureClass) }
            }
            if global.json {
                try printJSON(report)
            } else {
                print(ReportText.render(report), terminator: "")
            }
            if !report.findings.isEmpty { throw ExitStatus.findings }
            if !report.errors.isEmpty { throw ExitStatus.failedSafely }
        }
    }
}
