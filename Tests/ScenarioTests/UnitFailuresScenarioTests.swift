import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The real journal of scripts/make-journal-fixture: a boot with three failed units, then
/// a healthy boot.
private enum Fixture {
    static let cache = TestRoot.repository + "/.cache/journal-fixture"

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    static let ready: Result<String, Unavailable> = {
        if FileManager.default.fileExists(atPath: cache + "/done") { return .success(cache + "/journal") }
        do {
            let result = try Tool.run(TestRoot.repository + "/scripts/make-journal-fixture", [])
            guard result.status == 0 else { return .failure(Unavailable(description: result.stderr)) }
            return .success(cache + "/journal")
        } catch {
            return .failure(Unavailable(description: "\(error)"))
        }
    }()

    /// A copy of the test root with the fixture's journal in /var/log/journal.
    static func rootWithJournal() throws -> OverlayCopy {
        let journal = try ready.get()
        let copy = try TestRoot.writableCopy()
        let result = try Tool.run("cp", ["-a", journal + "/.", copy.at("/var/log/journal")])
        guard result.status == 0 else { throw Unavailable(description: result.stderr) }
        return copy
    }

    /// The boots in the fixture, oldest first: the failing one, then the healthy one.
    static func boots() throws -> (failing: Journal.Boot, healthy: Journal.Boot) {
        let boots = try Journal(directory: try ready.get()).boots()
        guard boots.count >= 2 else { throw Unavailable(description: "the fixture has \(boots.count) boots") }
        return (boots[boots.count - 2], boots[boots.count - 1])
    }
}

@Suite("UnitFailuresScenarios", .serialized, .timeLimit(.minutes(10)))
struct UnitFailuresScenarioTests {
    /// Runs the detector as the healthy (last) boot of the fixture would on its boot path:
    /// that boot is the current one, so the failing boot before it is "previous".
    func detectDuringHealthyBoot(_ root: String, thresholds: Thresholds = Thresholds()) throws -> [Finding] {
        let scratch = try TemporaryDirectory(prefix: "boot-id")
        let id = try Fixture.boots().healthy.id
        // /proc spells it with dashes: 8-4-4-4-12.
        var dashed = id
        for offset in [20, 16, 12, 8] { dashed.insert("-", at: dashed.index(dashed.startIndex, offsetBy: offset)) }
        let path = try scratch.write("boot_id", dashed + "\n")
        return try UnitFailuresDetector(bootIDPath: path).detect(
            DetectionContext(root: try SystemRoot(root), thresholds: thresholds, countsCurrentBoot: true))
    }

    @Test func healthyRootHasNoFindings() throws {
        #expect(try UnitFailuresDetector().detect(DetectionContext(root: try SystemRoot(TestRoot.root))) == [])
    }

    @Test func threeFailedUnitsOnThePreviousBoot() throws {
        let copy = try Fixture.rootWithJournal()
        let failing = try Fixture.boots().failing
        let findings = try detectDuringHealthyBoot(copy.path)
        #expect(findings.map(\.failureClass) == [.unitFailures])
        let finding = try #require(findings.first)
        #expect(finding.summary == "3 units failed on the previous boot: clarity-fail-a.service, clarity-fail-b.service, clarity-fail-c.service")
        #expect(finding.evidence.map(\.source) == Array(repeating: "journal /var/log/journal boot \(failing.id)", count: 3))
        #expect(finding.evidence.first?.detail == "clarity-fail-a.service: clarity-fail-a.service: Failed with result 'exit-code'.")
        #expect(finding.severity == .moderate)
    }

    /// After the healthy boot (not counting a current boot), the last boot is the healthy one.
    @Test func afterTheHealthyBootNothingIsReported() throws {
        let copy = try Fixture.rootWithJournal()
        #expect(try UnitFailuresDetector().detect(DetectionContext(root: try SystemRoot(copy.path))) == [])
    }

    @Test func thresholdFromTheConfigFile() throws {
        let copy = try Fixture.rootWithJournal()
        try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-heal"), withIntermediateDirectories: true)
        try "[Thresholds]\nFailedUnits=4\n".write(toFile: copy.at(Config.path), atomically: false, encoding: .utf8)
        let config = Config.load(root: try SystemRoot(copy.path)).config
        #expect(config.thresholds.failedUnits == 4)
        #expect(try detectDuringHealthyBoot(copy.path, thresholds: config.thresholds) == [])

        try "[Thresholds]\nFailedUnits=3\n".write(toFile: copy.at(Config.path), atomically: false, encoding: .utf8)
        let three = Config.load(root: try SystemRoot(copy.path)).config.thresholds
        #expect(try detectDuringHealthyBoot(copy.path, thresholds: three).count == 1)
    }
}

/// `unit-failures` through the whole repair pipeline (diagnosis, ranked strategies,
/// validation on an overlay clone, fix package), run as the fixture's healthy boot would
/// on its boot path.
@Suite("UnitFailuresRepair", .serialized, .timeLimit(.minutes(10)))
struct UnitFailuresRepairTests {
    @Test func validatedFixRepairsACopyAndLeavesTheRootUntouched() throws {
        let broken = try Fixture.rootWithJournal()
        let before = try RepairEngineTests.hashTree(broken.path)
        let scratch = try TemporaryDirectory(prefix: "units")
        let id = try Fixture.boots().healthy.id
        var dashed = id
        for offset in [20, 16, 12, 8] { dashed.insert("-", at: dashed.index(dashed.startIndex, offsetBy: offset)) }
        let bootID = try scratch.write("boot_id", dashed + "\n")
        // Every detector, with the unit-failures one reading the fixture's boot id.
        let detectors: [any Detector] = Detectors.all.map { detector in
            detector is UnitFailuresDetector ? UnitFailuresDetector(bootIDPath: bootID) : detector
        }
        let request = RepairPipeline.Request(root: try SystemRoot(broken.path), devices: [TestRoot.image],
                                             countsCurrentBoot: true, environment: .overlay,
                                             scratch: scratch.path + "/scratch", out: .folder(scratch.path + "/fixes"))
        let result = try RepairPipeline(validator: Validator(detectors: detectors)).run(request)

        #expect(result.status == .validated, "\(result.attempts)")
        #expect(result.finding?.failureClass == .unitFailures)
        #expect(try RepairEngineTests.hashTree(broken.path) == before, "repair wrote to the examined root")
        let package = try FixPackage.open(try #require(result.fixPackage))
        #expect(package.manifest.validation.passed)

        let second = try Fixture.rootWithJournal()
        let target = try OverlayEnvironment(lower: SystemRoot(second.path), scratch: scratch.path + "/apply")
        defer { target.tearDown() }
        #expect(target.execute(try package.changeset().asOperations).allSatisfy { $0.succeeded })
        let after = try UnitFailuresDetector(bootIDPath: bootID).detect(
            DetectionContext(root: target.root, countsCurrentBoot: true))
        #expect(after == [])
    }
}
