import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `apply --next-boot` then `clarity-heal boot`: the staged fix reaches the root exactly as
/// `apply --now` puts it there.
@Suite("BootStaging", .serialized, .timeLimit(.minutes(10)))
struct BootStagingTests {
    @Test func bootAppliesAStagedFixByteForByteLikeApplyNow() throws {
        let examined = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(examined)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let package = try VerifyScenario.repair(examined.path, out: out.path, scratch: scratch.path)

        // Two copies broken the same way: one gets `apply --now`, the other is staged and
        // then booted.
        let now = try TestRoot.writableCopy(), next = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(now)
        try VerifyScenario.breakFstab(next)
        let broken = try VerifyScenario.hashSystem(next.path)
        #expect(try VerifyScenario.hashSystem(now.path) == broken)

        let applied = try Tool.run(Tool.clarityHeal, ["apply", package.directory, "--root", now.path, "--now"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let staged = try Tool.run(Tool.clarityHeal, ["apply", package.directory, "--root", next.path, "--next-boot"])
        #expect(staged.status == 0, "\(staged.stderr)")
        // Staging writes nothing outside clarity-heal's state folder.
        #expect(try VerifyScenario.hashSystem(next.path) == broken)
        let stagedFolder = next.at("/var/lib/clarity-heal/staged/" + package.manifest.id)
        #expect(FileManager.default.fileExists(atPath: stagedFolder + "/manifest.json"))

        let boot = try Tool.run(Tool.clarityHeal, ["boot", "--root", next.path, "--json"])
        #expect(boot.status == 0, "\(boot.stderr)")
        let result = try JSONDecoder().decode(BootOutput.self, from: Data(boot.stdout.utf8))
        #expect(result.applied.map(\.fix) == [package.manifest.id])
        #expect(result.refused.isEmpty)
        #expect(result.rebootNow == false)

        // Byte for byte what apply --now made, and not what was there.
        let after = try VerifyScenario.hashSystem(next.path)
        #expect(after == (try VerifyScenario.hashSystem(now.path)))
        #expect(after != broken)
        #expect(try String(contentsOfFile: next.at("/etc/fstab"), encoding: .utf8)
                == (try String(contentsOfFile: now.at("/etc/fstab"), encoding: .utf8)))
        // Moved to applied/, with the same verified backup apply --now keeps.
        #expect(!FileManager.default.fileExists(atPath: stagedFolder))
        let backup = "/var/lib/clarity-heal/applied/\(package.manifest.id)/backup.tar"
        #expect(FileManager.default.fileExists(atPath: next.at(backup)))
        try Applier(root: SystemRoot(next.path)).verifyBackup(package.manifest.id)

        // The next boot is marked as after this repair; the ledger has it.
        let flag = try #require(try VerifyFlag.read(root: SystemRoot(next.path)))
        #expect(flag.fix == package.manifest.id)
        #expect(flag.failureClass == .fstabUnresolvableSource)
        #expect(flag.strategy == package.manifest.strategy.id)
        #expect(flag.attempt == 1)
        let record = try #require(try VerifyScenario.ledger(next.path).last)
        #expect(record.kind == .bootApply)
        #expect(record.outcome == .applied)
        #expect(record.fix == package.manifest.id)

        // A second boot finds nothing staged and changes nothing.
        let again = try Tool.run(Tool.clarityHeal, ["boot", "--root", next.path])
        #expect(again.status == 0)
        #expect(again.stdout.contains("no staged fix"))
        #expect(try VerifyScenario.hashSystem(next.path) == after)
    }

    @Test func aTamperedStagedFixIsRefusedAndSetAside() throws {
        let examined = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(examined)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let package = try VerifyScenario.repair(examined.path, out: out.path, scratch: scratch.path)

        let target = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(target)
        _ = try Applier.stage(package: package, root: SystemRoot(target.path))
        let stagedFolder = target.at("/var/lib/clarity-heal/staged/" + package.manifest.id)
        // The new contents of fstab changed after staging: the checksum no longer matches.
        let contents = try #require(try FileManager.default.contentsOfDirectory(atPath: stagedFolder + "/files").first)
        try Data("UUID=evil / ext4 defaults 0 1\n".utf8).write(to: URL(fileURLWithPath: stagedFolder + "/files/" + contents))
        let before = try VerifyScenario.hashSystem(target.path)

        let boot = try Tool.run(Tool.clarityHeal, ["boot", "--root", target.path, "--json"])
        #expect(boot.status == 3, "\(boot.stdout) \(boot.stderr)")
        let result = try JSONDecoder().decode(BootOutput.self, from: Data(boot.stdout.utf8))
        #expect(result.applied.isEmpty)
        #expect(result.refused.map(\.fix) == [package.manifest.id])
        #expect(result.refused.first?.reason.contains("checksum") == true)
        #expect(try VerifyScenario.hashSystem(target.path) == before)
        #expect(!FileManager.default.fileExists(atPath: stagedFolder))
        #expect(FileManager.default.fileExists(atPath: target.at("/var/lib/clarity-heal/refused/" + package.manifest.id)))
        #expect(try VerifyFlag.read(root: SystemRoot(target.path)) == nil)
        #expect(try VerifyScenario.ledger(target.path).last?.outcome == .refused)
    }

    struct BootOutput: Decodable {
        struct Applied: Decodable { var fix: String }
        struct Refused: Decodable { var fix: String; var reason: String }
        var applied: [Applied]
        var refused: [Refused]
        var rebootNow: Bool
    }
}
