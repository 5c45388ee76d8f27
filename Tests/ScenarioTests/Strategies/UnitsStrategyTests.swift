import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// unit-failures on the real journal of scripts/make-journal-fixture (three units failed on
/// a boot, then a healthy boot), seen from the healthy boot as its verification service
/// would see it.
@Suite("UnitsStrategies", .serialized, .timeLimit(.minutes(10)))
struct UnitsStrategyTests {
    static let fixture = TestRoot.repository + "/.cache/journal-fixture"
    static let failedUnits = ["clarity-fail-a.service", "clarity-fail-b.service", "clarity-fail-c.service"]

    struct Fixture {
        var failing: Journal.Boot
        var healthy: Journal.Boot
        /// Holds the healthy boot's id where /proc would.
        var bootID: TemporaryDirectory
        var bootIDPath: String

        init() throws {
            if !FileManager.default.fileExists(atPath: UnitsStrategyTests.fixture + "/done") {
                let made = try Tool.run(TestRoot.repository + "/scripts/make-journal-fixture", [])
                guard made.status == 0 else { throw Tool.Failure(message: made.stderr) }
            }
            let boots = try Journal(directory: UnitsStrategyTests.fixture + "/journal").boots()
            guard boots.count >= 2 else { throw Tool.Failure(message: "the fixture has \(boots.count) boots") }
            failing = boots[boots.count - 2]
            healthy = boots[boots.count - 1]
            bootID = try TemporaryDirectory(prefix: "boot-id")
            var dashed = healthy.id
            for offset in [20, 16, 12, 8] { dashed.insert("-", at: dashed.index(dashed.startIndex, offsetBy: offset)) }
            bootIDPath = try bootID.write("boot_id", dashed + "\n")
        }

        /// Every detector, the unit-failures one counting the healthy boot as current.
        var detectors: [any Detector] {
            Detectors.all.filter { !($0 is UnitFailuresDetector) } + [UnitFailuresDetector(bootIDPath: bootIDPath)]
        }

        /// A copy with the journal and the fixture's unit files, written before the failing boot.
        func breakRoot(_ copy: OverlayCopy) throws {
            let copied = try Tool.run("/bin/cp", ["-a", UnitsStrategyTests.fixture + "/journal/.", copy.at("/var/log/journal")])
            guard copied.status == 0 else { throw Tool.Failure(message: copied.stderr) }
            let before = "@\(failing.first / 1_000_000 - 3600)"
            for unit in UnitsStrategyTests.failedUnits {
                let path = copy.at("/etc/systemd/system/" + unit)
                try "[Unit]\nDescription=\(unit)\n\n[Service]\nType=oneshot\nExecStart=/bin/false\n\n[Install]\nWantedBy=multi-user.target\n"
                    .write(toFile: path, atomically: false, encoding: .utf8)
                _ = try Tool.run("/usr/bin/touch", ["-h", "-d", before, path])
            }
        }
    }

    @Test func failedUnitsAreMasked() throws {
        let fixture = try Fixture()
        let repair = try KernelRepairCase(detectors: fixture.detectors, countsCurrentBoot: true, breakRoot: fixture.breakRoot)
        let finding = try repair.finding(.unitFailures)
        #expect(FailedUnitsFindingProbe.units(finding) == Self.failedUnits)
        // The revert strategy ranks first but has nothing to revert here: the units are not
        // packaged and the journal has no boot before the failing one.
        #expect(UnitRevertStrategy().unmetPrecondition(repair.context(finding))
                == "no file of the failed units differs from its package or changed before the failing boot")
        let outcome = try repair.repair(UnitMaskStrategy(), finding)
        #expect(outcome.operations == Self.failedUnits.map { .makeSymlink(path: "/etc/systemd/system/" + $0, target: "/dev/null") }
                + [.runTool(arguments: ["systemd-analyze", "verify", "--man=no", "default.target"], mayChange: []),
                   .removeFile(path: "/run/systemd/systemd-units-load")])
        KernelRepairCase.expectRepaired(outcome)
        #expect(outcome.changes.modifiedPaths == Self.failedUnits.map { "/etc/systemd/system/" + $0 })
        for unit in Self.failedUnits {
            #expect(FileManager.default.destinationOfSymbolicLinkSafe(repair.environment.root.host("/etc/systemd/system/" + unit)) == "/dev/null")
        }
        // systemctl, chrooted in the clone, agrees that they are masked.
        let state = try repair.environment.run(["systemctl", "is-enabled"] + Self.failedUnits)
        #expect(state.output == "masked\nmasked\nmasked\n", "\(state.output)\(state.errorOutput)")
    }

    @Test func aUnitChangedAfterTheFailingBootIsNotCounted() throws {
        let fixture = try Fixture()
        let copy = try TestRoot.writableCopy()
        try fixture.breakRoot(copy)
        let detector = UnitFailuresDetector(bootIDPath: fixture.bootIDPath)
        let context = DetectionContext(root: try SystemRoot(copy.path), countsCurrentBoot: true)
        #expect(try detector.detect(context).count == 1)
        // An edit after the failing boot (a repair, or a person): two failed units remain,
        // under the threshold of three.
        try FileManager.default.createDirectory(atPath: copy.at("/etc/systemd/system/clarity-fail-b.service.d"), withIntermediateDirectories: true)
        try "[Service]\nExecStart=\nExecStart=/bin/true\n".write(toFile: copy.at("/etc/systemd/system/clarity-fail-b.service.d/override.conf"),
                                                               atomically: false, encoding: .utf8)
        #expect(try detector.detect(context).isEmpty)
    }

    /// The fixture's two boots read as "last good, then failing": a drop-in written between
    /// them is the change to revert; one written before the good boot is left alone.
    @Test func dropInWrittenBetweenTheGoodAndTheFailingBootIsRemoved() throws {
        let fixture = try Fixture()
        let repair = try KernelRepairCase { copy in
            try fixture.breakRoot(copy)
            for (name, time) in [("late.conf", fixture.failing.last / 1_000_000 + 5), ("early.conf", fixture.failing.first / 1_000_000 - 60)] {
                let folder = copy.at("/etc/systemd/system/clarity-fail-a.service.d")
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try "[Service]\nExecStartPre=/bin/false\n".write(toFile: folder + "/" + name, atomically: false, encoding: .utf8)
                _ = try Tool.run("/usr/bin/touch", ["-d", "@\(time)", folder + "/" + name])
            }
        }
        let finding = Finding(.unitFailures, summary: "1 unit failed", evidence: [
            Evidence(source: "journal /var/log/journal boot \(fixture.healthy.id)", detail: "clarity-fail-a.service: Failed with result 'exit-code'."),
        ])
        let outcome = try repair.repair(UnitRevertStrategy(), finding)
        #expect(outcome.operations.first == .removeFile(path: "/etc/systemd/system/clarity-fail-a.service.d/late.conf"))
        #expect(outcome.operations.count == 3, "\(outcome.operations)")
        #expect(outcome.succeeded, "\(outcome.outcomes.map(\.detail))")
        #expect(outcome.verdict("changes-declared") == .passed)
        #expect(outcome.changes.modifiedPaths == ["/etc/systemd/system/clarity-fail-a.service.d/late.conf"])
        #expect(outcome.changes.changes["/etc/systemd/system/clarity-fail-a.service.d/late.conf"] == .removed)
    }

    @Test func essentialUnitsAreNeverMasked() throws {
        let root = try SystemRoot(TestRoot.root)
        let finding = Finding(.unitFailures, summary: "3 units failed", evidence: [
            Evidence(source: "journal /var/log/journal boot 0123", detail: "systemd-journald.service: Failed with result 'timeout'."),
            Evidence(source: "journal /var/log/journal boot 0123", detail: "getty@tty1.service: Failed."),
            Evidence(source: "journal /var/log/journal boot 0123", detail: "ssh.service: Failed."),
        ])
        #expect(UnitMaskStrategy().unmetPrecondition(RepairContext(root: root, finding: finding))
                == "every failed unit is essential or masked already: systemd-journald.service, getty@tty1.service, ssh.service")
        #expect(throws: PlanError.self) { try UnitMaskStrategy().plan(RepairContext(root: root, finding: finding)) }
    }

    @Test func alteredPackagedUnitIsRestoredFromTheDeb() throws {
        let unit = "/usr/lib/systemd/system/dpkg-db-backup.service"
        let repair = try KernelRepairCase { copy in try CatalogueTests.append(copy.at(unit), "ExecStartPre=/bin/false") }
        let finding = Finding(.unitFailures, summary: "3 units failed", evidence: [
            Evidence(source: "journal /var/log/journal boot 0123", detail: "dpkg-db-backup.service: Failed with result 'exit-code'."),
        ])
        let outcome = try repair.repair(UnitRevertStrategy(), finding)
        #expect(outcome.operations.count == 3)
        #expect(outcome.operations.first?.description.hasPrefix("write \(unit) (") == true, "\(outcome.operations)")
        #expect(outcome.succeeded, "\(outcome.outcomes.map(\.detail))")
        #expect(outcome.verdict("changes-declared") == .passed)
        #expect(outcome.verdict("no-regressions") == .passed)
        #expect(outcome.changes.modifiedPaths == [unit])
        let verify = try Tool.run("/usr/bin/dpkg", ["--root", repair.environment.root.path, "--verify", "dpkg"])
        #expect(verify.stdout.isEmpty && verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}

/// Reads the unit names of a finding the way the strategies do (their parser is internal).
enum FailedUnitsFindingProbe {
    static func units(_ finding: Finding) -> [String] {
        finding.evidence.compactMap { $0.detail.components(separatedBy: ": ").first }
    }
}

extension FileManager {
    func destinationOfSymbolicLinkSafe(_ path: String) -> String? {
        try? destinationOfSymbolicLink(atPath: path)
    }
}
