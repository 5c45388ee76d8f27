import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Small real fix packages and process helpers for the command-line contract suites
/// (CLIContractTests, RootLockTests, ConfigWarningTests, PendingRecoveryTests).
enum CLIFixtures {
    /// A fix package `id` that makes `folders` and writes `files` (path on the root →
    /// contents), made by the real package writer; kept in `out`.
    static func package(_ id: String, files: [String: String], folders: [String] = [],
                        into out: TemporaryDirectory) throws -> String {
        var changeset = Changeset()
        for folder in folders {
            changeset.changes[folder] = .directory(mode: 0o755, owner: 0, group: 0)
        }
        for (path, contents) in files {
            changeset.changes[path] = .file(contents: Array(contents.utf8), mode: 0o644, owner: 0, group: 0)
        }
        let (entries, blobs) = FixPackage.changes(of: changeset)
        let manifest = FixManifest(
            id: id, created: 1, failureClass: .systemFileCorrupt,
            strategy: StrategyDescriptor(id: "test", title: "test", classes: [.systemFileCorrupt], risk: 1,
                                         sideEffects: "none", priorEffectiveness: 1, estimatedSeconds: 1),
            findings: [], operations: [], changes: entries, validation: ValidationReport(checks: []), attempts: [],
            environment: "overlay", needsReboot: false)
        return try FixPackage.write(manifest, files: blobs, into: out.path).directory
    }

    /// `count` files under `folder`, each a few kilobytes, so an apply takes long enough
    /// for another process to run into it.
    static func files(under folder: String, count: Int, tag: String) -> [String: String] {
        var files: [String: String] = [:]
        for index in 0..<count {
            files["\(folder)/file-\(index)"] = String(repeating: "\(tag) \(index)\n", count: 400)
        }
        return files
    }

    /// How a run ended: its exit status (minus the signal when one killed it) and output.
    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `clarity-heal` with `arguments` and waits for it.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try Running(arguments, environment: environment).finish()
    }

    /// A started `clarity-heal`; `finish()` waits for it and collects its output.
    final class Running: @unchecked Sendable {
        let process = Process()
        private let out = Pipe(), err = Pipe()
        private var outData = Data(), errData = Data()
        private let group = DispatchGroup()

        init(_ arguments: [String], executable: String = Tool.clarityHeal, environment: [String: String] = [:]) throws {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            // Both pipes drained while it runs, so a chatty process never blocks on a full one.
            group.enter()
            DispatchQueue.global().async { [self] in outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
            group.enter()
            DispatchQueue.global().async { [self] in errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        }

        var pid: Int32 { process.processIdentifier }

        func finish() -> Result {
            group.wait()
            process.waitUntilExit()
            let status = process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
            return Result(status: status, stdout: String(decoding: outData, as: UTF8.self),
                               stderr: String(decoding: errData, as: UTF8.self))
        }
    }

    /// Runs `clarity-heal` and waits; the seconds it took come back with the result.
    static func timed(_ arguments: [String]) throws -> (Result, Double) {
        let start = Date()
        let result = try Running(arguments).finish()
        return (result, Date().timeIntervalSince(start))
    }

    /// The one JSON object a `--json` run printed, or a recorded issue saying why not.
    static func document(_ result: Result, _ context: String,
                         sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any]? {
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            Issue.record("\(context): stdout is not one JSON object: \(result.stdout.debugDescription); stderr: \(result.stderr)",
                         sourceLocation: sourceLocation)
            return nil
        }
        return object
    }

    /// Whether the journal of an apply or rollback is on `root`.
    static func hasJournal(_ root: String) -> Bool {
        FileManager.default.fileExists(atPath: root + "/var/lib/clarity-heal/journal")
    }
}
