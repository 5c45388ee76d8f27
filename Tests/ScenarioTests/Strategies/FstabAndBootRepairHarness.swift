import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Runs one repair strategy the way the engine does, on a broken overlay copy of the real
/// Debian root: detect on the clone, plan, execute in an `OverlayEnvironment`, read the
/// changeset, validate. The break happens in the copy; the strategy only ever sees the
/// environment's clone above it.
final class BootRepairRun {
    let copy: OverlayCopy
    let scratch: TemporaryDirectory
    let environment: OverlayEnvironment
    let extraDevices: [String]
    let baseline: DetectionReport

    init(_ copy: OverlayCopy, extraDevices: [String] = []) throws {
        self.copy = copy
        self.extraDevices = [TestRoot.image] + extraDevices
        scratch = try TemporaryDirectory(prefix: "repair")
        environment = try OverlayEnvironment(lower: SystemRoot(copy.path), scratch: scratch.path + "/env")
        baseline = DetectionEngine().run(DetectionContext(root: environment.root, extraDevices: self.extraDevices))
    }

    deinit { environment.tearDown() }

    var detectionContext: DetectionContext {
        DetectionContext(root: environment.root, extraDevices: extraDevices)
    }

    /// The clone's first finding of `failureClass`, as the engine would hand it on.
    func finding(_ failureClass: FailureClass) throws -> Finding {
        try #require(baseline.findings.first { $0.failureClass == failureClass },
                     "no \(failureClass.rawValue) among \(baseline.findings.map(\.summary))")
    }

    func context(_ failureClass: FailureClass) throws -> RepairContext {
        RepairContext(root: environment.root, finding: try finding(failureClass), extraDevices: extraDevices)
    }

    struct Outcome {
        var operations: [RepairOperation]
        var outcomes: [OperationOutcome]
        var changes: Changeset
        var report: ValidationReport

        func verdict(_ name: String) -> ValidationReport.Verdict? {
            report.checks.first { $0.name == name }?.verdict
        }

        /// Every check that must pass on a clone did, and the boot is reported as not run.
        var validated: Bool {
            ["resolved", "no-regressions", "changes-declared", "core-boot-chain"].allSatisfy { verdict($0) == .passed }
                && verdict("boot") == .notRun && outcomes.allSatisfy(\.succeeded)
        }

        var explanation: String {
            (report.checks.map { "\($0.name): \($0.verdict.rawValue) — \($0.detail)" }
                + outcomes.map { "\($0.operation): \($0.detail)" }).joined(separator: "\n")
        }
    }

    /// Plans `strategy` for the clone's `failureClass` finding, executes it and validates.
    func repair(_ failureClass: FailureClass, with strategy: any RepairStrategy) throws -> Outcome {
        let context = try context(failureClass)
        #expect(strategy.unmetPrecondition(context) == nil)
        let operations = try strategy.plan(context)
        let snapshot = try environment.snapshot()
        let outcomes = environment.execute(operations)
        let changes = try environment.changes(since: snapshot)
        let report = Validator().validate(repairing: failureClass, context: detectionContext, baseline: baseline,
                                          operations: operations, changes: changes)
        return Outcome(operations: operations, outcomes: outcomes, changes: changes, report: report)
    }

    /// The text of a file in the clone.
    func text(_ path: String) throws -> String {
        try String(contentsOfFile: environment.root.host(path), encoding: .utf8)
    }

    /// The new contents of `path` in a changeset.
    static func written(_ changes: Changeset, _ path: String) -> String? {
        guard case .file(let contents, _, _, _) = changes.changes[path] else { return nil }
        return String(decoding: contents, as: UTF8.self)
    }
}

/// Breaks applied to a writable copy.
enum Break {
    /// Replaces a file (removed first, so the overlay holds a new file).
    static func write(_ copy: OverlayCopy, _ path: String, _ text: String) throws {
        try? FileManager.default.removeItem(atPath: copy.at(path))
        try text.write(toFile: copy.at(path), atomically: false, encoding: .utf8)
    }

    static func edit(_ copy: OverlayCopy, _ path: String, _ transform: (String) -> String) throws {
        let before = try String(contentsOfFile: copy.at(path), encoding: .utf8)
        let after = transform(before)
        precondition(after != before, "edit of \(path) changed nothing")
        try write(copy, path, after)
    }

    static func originalFstab() throws -> String {
        try String(contentsOfFile: TestRoot.root + "/etc/fstab", encoding: .utf8)
    }
}

/// A small ext4 filesystem image with a label, standing for a second disk of the machine.
final class LabelledImage {
    let folder: TemporaryDirectory
    let path: String
    let uuid: String

    init(label: String, type: String = "ext4") throws {
        folder = try TemporaryDirectory(prefix: "disk")
        path = folder.path + "/\(label).img"
        _ = try Tool.run("/usr/bin/truncate", ["-s", "8M", path])
        let made = type == "swap"
            ? try Tool.run("/sbin/mkswap", ["-L", label, path])
            : try Tool.run("/sbin/mkfs.\(type)", ["-q", "-F", "-L", label, path])
        guard made.status == 0 else { throw Tool.Failure(message: "mkfs failed: \(made.stderr)") }
        uuid = try Tool.run("/sbin/blkid", ["-p", "-s", "UUID", "-o", "value", path]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension StrategyCatalogue {
    /// The registered strategy with this id (so the tests also prove it is registered).
    static func strategy(_ id: String) throws -> any RepairStrategy {
        try #require(all.first { $0.descriptor.id == id }, "no strategy \(id) in the catalogue")
    }
}
