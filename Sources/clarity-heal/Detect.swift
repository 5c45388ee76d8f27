import ArgumentParser
import HealCore
import HealSystem
import Logging

extension FailureClass: ExpressibleByArgument {}

extension ClarityHeal {
    struct Detect: ParsableCommand, RootedCommand {
        static let configuration = CommandConfiguration(
            abstract: "Look for every known boot failure on a root.",
            discussion: """
                Only reads. A bad setting in <root>/etc/clarity-heal/clarity-heal.conf is a
                warning naming its line, and its default is used. An apply or rollback a
                crash interrupted is reported, not finished (a command that writes does that).
                Exits 0 when the root is healthy, 1 when something was found, 3 when a
                detector could not look (nothing found elsewhere).
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var system: SystemOptions

        @Flag(name: .long, help: "Only the cheap checks of the boot path: pstore, boot counter, staged fixes.")
        var quick = false

        @Option(name: .customLong("class"), help: ArgumentHelp(
            "Run only the detectors of this failure class (repeatable).",
            valueName: "slug"))
        var classes: [FailureClass] = []

        @Flag(name: .long, help: "Count the boot in progress as not yet failed (the boot path sets this).")
        var currentBoot = false

        func validate() throws {
            _ = try global.systemRoot()
        }

        func run() throws {
            global.bootstrapLogging()
            let request = Request(
                root: try global.systemRoot(), json: global.json, quick: quick, classes: classes,
                devices: system.device, pstore: system.pstore, currentBoot: currentBoot)
            try Self.run(request)
        }

        /// What one `detect` run looks at, however its command line was read (ArgumentParser,
        /// or the boot path's `QuickDetect`).
        struct Request {
            var root: SystemRoot
            var json = false
            var quick = false
            var classes: [FailureClass] = []
            var devices: [String] = []
            var pstore: String?
            var currentBoot = false
        }

        static func run(_ request: Request) throws {
            let logger = Logger(label: "clarity-heal.detect")
            let config = SystemOptions.config(request.root)
            let notes = DocumentNotes(warnings: config.warnings, pendingRecovery: reportPendingRecovery(request.root))
            let context = DetectionContext(
                root: request.root, thresholds: config.config.thresholds, extraDevices: request.devices,
                pstoreDirectory: request.pstore, countsCurrentBoot: request.currentBoot, logger: logger)
            let classes = request.classes
            var engine = DetectionEngine()
            if !classes.isEmpty {
                engine.detectors.removeAll { detector in !detector.classes.contains { classes.contains($0) } }
            }
            var report = engine.run(context, quick: request.quick)
            if !classes.isEmpty {
                report.findings.removeAll { !classes.contains($0.failureClass) }
            }
            if request.json {
                try printJSON(report, notes: notes)
            } else {
                StandardOutput.write(ReportText.render(report))
            }
            if !report.findings.isEmpty { throw ExitStatus.findings }
            if !report.errors.isEmpty { throw ExitStatus.failedSafely }
        }
    }
}
