import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The fstab strategies on broken copies of the real root, executed in an overlay
/// environment and validated: the class is gone, nothing new broke, only /etc/fstab
/// changed, and every line the repair did not mean to touch is byte-identical.
@Suite("fstab repair strategies", .serialized)
struct FstabStrategyTests {
    static let deadUUID = "UUID=0b2c6a6e-0000-4000-8000-00000000dead"

    /// The lines of `after` that are not in `before`, and the other way round.
    static func difference(_ before: String, _ after: String) -> (removed: [String], added: [String]) {
        let old = before.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let new = after.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return (old.filter { !new.contains($0) }, new.filter { !old.contains($0) })
    }

    /// `findmnt --verify` on the clone's fstab: no parse error, and no error but "unreachable
    /// source" for the sources named — the test root's disk is an image file here, not a
    /// device, so findmnt (unlike the detector, which is given the image) cannot reach its
    /// UUID; and findmnt 2.38 reports a missing source even on a `nofail` line.
    static func expectFindmntAccepts(_ run: BootRepairRun, unreachable: [String] = []) throws {
        let verify = try Tool.run("/bin/findmnt", ["--verify", "--verbose", "--tab-file", run.environment.root.host("/etc/fstab")])
        #expect((verify.stdout + verify.stderr).contains("0 parse errors"), "\(verify.stdout)\(verify.stderr)")
        let allowed = ["UUID=\(TestRoot.rootUUID)"] + unreachable
        let errors = verify.stdout.split(separator: "\n").filter { $0.contains("[E]") }
        #expect(errors.allSatisfy { error in allowed.contains { error.hasSuffix("unreachable on boot required source: " + $0) } },
                "\(verify.stdout)")
    }

    @Test("the unresolvable-source strategies rank in the catalogue's default order")
    func ranking() {
        #expect(StrategyCatalogue.candidates(for: .fstabUnresolvableSource).map(\.descriptor.id)
                == ["fstab-repoint-source", "fstab-add-nofail", "fstab-comment-out"])
        #expect(StrategyCatalogue.candidates(for: .fstabInvalidEntry).map(\.descriptor.id)
                == ["fstab-set-detected-type", "fstab-restore-backup", "fstab-comment-out"])
    }

    @Test("a LABEL typo is re-pointed to the one filesystem with a near label")
    func repointLabelTypo() throws {
        let data = try LabelledImage(label: "data")
        let other = try LabelledImage(label: "scratch")
        let copy = try TestRoot.writableCopy()
        let fstab = try Break.originalFstab() + "LABEL=dtaa\t/data\text4\tdefaults\t0\t2   \n"
        try Break.write(copy, "/etc/fstab", fstab)
        let run = try BootRepairRun(copy, extraDevices: [data.path, other.path])
        let outcome = try run.repair(.fstabUnresolvableSource, with: StrategyCatalogue.strategy("fstab-repoint-source"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == ["/etc/fstab"])
        let after = try #require(BootRepairRun.written(outcome.changes, "/etc/fstab"))
        let expected = try Break.originalFstab() + "LABEL=data\t/data\text4\tdefaults\t0\t2   \n"
        #expect(after == expected)
        #expect(outcome.operations.map(\.description) == ["write /etc/fstab (\(after.utf8.count) bytes, mode 644)"])
    }

    @Test("a disk reformatted under a new UUID: the only unclaimed filesystem of the type")
    func repointReformatted() throws {
        let data = try LabelledImage(label: "fresh", type: "ext2")
        let copy = try TestRoot.writableCopy()
        try Break.write(copy, "/etc/fstab", try Break.originalFstab() + "\(Self.deadUUID) /srv ext2 defaults 0 2")
        let run = try BootRepairRun(copy, extraDevices: [data.path])
        let outcome = try run.repair(.fstabUnresolvableSource, with: StrategyCatalogue.strategy("fstab-repoint-source"))
        #expect(outcome.validated, "\(outcome.explanation)")
        // No final newline before, none after.
        #expect(try run.text("/etc/fstab") == Break.originalFstab() + "UUID=\(data.uuid) /srv ext2 defaults 0 2")
    }

    @Test("re-pointing refuses when nothing fits, and never touches /")
    func repointRefuses() throws {
        let copy = try TestRoot.writableCopy()
        try Break.write(copy, "/etc/fstab", try Break.originalFstab() + "\(Self.deadUUID) /srv ext4 defaults 0 2\n")
        let run = try BootRepairRun(copy)
        let strategy = try StrategyCatalogue.strategy("fstab-repoint-source")
        let reason = try #require(strategy.unmetPrecondition(try run.context(.fstabUnresolvableSource)))
        #expect(reason.contains("no unique ext4 filesystem matches \(Self.deadUUID)"), "\(reason)")
        #expect(throws: PlanError.self) { try strategy.plan(try run.context(.fstabUnresolvableSource)) }

        let rootCopy = try TestRoot.writableCopy()
        try Break.edit(rootCopy, "/etc/fstab") { $0.replacingOccurrences(of: "UUID=\(TestRoot.rootUUID)", with: "LABEL=clarity-roto") }
        let rootRun = try BootRepairRun(rootCopy)
        for id in ["fstab-repoint-source", "fstab-add-nofail", "fstab-comment-out"] {
            let refusal = try #require(try StrategyCatalogue.strategy(id).unmetPrecondition(try rootRun.context(.fstabUnresolvableSource)))
            #expect(refusal.contains("mounts /"), "\(id): \(refusal)")
        }
    }

    /// The only unclaimed ext4 filesystem on the machine is a loop device attached now: it
    /// will not be there at the next boot, so it is no match for a line the boot mounts.
    @Test("re-pointing never picks a loop device this machine has attached")
    func repointIgnoresLoopDevices() throws {
        let work = try TemporaryDirectory(prefix: "repoint-loop")
        let image = work.path + "/other.img"
        #expect(try Tool.run("/usr/bin/truncate", ["-s", "16M", image]).status == 0)
        #expect(try Tool.run("/sbin/mkfs.ext4", ["-q", "-U", "5ca1ab1e-0000-4000-8000-00000000100f", image]).status == 0)
        let loop = try AttachedLoop(image: image, readOnly: true)
        #expect(try Tool.run("/sbin/blkid", ["-U", "5ca1ab1e-0000-4000-8000-00000000100f"]).stdout.contains(loop.path))
        let copy = try TestRoot.writableCopy()
        try Break.write(copy, "/etc/fstab", try Break.originalFstab() + "\(Self.deadUUID) /srv ext4 defaults 0 2\n")
        let run = try BootRepairRun(copy)
        let strategy = try StrategyCatalogue.strategy("fstab-repoint-source")
        let reason = try #require(strategy.unmetPrecondition(try run.context(.fstabUnresolvableSource)))
        #expect(reason.contains("no unique ext4 filesystem matches \(Self.deadUUID)"), "\(reason)")
        _ = loop
    }

    @Test("nofail and a 10 s device timeout on the line whose device is gone")
    func addNofail() throws {
        let copy = try TestRoot.writableCopy()
        let original = try Break.originalFstab()
        try Break.write(copy, "/etc/fstab", original + "\(Self.deadUUID) /srv ext4 defaults 0 2\n# after\n")
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.fstabUnresolvableSource, with: StrategyCatalogue.strategy("fstab-add-nofail"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == ["/etc/fstab"])
        #expect(try run.text("/etc/fstab")
                == original + "\(Self.deadUUID) /srv ext4 defaults,nofail,x-systemd.device-timeout=10s 0 2\n# after\n")
        try Self.expectFindmntAccepts(run, unreachable: [Self.deadUUID])
    }

    @Test("an unresolvable line commented out behind a note")
    func commentOutUnresolvable() throws {
        let copy = try TestRoot.writableCopy()
        let original = try Break.originalFstab()
        try Break.write(copy, "/etc/fstab", original + "\(Self.deadUUID) /srv ext4 defaults 0 2\n")
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.fstabUnresolvableSource, with: StrategyCatalogue.strategy("fstab-comment-out"))
        #expect(outcome.validated, "\(outcome.explanation)")
        let difference = Self.difference(original, try run.text("/etc/fstab"))
        #expect(difference.removed.isEmpty)
        #expect(difference.added == [
            "# clarity-heal: fstab-comment-out: \(Self.deadUUID) names no block device",
            "#\(Self.deadUUID) /srv ext4 defaults 0 2",
        ])
    }

    @Test("a type that differs from what blkid sees is set to the on-disk type")
    func setDetectedType() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/etc/fstab") { $0.replacingOccurrences(of: "/              ext4", with: "/              xfs ") }
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.fstabInvalidEntry, with: StrategyCatalogue.strategy("fstab-set-detected-type"))
        #expect(outcome.validated, "\(outcome.explanation)")
        // The blank after the old, shorter type stays: only the word changed.
        #expect(try run.text("/etc/fstab") == Break.originalFstab().replacingOccurrences(of: "/              ext4", with: "/              ext4 "))
    }

    @Test("set-type refuses a line libmount cannot parse; comment-out takes it")
    func unparsableLine() throws {
        let copy = try TestRoot.writableCopy()
        let original = try Break.originalFstab()
        let bad = "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2"
        try Break.write(copy, "/etc/fstab", original + bad + "\n")
        let run = try BootRepairRun(copy)
        let context = try run.context(.fstabInvalidEntry)
        let refusal = try #require(try StrategyCatalogue.strategy("fstab-set-detected-type").unmetPrecondition(context))
        #expect(refusal == "no fstab line has a type that differs from its device's", "\(refusal)")
        #expect(try StrategyCatalogue.strategy("fstab-restore-backup").unmetPrecondition(context)?.contains("no backup") == true)

        let outcome = try run.repair(.fstabInvalidEntry, with: StrategyCatalogue.strategy("fstab-comment-out"))
        #expect(outcome.validated, "\(outcome.explanation)")
        let difference = Self.difference(original, try run.text("/etc/fstab"))
        #expect(difference.removed.isEmpty)
        #expect(difference.added.count == 2 && difference.added[1] == "#" + bad, "\(difference.added)")
        try Self.expectFindmntAccepts(run)
    }

    @Test("the newest sound backup is restored; unsound backups are passed over")
    func restoreBackup() throws {
        let copy = try TestRoot.writableCopy()
        let original = try Break.originalFstab()
        // A broken older backup, a sound one, and the bad current fstab.
        try Break.write(copy, "/etc/fstab.orig", original + "LABEL=nothing /x ext4 defaults 0 2\n")
        try Break.write(copy, "/etc/fstab~", original)
        try Break.write(copy, "/etc/fstab", original + "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2\n")
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.fstabInvalidEntry, with: StrategyCatalogue.strategy("fstab-restore-backup"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == ["/etc/fstab"])
        #expect(try run.text("/etc/fstab") == original)
    }

    @Test("a backup that does not parse is no backup")
    func restoreRefusesBadBackup() throws {
        let copy = try TestRoot.writableCopy()
        let original = try Break.originalFstab()
        try Break.write(copy, "/etc/fstab.bak", original + "broken line\n")
        try Break.write(copy, "/etc/fstab", original + "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2\n")
        let run = try BootRepairRun(copy)
        let reason = try #require(try StrategyCatalogue.strategy("fstab-restore-backup").unmetPrecondition(try run.context(.fstabInvalidEntry)))
        #expect(reason.contains("/etc/fstab.bak line 5"), "\(reason)")
    }

    @Test("commenting out refuses the / line")
    func commentOutRefusesRoot() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/etc/fstab") { $0.replacingOccurrences(of: "/              ext4", with: "/              xfs ") }
        let run = try BootRepairRun(copy)
        let reason = try #require(try StrategyCatalogue.strategy("fstab-comment-out").unmetPrecondition(try run.context(.fstabInvalidEntry)))
        #expect(reason.contains("mounts /"), "\(reason)")
    }
}

/// A strategy that changes nothing: the harness must not call it validated.
private struct NothingStrategy: RepairStrategy {
    let descriptor = StrategyDescriptor(id: "nothing", title: "nothing", classes: [.fstabUnresolvableSource], risk: 0,
                                        sideEffects: "none", priorEffectiveness: 0, estimatedSeconds: 0)
    func unmetPrecondition(_ context: RepairContext) -> String? { nil }
    func plan(_ context: RepairContext) throws -> [RepairOperation] { [] }
}

extension FstabStrategyTests {
    @Test("an empty plan is not validated: the class is still detected")
    func emptyPlanFails() throws {
        let copy = try TestRoot.writableCopy()
        try Break.write(copy, "/etc/fstab", try Break.originalFstab() + "\(Self.deadUUID) /srv ext4 defaults 0 2\n")
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.fstabUnresolvableSource, with: NothingStrategy())
        #expect(!outcome.validated)
        #expect(outcome.verdict("resolved") == .failed)
    }
}
