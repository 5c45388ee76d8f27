import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The one repair pipeline (`repair`, `verify`'s retry, `heal`) on real broken roots: the
/// excluded strategies are never tried, a requested class that is not there repairs
/// nothing, the clock it is given stamps the package, and a block-level repair's package
/// carries the filesystem record exactly as `clarity-heal repair`'s does.
@Suite(.serialized)
struct RepairPipelineTests {
    static let clock = FixedClock(1_795_910_000)

    static func request(_ root: SystemRoot, scratch: TemporaryDirectory, out: String, excluded: [String] = [],
                        failureClass: FailureClass? = nil) -> RepairPipeline.Request {
        RepairPipeline.Request(root: root, devices: [TestRoot.image], environment: .overlay,
                               scratch: scratch.path + "/scratch", out: .folder(out), failureClass: failureClass,
                               excluded: excluded, clock: clock)
    }

    static func contents(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    @Test func excludedStrategiesAreNeverTriedAndExcludingEveryOneLeavesItToAPerson() throws {
        let copy = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(copy)
        let root = try SystemRoot(copy.path)
        let before = try RepairEngineTests.hashTree(copy.path)
        let scratch = try TemporaryDirectory(prefix: "pipeline")
        let ranked = StrategyCatalogue.candidates(for: .fstabUnresolvableSource).map(\.descriptor.id)

        // Nothing excluded: the first strategy that validates wins.
        let first = try RepairPipeline().run(Self.request(root, scratch: scratch, out: scratch.path + "/one"))
        #expect(first.status == .validated, "\(first.attempts)")
        #expect(first.finding?.failureClass == .fstabUnresolvableSource)
        #expect(first.excluded.isEmpty)
        let winner = try #require(first.attempts.last { $0.validated }?.strategy)
        let package = try #require(first.package)
        #expect(package.manifest.strategy.id == winner)
        #expect(first.fix == package.manifest.id && first.fixPackage == package.directory)
        #expect(package.manifest.created == 1_795_910_000)
        #expect(package.manifest.id.hasPrefix("fix-20261128T235320Z-fstab-unresolvable-source-"))
        #expect(package.manifest.diagnosis == first.diagnosis)

        // The winner excluded: not tried, not even as a skipped attempt; the next one wins.
        let second = try RepairPipeline().run(Self.request(root, scratch: scratch, out: scratch.path + "/two",
                                                           excluded: [winner]))
        #expect(second.status == .validated, "\(second.attempts)")
        #expect(second.excluded == [winner])
        #expect(!second.attempts.map(\.strategy).contains(winner))
        let next = try #require(second.package?.manifest.strategy.id)
        #expect(next != winner)
        #expect(second.attempts.map(\.strategy) == ranked.filter { $0 != winner }.prefix(second.attempts.count).map { $0 })
        // The dry run leaves them out the same way.
        let plans = RepairPipeline().plans(Self.request(root, scratch: scratch, out: scratch.path + "/two",
                                                        excluded: [winner]))
        #expect(plans.candidates.map(\.strategy.id) == ranked.filter { $0 != winner })

        // Every strategy excluded: nothing tried, nothing written, a person is asked.
        let none = try RepairPipeline().run(Self.request(root, scratch: scratch, out: scratch.path + "/three",
                                                         excluded: ranked))
        #expect(none.status == .unrepairable)
        #expect(none.attempts.isEmpty)
        #expect(none.package == nil && none.fixPackage == nil)
        #expect(none.advice?.isEmpty == false)
        #expect(Self.contents(scratch.path + "/three").isEmpty)

        #expect(try RepairEngineTests.hashTree(copy.path) == before, "the pipeline wrote to the examined root")
        #expect(Self.contents(scratch.path + "/scratch").isEmpty, "a clone was left behind")
    }

    /// Verify's retry asks for the class of the fix that failed: when the root no longer
    /// shows it, nothing is cloned or written, whatever else is found.
    @Test func aRequestedClassThatIsNotFoundRepairsNothing() throws {
        let copy = try TestRoot.writableCopy()
        try VerifyScenario.breakFstab(copy)
        let scratch = try TemporaryDirectory(prefix: "pipeline")
        let result = try RepairPipeline().run(Self.request(try SystemRoot(copy.path), scratch: scratch,
                                                           out: scratch.path + "/out", failureClass: .initMissing))
        #expect(result.status == .healthy)
        #expect(result.finding == nil)
        #expect(result.environment == nil)
        #expect(result.remaining.map(\.failureClass).contains(.fstabUnresolvableSource))
        #expect(Self.contents(scratch.path).isEmpty)
    }

    /// A block-level repair through the pipeline as the retry calls it (its class asked
    /// for, a fixed clock) and through `clarity-heal repair` on the same corrupted image:
    /// the two manifests agree field by field, the filesystem record included.
    @Test func aBlockLevelRepairCarriesTheFilesystemRecordLikeRepairs() throws {
        let directory = try TemporaryDirectory(prefix: "pipelinefs")
        let uuid = ScenarioDisk.uuid()
        let image = try FilesystemRepairTests.corrupted(in: directory, uuid: uuid)
        let before = try FilesystemRepairTests.sha256(image)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let (command, output) = try FilesystemRepairTests.repair(image, out: out.path + "/command", scratch: scratch.path)
        #expect(command.status == 1, "\(command.stderr)")
        let repaired = try FixPackage.open(try #require(output.fixPackage)).manifest

        let request = RepairPipeline.Request(root: try SystemRoot(TestRoot.root), devices: [TestRoot.image, image],
                                             scratch: scratch.path, out: .folder(out.path + "/pipeline"),
                                             failureClass: .filesystemErrors, clock: Self.clock)
        let result = try RepairPipeline().run(request)
        #expect(result.status == .validated, "\(result.attempts)")
        let manifest = try #require(result.package?.manifest)
        let filesystem = try #require(manifest.filesystem)
        #expect(filesystem == repaired.filesystem)
        #expect(filesystem.device == image && filesystem.uuid == uuid)
        // Equal but for the number of block devices probed on this machine at the time.
        #expect(try VerifyScenario.hostIndependent(manifest.diagnosis) == VerifyScenario.hostIndependent(repaired.diagnosis))
        #expect(manifest.diagnosis?.rootCause?.failureClass == .filesystemErrors)
        #expect(try VerifyScenario.hostIndependent(manifest.findings) == VerifyScenario.hostIndependent(repaired.findings))
        #expect(manifest.strategy == repaired.strategy)
        #expect(manifest.operations == repaired.operations)
        #expect(manifest.changes == repaired.changes)
        #expect(try VerifyScenario.hostIndependent(manifest.validation) == VerifyScenario.hostIndependent(repaired.validation))
        #expect(try VerifyScenario.hostIndependent(manifest.attempts) == VerifyScenario.hostIndependent(repaired.attempts))
        #expect(manifest.environment == repaired.environment)
        #expect(manifest.needsReboot == repaired.needsReboot)
        #expect(manifest.format == repaired.format)
        #expect(manifest.created == 1_795_910_000)
        #expect(try FilesystemRepairTests.sha256(image) == before, "the pipeline wrote to the image")
    }
}
