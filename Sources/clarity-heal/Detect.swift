import ArgumentParser
import FoundationEssentials
import HealCore
import HealSystem
import Logging

extension FailureClass: ExpressibleByArgument {}

extension ClarityHeal {
    struct Detect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Look for every known boot failure on a root.",
            discussion: """
                Exits 0 when the root is healthy, 1 when something was found, 3 when a
                detector could not look (nothing found elsewhere).
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp(
            "Read live pstore records from this folder instead of <root>/sys/fs/pstore.", valueName: "dir"))
        var pstore: String?

        @Option(name: .long, help: ArgumentHelp(
            "An image file or device node of the examined system, besides the block devices present (repeatable).",
            valueName: "file"))
        var device: [String] = []

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
            for file in device where FileReading.status(atPath: file, followLinks: true) == nil {
                throw ValidationError("cannot use --device \(file): it does not exist")
            }
        }

        func run() throws {
            global.bootstrapLogging()
            let logger = Logger(label: "clarity-heal.detect")
            let root = try global.systemRoot()
            let thresholds: Thresholds
            do {
                thresholds = try Config.load(root: root).thresholds
            } catch {
                printError("clarity-heal: \(error)")
                throw ExitStatus.usage
            }
            let context = DetectionContext(
                root: root, thresholds: thresholds, extraDevices: device,
                pstoreDirectory: pstore, countsCurrentBoot: currentBoot, logger: logger)
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
