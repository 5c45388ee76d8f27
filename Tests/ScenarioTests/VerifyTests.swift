import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `clarity-heal verify` on copies of the real root after a real fix was applied: success
/// marks it good and resets the boot counter; a failed verification rolls the fix back to
/// the original bytes, retries with the next strategy, and stops at the bound with a
/// support reference.
@Suite("Verify", .serialized, .timeLimit(.minutes(15)))
struct VerifyTests {
    /// A broken copy with the fix applied (as `apply --now` does) and the next boot marked.
    struct Applied {
        var copy: OverlayCopy
        var package: FixPackage
        /// /etc/fstab as it was before the fix (broken).
        var originalFstab: Data
        var fixedFstab: Data
        var keep: [TemporaryDirectory]
    }

    static func applied(journal: Bool = false, config: String? = nil) throws -> Applied {
        let copy = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(copy)
        if journal { try VerifyJournal.install(into: copy) }
        if let config {
            try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-heal"), withIntermediateDirectories: true)
            try config.write(toFile: copy.at("/etc/clarity-heal/clarity-heal.conf"), atomically: false, encoding: .utf8)
        }
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let package = try VerifyScenario.repair(copy.path, out: out.path, scratch: scratch.path)
        let original = try Data(contentsOf: URL(fileURLWithPath: copy.at("/etc/fstab")))
        let root = try SystemRoot(copy.path)
        _ = try Applier(root: root).apply(package)
        let flag = try VerifyFlag.markNextBoot(after: package.manifest, root: root, clock: FixedClock(1_795_906_800))
        #expect(flag.attempt == 1 && flag.strategy == package.manifest.strategy.id)
        let fixed = try Data(contentsOf: URL(fileURLWithPath: copy.at("/etc/fstab")))
        #expect(fixed != original)
        return Applied(copy: copy, package: package, originalFstab: original, fixedFstab: fixed, keep: [out, scratch])
    }

    struct Output: Decodable {
        struct Verification: Decodable {
            struct Check: Decodable { var name: String; var status: String; var detail: String }
            var status: String
            var fix: String?
            var attempt: Int?
            var checks: [Check]
            var bootCounterReset: String?
            var supportReference: String?
            var advice: String?
        }
        var verification: Verification
    }

    @Test func aBootNotAfterARepairIsLeftAlone() throws {
        let copy = try TestRoot.writableCopy()
        let before = try VerifyScenario.hashSystem(copy.path)
        let result = try Tool.run(Tool.clarityHeal, ["verify", "--root", copy.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        #expect(output.verification.status == "not-pending")
        #expect(output.verification.checks.isEmpty)
        #expect(try VerifyScenario.hashSystem(copy.path) == before)
        #expect(try VerifyScenario.ledger(copy.path).isEmpty)
    }

    @Test func applyThenVerifySuccessMarksGoodClearsTheFlagAndResetsTheCounter() throws {
        let scenario = try Self.applied()
        let copy = scenario.copy
        // GRUB counted two attempts of the boot after the repair.
        _ = try Tool.run("/usr/bin/grub-editenv", [copy.at("/boot/grub/grubenv"), "set", "clarity_heal_attempts=2"])

        let result = try Tool.run(Tool.clarityHeal, ["verify", "--root", copy.path, "--device", TestRoot.image, "--json"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8)).verification
        #expect(output.status == "good")
        #expect(output.fix == scenario.package.manifest.id)
        #expect(output.checks.map(\.name) == ["resolved", "core-boot-chain", "failed-units"])
        #expect(output.checks.filter { $0.status == "failed" }.isEmpty, "\(output.checks)")
        #expect(output.bootCounterReset == "/boot/grub/grubenv")

        #expect(try VerifyFlag.read(root: SystemRoot(copy.path)) == nil, "the flag is cleared")
        // GRUB's own tool reads the counter back as 0, the block still 1024 bytes.
        #expect(try VerifyScenario.grubenvList(copy.path).contains("clarity_heal_attempts=0\n"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy.at("/boot/grub/grubenv"))).count == 1024)
        let record = try #require(try VerifyScenario.ledger(copy.path).last)
        #expect(record.kind == .verification)
        #expect(record.outcome == .good)
        #expect(record.fix == scenario.package.manifest.id)
        // The fix stays.
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy.at("/etc/fstab"))) == scenario.fixedFstab)

        // Verifying again: nothing pending.
        let again = try Tool.run(Tool.clarityHeal, ["verify", "--root", copy.path, "--json"])
        #expect(again.status == 0)
        #expect(try JSONDecoder().decode(Output.self, from: Data(again.stdout.utf8)).verification.status == "not-pending")
    }

    /// The boot after the repair failed three units (the fixture's failing boot stands for
    /// it): the fix is rolled back to the original bytes and the next strategy is applied,
    /// without the first; when it fails too and nothing is left, clarity-heal stops.
    @Test func failedVerificationRollsBackAndRetriesTheNextStrategyUntilNoneIsLeft() throws {
        let scenario = try Self.applied(journal: true)
        let copy = scenario.copy
        let root = try SystemRoot(copy.path)
        let ids = try TemporaryDirectory(prefix: "boot-id")
        let scratch = try TemporaryDirectory(prefix: "verify")
        let first = scenario.package.manifest.strategy.id
        let request = Verification.Request(
            root: root, extraDevices: [TestRoot.image], bootIDPath: try VerifyJournal.bootIDFile(failing: true, in: ids),
            environment: .overlay, scratch: scratch.path, clock: FixedClock(1_795_910_000))

        let one = try Verification().run(request)
        #expect(one.status == .retrying, "\(one)")
        #expect(one.attempt == 1)
        #expect(one.checks.first { $0.name == "failed-units" }?.verdict == .failed)
        #expect(one.checks.first { $0.name == "failed-units" }?.detail.hasPrefix("3 units failed on this boot (threshold 3)") == true)
        #expect(one.checks.first { $0.name == "resolved" }?.verdict == .passed)
        // Rolled back: the fix's own backup put the original bytes back...
        let rollback = try #require(one.rollback)
        #expect(rollback.fixID == scenario.package.manifest.id)
        #expect(rollback.restored.contains("/etc/fstab"))
        #expect(Applier(root: root).appliedFix(scenario.package.manifest.id)?.state == .rolledBack)
        // ...then the retry: the first strategy excluded, not even tried, the next applied.
        let retry = try #require(one.retry)
        #expect(retry.excluded == [first])
        #expect(!retry.attempts.map(\.strategy).contains(first))
        #expect(retry.strategy != first)
        #expect(retry.attempt == 2)
        let second = try FixPackage.open(retry.package)
        #expect(second.manifest.strategy.id == retry.strategy)
        #expect(Applier(root: root).appliedFix(retry.fix)?.state == .applied)
        let fstabNow = try Data(contentsOf: URL(fileURLWithPath: copy.at("/etc/fstab")))
        #expect(fstabNow != scenario.originalFstab && fstabNow != scenario.fixedFstab)
        let flag = try #require(try VerifyFlag.read(root: root))
        #expect(flag.fix == retry.fix && flag.attempt == 2 && flag.strategy == retry.strategy)

        // The ledger tells the story in order (after the first fix's apply record).
        let records = Array(try VerifyScenario.ledger(copy.path).drop(while: { $0.kind != .verification }))
        #expect(records.map { "\($0.kind.rawValue):\($0.outcome)" }
                == ["verification:failed", "rollback:rolled-back", "retry:retrying", "repair:validated", "apply:applied"])
        #expect(records[2].detail["excluded"] == first)

        // The reboot after the retry: the second fix fails the same way. Both strategies
        // are out now and the remaining one cannot repair this line: stop.
        let two = try Verification().run(request)
        #expect(two.status == .stopped, "\(two)")
        #expect(two.attempt == 2)
        #expect(two.rollback?.fixID == retry.fix)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy.at("/etc/fstab"))) == scenario.originalFstab,
                "both rollbacks together restore the original bytes")
        #expect(two.supportReference == "clarity-heal report \(retry.fix)")
        #expect(two.advice?.contains("Support reference: \(retry.fix)") == true)
        #expect(two.advice?.contains(first) == true && two.advice?.contains(retry.strategy) == true)
        #expect(try VerifyFlag.read(root: root) == nil)
        let last = try #require(try VerifyScenario.ledger(copy.path).last)
        #expect(last.kind == .giveUp && last.outcome == .needsPerson)
        #expect(last.detail["support"] == "clarity-heal report \(retry.fix)")
        #expect(last.detail["tried"] == "\(first) \(retry.strategy)")
        // status reads the give-up as needing a person.
        #expect(try Ledger(root: root).state().attention == .needsPerson)
    }

    /// The same failure repaired by `heal` from the recovery entry: the boots before the
    /// first fix failed. Each fix's boot came up but failed its checks; when nothing is
    /// left, the last fix is put back rather than the machine returned to failing boots,
    /// and the advice says so. With MaxAttempts reached instead, it is never rolled back.
    @Test(arguments: [false, true])
    func givingUpAfterFailedBootsLeavesTheLastFixThatBooted(boundReached: Bool) throws {
        let scenario = try Self.applied(journal: true, config: boundReached ? "[Reboot]\nMaxAttempts=2\n" : nil)
        let copy = scenario.copy
        let root = try SystemRoot(copy.path)
        var flag = try #require(try VerifyFlag.read(root: root))
        flag.priorBootFailed = true
        try flag.write(root: root)
        #expect(try String(contentsOfFile: copy.at(VerifyFlag.path), encoding: .utf8).contains("before=failed-boot\n"))
        let ids = try TemporaryDirectory(prefix: "boot-id")
        let scratch = try TemporaryDirectory(prefix: "verify")
        let config = Config.load(root: root).config
        let request = Verification.Request(
            root: root, config: config, extraDevices: [TestRoot.image],
            bootIDPath: try VerifyJournal.bootIDFile(failing: true, in: ids),
            environment: .overlay, scratch: scratch.path, clock: FixedClock(1_795_910_000))

        let one = try Verification().run(request)
        let retry = try #require(one.retry, "\(one)")
        // The retry's flag carries where the episode started.
        #expect(try VerifyFlag.read(root: root)?.priorBootFailed == true)
        let retried = try Data(contentsOf: URL(fileURLWithPath: copy.at("/etc/fstab")))

        let two = try Verification().run(request)
        #expect(two.status == .stopped, "\(two)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy.at("/etc/fstab"))) == retried,
                "the fix that booted is what the root holds")
        #expect(Applier(root: root).appliedFix(retry.fix)?.state == .applied)
        if boundReached {
            #expect(two.rollback == nil && two.kept == retry.fix && two.reapplied == nil, "\(two)")
        } else {
            #expect(two.rollback?.fixID == retry.fix && two.reapplied == retry.fix && two.kept == retry.fix, "\(two)")
        }
        #expect(two.advice?.contains("stays in place") == true && two.advice?.contains("clarity-heal rollback \(retry.fix)") == true,
                "\(two.advice ?? "")")
        #expect(try VerifyFlag.read(root: root) == nil)
        let last = try #require(try VerifyScenario.ledger(copy.path).last)
        #expect(last.kind == .giveUp && last.detail["left"]?.hasPrefix("kept \(retry.fix)") == true, "\(last)")
        let event = try #require(HealEvent(two, time: 1_795_910_000))
        #expect(event.message.contains("stays in place, the last state that booted"), "\(event.message)")
    }

    /// The retry's fix package comes from the same pipeline as `repair`'s. Decoded side by
    /// side, the package `clarity-heal repair` wrote and the one the retry wrote for the
    /// same failure have the same fields; every field the failure decides is equal, the
    /// strategy and what follows from it differ, and the request's clock stamps the retry's.
    @Test func aRetrysManifestCarriesWhatRepairsCarries() throws {
        let scenario = try Self.applied(journal: true)
        let root = try SystemRoot(scenario.copy.path)
        let ids = try TemporaryDirectory(prefix: "boot-id")
        let scratch = try TemporaryDirectory(prefix: "verify")
        let result = try Verification().run(Verification.Request(
            root: root, extraDevices: [TestRoot.image], bootIDPath: try VerifyJournal.bootIDFile(failing: true, in: ids),
            environment: .overlay, scratch: scratch.path, clock: FixedClock(1_795_910_000)))
        let retry = try #require(result.retry, "\(result)")

        func fields(_ package: String) throws -> Set<String> {
            let data = try Data(contentsOf: URL(fileURLWithPath: package + "/manifest.json"))
            return Set(try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]).keys)
        }
        let repaired = scenario.package.manifest
        let retried = try FixPackage.open(retry.package).manifest
        #expect(try fields(retry.package) == fields(scenario.package.directory))
        #expect(try fields(retry.package).isSuperset(of: ["diagnosis", "findings", "attempts", "validation", "environment"]))

        // What the failure decides: the same.
        #expect(retried.format == repaired.format)
        #expect(retried.failureClass == repaired.failureClass)
        #expect(try VerifyScenario.hostIndependent(retried.findings) == VerifyScenario.hostIndependent(repaired.findings))
        let diagnosis = try #require(retried.diagnosis)
        #expect(try VerifyScenario.hostIndependent(diagnosis) == VerifyScenario.hostIndependent(repaired.diagnosis))
        #expect(diagnosis.rootCause?.failureClass == .fstabUnresolvableSource)
        #expect(retried.environment == repaired.environment)
        #expect(retried.needsReboot == repaired.needsReboot)
        #expect(retried.filesystem == repaired.filesystem)
        #expect(retried.changes.map(\.path) == repaired.changes.map(\.path))
        #expect(retried.validation.checks.map(\.name) == repaired.validation.checks.map(\.name))
        #expect(retried.validation.passed)

        // What the strategy decides: another one, the failed one not even tried.
        #expect(retried.strategy.id != repaired.strategy.id)
        #expect(retried.strategy.id == retry.strategy)
        #expect(!retried.attempts.map(\.strategy).contains(repaired.strategy.id))
        #expect(retried.attempts.last?.validated == true)
        #expect(retried.operations != repaired.operations)

        // The request's clock, not the system's, stamps it.
        #expect(retried.created == 1_795_910_000)
        #expect(retried.id.hasPrefix("fix-20261128T235320Z-fstab-unresolvable-source-"))
        #expect(retried.id == retry.fix)
        let stamped = try VerifyScenario.ledger(scenario.copy.path).drop { $0.kind != .verification }
        #expect(!stamped.isEmpty && stamped.allSatisfy { $0.time == 1_795_910_000 }, "\(stamped.map(\.time))")
        #expect(Applier(root: root).appliedFix(retry.fix)?.appliedAt == 1_795_910_000)
        #expect(Applier(root: root).appliedFix(repaired.id)?.rolledBackAt == 1_795_910_000)
        #expect(try VerifyFlag.read(root: root)?.since == 1_795_910_000)
    }

    /// MaxAttempts=1: the first failure stops at once, although another strategy would
    /// have been there to try.
    @Test func theAttemptBoundHoldsAndNamesTheRecord() throws {
        let scenario = try Self.applied(journal: true, config: "[Reboot]\nMaxAttempts=1\n")
        let copy = scenario.copy
        let ids = try TemporaryDirectory(prefix: "boot-id")
        let result = try Tool.run(Tool.clarityHeal, [
            "verify", "--root", copy.path, "--device", TestRoot.image,
            "--boot-id-file", try VerifyJournal.bootIDFile(failing: true, in: ids)])
        #expect(result.status == 4, "\(result.stdout) \(result.stderr)")
        let fix = scenario.package.manifest.id
        #expect(result.stdout.contains("What to do: clarity-heal stopped repairing fstab-unresolvable-source: 1 fix failed verification after the reboot (MaxAttempts=1)."))
        #expect(result.stdout.contains("Support reference: \(fix) — `clarity-heal report \(fix)` prints the record."))
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy.at("/etc/fstab"))) == scenario.originalFstab)
        let records = try VerifyScenario.ledger(copy.path)
        #expect(records.map { "\($0.kind.rawValue):\($0.outcome)" }
                == ["apply:applied", "verification:failed", "rollback:rolled-back", "give-up:needs-person"])
        #expect(try VerifyFlag.read(root: SystemRoot(copy.path)) == nil)
        // Nothing else was applied: the only fix on the root is the rolled-back one.
        #expect(Applier(root: try SystemRoot(copy.path)).appliedFixes().map(\.fixID) == [fix])

        // The report the support reference names knows the record.
        let report = try Tool.run(Tool.clarityHeal, ["report", fix, "--root", copy.path])
        #expect(report.status == 0 || report.stdout.contains(fix), "\(report.stdout) \(report.stderr)")
    }

    /// The retry through the command: the reboot for the new fix follows the policy — here
    /// a prompt, printed as the JSON event — and nothing is scheduled for an offline root.
    @Test func aRetryThroughTheCommandPromptsForTheReboot() throws {
        let scenario = try Self.applied(journal: true, config: "[Reboot]\nPolicy=prompt\n")
        let ids = try TemporaryDirectory(prefix: "boot-id")
        let scratch = try TemporaryDirectory(prefix: "verify")
        let result = try Tool.run(Tool.clarityHeal, [
            "verify", "--root", scenario.copy.path, "--device", TestRoot.image, "--scratch", scratch.path,
            "--boot-id-file", try VerifyJournal.bootIDFile(failing: true, in: ids), "--json"])
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let verification = try #require(json["verification"] as? [String: Any])
        #expect(verification["status"] as? String == "retrying")
        let retry = try #require(verification["retry"] as? [String: Any])
        #expect(retry["excluded"] as? [String] == [scenario.package.manifest.strategy.id])
        let reboot = try #require(json["reboot"] as? [String: Any])
        #expect(reboot["decision"] as? String == "prompt")
        #expect((reboot["outcome"] as? [String: Any])?["status"] as? String == "not-on-this-machine")
        let prompt = try #require(reboot["prompt"] as? [String: Any])
        #expect(prompt["event"] as? String == "reboot-prompt")
        #expect(prompt["fix"] as? String == retry["fix"] as? String)
        #expect((prompt["choices"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["reboot-now", "schedule", "remind-later"])

        // The next boot verifies the new fix as the second attempt.
        let flag = try #require(try VerifyFlag.read(root: SystemRoot(scenario.copy.path)))
        #expect(flag.attempt == 2)
    }

    /// A verify cut short right after its rollback (the state a crash there leaves: the fix
    /// rolled back, the flag still naming it): the next run does not judge the rolled-back
    /// root good, it continues with the retry.
    @Test func aVerifyCutShortAfterTheRollbackContinuesWithTheRetry() throws {
        let scenario = try Self.applied()
        let root = try SystemRoot(scenario.copy.path)
        _ = try Applier(root: root).rollback(scenario.package.manifest.id)
        let scratch = try TemporaryDirectory(prefix: "verify")
        let result = try Verification().run(Verification.Request(
            root: root, extraDevices: [TestRoot.image], environment: .overlay, scratch: scratch.path,
            clock: FixedClock(1_795_910_000)))
        #expect(result.status == .retrying, "\(result)")
        #expect(result.checks.map(\.name) == ["rolled-back"])
        #expect(result.retry?.excluded == [scenario.package.manifest.strategy.id])
        #expect(result.rollback?.status == .alreadyRolledBack)
    }

    /// A flag naming a fix that never reached the root (an apply refused after the flag was
    /// written) is cleared; nothing else changes.
    @Test func aFlagForAFixNeverAppliedIsCleared() throws {
        let copy = try TestRoot.writableCopy()
        let root = try SystemRoot(copy.path)
        try VerifyFlag(fix: "fix-20261129T000000Z-fstab-invalid-entry-0000", failureClass: .fstabInvalidEntry,
                       strategy: "fstab-set-type", since: 0).write(root: root)
        let before = try VerifyScenario.hashSystem(copy.path)
        let result = try Verification().run(Verification.Request(root: root, clock: FixedClock(1_795_910_000)))
        #expect(result.status == .notPending)
        #expect(result.notes.first?.contains("is not applied") == true)
        #expect(try VerifyFlag.read(root: root) == nil)
        #expect(try VerifyScenario.hashSystem(copy.path) == before)
    }

    /// The healthy boot of the same journal: verification passes with the units counted.
    @Test func aHealthyBootAfterTheRepairPassesTheUnitCount() throws {
        let scenario = try Self.applied(journal: true)
        let ids = try TemporaryDirectory(prefix: "boot-id")
        let request = Verification.Request(root: try SystemRoot(scenario.copy.path), extraDevices: [TestRoot.image],
                                           bootIDPath: try VerifyJournal.bootIDFile(failing: false, in: ids),
                                           clock: FixedClock(1_795_910_000))
        let result = try Verification().run(request)
        #expect(result.status == .good)
        #expect(result.checks.first { $0.name == "failed-units" }?.detail == "0 units failed on this boot (threshold 3)")
    }
}
