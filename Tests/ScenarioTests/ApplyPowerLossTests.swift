import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Power loss during `clarity-heal apply` and `rollback`: the real binary is killed with
/// SIGKILL at every crash point in turn (`CLARITY_HEAL_CRASH_AFTER_STEP`, a test hook: each
/// durable journal record, each temporary file before its rename, each rename), for real
/// fix packages of six classes. After each kill, every path of the fix is its old or its
/// new version; the next command finishes the job; the backup verifies; the ledger holds
/// one record per finished operation.
@Suite(.serialized)
struct ApplyPowerLossTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func clarityHeal(_ arguments: [String], crashAfter: Int? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tool.clarityHeal)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["CLARITY_HEAL_CRASH_AFTER_STEP"] = crashAfter.map(String.init)
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let killed = process.terminationReason == .uncaughtSignal
        return Run(status: killed ? -process.terminationStatus : process.terminationStatus,
                   stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Every path is `old` or `new`; returns how many are new.
    static func expectOldOrNew(_ root: String, old: [String: String], new: [String: String],
                               _ context: String) -> Int {
        var newCount = 0
        for (path, expected) in new {
            let now = ApplyFixtures.snapshot(root, path)
            #expect(now == expected || now == old[path], "\(context): \(path) is \(now), neither old \(old[path] ?? "?") nor new \(expected)")
            if now == expected && now != old[path] { newCount += 1 }
        }
        return newCount
    }

    static func expectLedgerConsistent(_ root: String, fix: String, applies: Int, rollbacks: Int, _ context: String) throws {
        let records = try ApplyFixtures.ledger(root, fix: fix)
        let finished = records.filter { ($0.kind == .apply && [.applied, .recovered].contains($0.outcome)) }
        let undone = records.filter { $0.kind == .rollback && $0.outcome == .rolledBack }
        #expect(finished.count == applies, "\(context): \(records.map { "\($0.kind.rawValue) \($0.outcome)" })")
        #expect(undone.count == rollbacks, "\(context): \(records.map { "\($0.kind.rawValue) \($0.outcome)" })")
    }

    @Test(arguments: ApplyFixtures.scenarios)
    func applyKilledAtEveryCrashPoint(_ scenario: ApplyFixtures.Scenario) throws {
        let packagePath = try ApplyFixtures.package(scenario)
        let manifest = try FixPackage.open(packagePath).manifest
        let new = ApplyFixtures.expectedNew(manifest)
        var point = 1
        while point < 500 {
            let copy = try TestRoot.writableCopy()
            try scenario.breakRoot(copy)
            let old = Dictionary(uniqueKeysWithValues: new.keys.map { ($0, ApplyFixtures.snapshot(copy.path, $0)) })
            let run = try Self.clarityHeal(["apply", packagePath, "--root", copy.path, "--json"], crashAfter: point)
            if run.status == 0 {
                // No crash point left: the apply ran to its end.
                #expect(Self.expectOldOrNew(copy.path, old: old, new: new, "complete") == new.count { $0.value != old[$0.key] })
                break
            }
            #expect(run.status == -9, "crash point \(point): \(run.stderr)")
            let context = "\(scenario.expected.rawValue) apply killed at point \(point)"
            _ = Self.expectOldOrNew(copy.path, old: old, new: new, context + ", before recovery")

            // The next command: alternately apply again (finishes the fix) and rollback
            // (finishes it, then undoes it from the backup).
            if point % 2 == 1 {
                let next = try Self.clarityHeal(["apply", packagePath, "--root", copy.path, "--json"])
                #expect(next.status == 0, "\(context): \(next.stderr)")
                let changed = Self.expectOldOrNew(copy.path, old: old, new: new, context + ", after apply")
                #expect(changed == new.count { $0.value != old[$0.key] }, "\(context): not every path is new")
                try Applier(root: SystemRoot(copy.path)).verifyBackup(manifest.id)
                try Self.expectLedgerConsistent(copy.path, fix: manifest.id, applies: 1, rollbacks: 0, context)
            } else {
                let next = try Self.clarityHeal(["rollback", "--root", copy.path, "--json"])
                let state = try Applier(root: SystemRoot(copy.path)).appliedFix(manifest.id)
                if let state {
                    #expect(next.status == 0, "\(context): \(next.stderr)")
                    #expect(state.state == .rolledBack)
                    try Applier(root: SystemRoot(copy.path)).verifyBackup(manifest.id)
                    try Self.expectLedgerConsistent(copy.path, fix: manifest.id, applies: 1, rollbacks: 1, context)
                } else {
                    // Killed before the backup was verified: recovery discarded the apply.
                    #expect(next.status == 3, "\(context): \(next.stderr)")
                    try Self.expectLedgerConsistent(copy.path, fix: manifest.id, applies: 0, rollbacks: 0, context)
                }
                #expect(Self.expectOldOrNew(copy.path, old: old, new: new, context + ", after rollback") == 0)
            }
            #expect(!FileManager.default.fileExists(atPath: copy.at("/var/lib/clarity-heal/journal")), "\(context)")
            #expect(ApplyFixtures.leftovers(copy.path, manifest).isEmpty, "\(context): \(ApplyFixtures.leftovers(copy.path, manifest))")
            point += 1
        }
        print("apply crash points for \(scenario.expected.rawValue): \(point - 1)")
        #expect(point > 5, "too few crash points for \(scenario.expected.rawValue)")
    }

    @Test(arguments: ApplyFixtures.scenarios)
    func rollbackKilledAtEveryCrashPoint(_ scenario: ApplyFixtures.Scenario) throws {
        let packagePath = try ApplyFixtures.package(scenario)
        let manifest = try FixPackage.open(packagePath).manifest
        let new = ApplyFixtures.expectedNew(manifest)
        var point = 1
        while point < 500 {
            let copy = try TestRoot.writableCopy()
            try scenario.breakRoot(copy)
            let old = Dictionary(uniqueKeysWithValues: new.keys.map { ($0, ApplyFixtures.snapshot(copy.path, $0)) })
            let apply = try Self.clarityHeal(["apply", packagePath, "--root", copy.path, "--json"])
            #expect(apply.status == 0, "\(apply.stderr)")
            let run = try Self.clarityHeal(["rollback", manifest.id, "--root", copy.path, "--json"], crashAfter: point)
            if run.status == 0 {
                #expect(Self.expectOldOrNew(copy.path, old: old, new: new, "complete rollback") == 0)
                break
            }
            #expect(run.status == -9, "crash point \(point): \(run.stderr)")
            let context = "\(scenario.expected.rawValue) rollback killed at point \(point)"
            _ = Self.expectOldOrNew(copy.path, old: old, new: new, context + ", before recovery")
            let next = try Self.clarityHeal(["rollback", manifest.id, "--root", copy.path, "--json"])
            #expect(next.status == 0, "\(context): \(next.stderr)")
            #expect(Self.expectOldOrNew(copy.path, old: old, new: new, context + ", after recovery") == 0)
            try Applier(root: SystemRoot(copy.path)).verifyBackup(manifest.id)
            try Self.expectLedgerConsistent(copy.path, fix: manifest.id, applies: 1, rollbacks: 1, context)
            #expect(ApplyFixtures.leftovers(copy.path, manifest).isEmpty, "\(context)")
            point += 1
        }
        print("rollback crash points for \(scenario.expected.rawValue): \(point - 1)")
        #expect(point > 3, "too few crash points for \(scenario.expected.rawValue)")
    }
}
