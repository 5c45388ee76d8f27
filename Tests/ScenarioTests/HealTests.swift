import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `clarity-heal heal`, the recovery pipeline, run on copies of the real root as the
/// initramfs of a recovery boot runs it (`--root`, `--pstore` outside the root): the crash
/// records archived, the failure repaired on a clone and applied, the counter reset; the fix
/// before a failed boot judged failed and the next one applied; nothing tried again after a
/// run that gave up. The real boots are in `RealBootTests`.
@Suite(.serialized, .timeLimit(.minutes(15)))
struct HealTests {
    struct Output: Decodable {
        struct Verification: Decodable {
            struct Retry: Decodable { var strategy: String; var excluded: [String] }
            var status: String
            var retry: Retry?
        }
        var status: String
        var harvested: [String]
        var fix: String?
        var bootCounterReset: String?
        var verification: Verification?
        var advice: String?
        struct Delivery: Decodable { var event: String; var logged: Bool; var queued: Bool; var wall: Bool? }
        var notified: [Delivery]
    }

    static func heal(_ root: String, pstore: String? = nil, scratch: TemporaryDirectory) throws -> (Tool.Result, Output?) {
        var arguments = ["heal", "--root", root, "--device", TestRoot.image, "--environment", "overlay",
                         "--scratch", scratch.path, "--json"]
        if let pstore { arguments += ["--pstore", pstore] }
        let run = try Tool.run(Tool.clarityHeal, arguments)
        return (run, try? JSONDecoder().decode(Output.self, from: Data(run.stdout.utf8)))
    }

    /// A broken fstab, two failed boots counted: the fix is applied on the root itself, the
    /// next boot marked, the counter back to 0 so that GRUB boots the normal entry.
    @Test func aFailureIsRepairedAppliedAndTheCounterReset() throws {
        let copy = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(copy)
        #expect(try Tool.run("/usr/bin/grub-editenv", [copy.at("/boot/grub/grubenv"), "set", "clarity_heal_attempts=2"]).status == 0)
        let scratch = try TemporaryDirectory(prefix: "heal")
        let (run, output) = try Self.heal(copy.path, scratch: scratch)
        #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
        let result = try #require(output)
        #expect(result.status == "applied")
        #expect(result.bootCounterReset == "/boot/grub/grubenv")
        #expect(try VerifyScenario.grubenvList(copy.path).contains("clarity_heal_attempts=0"))
        // Applied on the root itself: the broken line is no longer there as it was (which
        // strategy won depends on the block devices other suites attach meanwhile).
        let fstab = try String(contentsOfFile: copy.at("/etc/fstab"), encoding: .utf8)
        #expect(!fstab.contains(VerifyScenario.brokenLine), "\(fstab)")
        let flag = try #require(try VerifyFlag.read(root: SystemRoot(copy.path)))
        #expect(flag.fix == result.fix && flag.failureClass == .fstabUnresolvableSource)
        let kinds = try VerifyScenario.ledger(copy.path).map(\.kind)
        #expect(kinds.contains(.repair) && kinds.contains(.apply), "\(kinds)")
        // Told: logged, and (not the running system) kept for the next boot's verify.
        #expect(result.notified.map(\.event) == ["fix-applied"])
        #expect(result.notified.first.map { $0.logged && $0.queued && $0.wall == nil } == true)
        let queued = try String(contentsOfFile: copy.at("/var/lib/clarity-heal/notify-pending.jsonl"), encoding: .utf8)
        #expect(queued.contains(#""event":"fix-applied""#) && queued.contains(#""fix":"\#(result.fix ?? "")""#), "\(queued)")
    }

    /// The boot after the fix never came up (GRUB booted the recovery entry again): the fix
    /// is rolled back from its backup and the next strategy applied.
    @Test func theFixBeforeAFailedBootIsRolledBackAndTheNextApplied() throws {
        let copy = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(copy)
        let scratch = try TemporaryDirectory(prefix: "heal")
        let (first, firstOutput) = try Self.heal(copy.path, scratch: scratch)
        #expect(first.status == 1, "\(first.stdout)\n\(first.stderr)")
        let applied = try #require(firstOutput?.fix)
        let firstStrategy = try #require(try VerifyFlag.read(root: SystemRoot(copy.path))).strategy

        let (second, secondOutput) = try Self.heal(copy.path, scratch: scratch)
        #expect(second.status == 1, "\(second.stdout)\n\(second.stderr)")
        let result = try #require(secondOutput)
        #expect(result.status == "applied")
        #expect(result.verification?.status == "retrying")
        let retry = try #require(result.verification?.retry)
        #expect(retry.excluded == [firstStrategy])
        #expect(retry.strategy != firstStrategy)
        #expect(result.fix != applied)
        let records = try VerifyScenario.ledger(copy.path)
        #expect(records.contains { $0.kind == .verification && $0.fix == applied && $0.outcome == .failed
                && ($0.detail["failed"] ?? "").contains("never came up") }, "\(records.map(\.kind))")
        #expect(records.contains { $0.kind == .rollback && $0.fix == applied })
    }

    /// After a run that gave up, a recovery boot changes nothing: a person must look first.
    @Test func afterGivingUpNothingIsTriedAgain() throws {
        let copy = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(copy)
        let root = try SystemRoot(copy.path)
        _ = try Ledger(root: root).append(LedgerRecord(kind: .giveUp, fix: "fix-x", failure: .fstabUnresolvableSource,
                                                       strategy: "fstab-add-nofail", outcome: .needsPerson,
                                                       detail: ["reason": "test"]))
        let before = try VerifyScenario.hashSystem(copy.path)
        let scratch = try TemporaryDirectory(prefix: "heal")
        let (run, output) = try Self.heal(copy.path, scratch: scratch)
        #expect(run.status == 4, "\(run.stdout)\n\(run.stderr)")
        #expect(output?.status == "needs-person")
        #expect(output?.advice?.contains("gave up") == true)
        #expect(output?.notified.map(\.event) == ["needs-person"])
        #expect(try VerifyScenario.hashSystem(copy.path) == before)
    }

    /// Live pstore records (the initramfs's /sys/fs/pstore, outside the root) are copied
    /// into the root's archive once, bytes unchanged; a second run copies nothing.
    @Test func liveRecordsAreArchivedOnce() throws {
        let copy = try TestRoot.writableCopy()
        let live = try TemporaryDirectory(prefix: "pstore-live")
        for name in ["dmesg-ramoops-0", "dmesg-ramoops-1"] {
            try FileManager.default.copyItem(atPath: KernelPanicScenarioTests.fixtures + "/oops-then-panic/" + name,
                                             toPath: live.path + "/" + name)
        }
        let root = try SystemRoot(copy.path)
        let written = try PstoreHarvest(root: root, liveDirectory: live.path).run()
        #expect(written.count == 2, "\(written)")
        for path in written {
            let name = (path as NSString).lastPathComponent
            #expect(path.hasPrefix(PstoreArchive.clarityArchive + "/"))
            #expect(FileManager.default.contentsEqual(atPath: copy.at(path), andPath: live.path + "/" + name))
        }
        #expect(try PstoreHarvest(root: root, liveDirectory: live.path).run() == [])
        // Found there by the detector, with the live copy first.
        let findings = try KernelPanicDetector().detect(DetectionContext(root: root, pstoreDirectory: live.path))
        #expect(findings.contains { $0.summary.contains("clarity_oops") })
    }

    /// `config` prints a setting in effect for scripts (the GRUB script reads the threshold
    /// this way); an unknown key is a usage error.
    @Test func configPrintsASettingInEffect() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-heal"), withIntermediateDirectories: true)
        try "[Thresholds]\nBootFailures=3\n".write(toFile: copy.at("/etc/clarity-heal/clarity-heal.conf"), atomically: true, encoding: .utf8)
        let run = try Tool.run(Tool.clarityHeal, ["config", "--root", copy.path, "Thresholds.BootFailures", "Reboot.MaxAttempts"])
        #expect(run.status == 0 && run.stdout == "3\n3\n", "\(run)")
        let unknown = try Tool.run(Tool.clarityHeal, ["config", "--root", copy.path, "Thresholds.Nope"])
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown setting"), "\(unknown)")
    }
}
