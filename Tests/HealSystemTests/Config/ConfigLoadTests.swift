import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("ConfigLoad")
struct ConfigLoadTests {
    let path = "/etc/clarity-heal/clarity-heal.conf"

    func load(_ text: String) throws -> Config {
        let dir = try TemporaryDirectory(prefix: "config")
        try dir.write("etc/clarity-heal/clarity-heal.conf", text)
        return try Config.load(root: try SystemRoot(dir.path))
    }

    func error(_ text: String) throws -> String {
        do {
            _ = try load(text)
        } catch let error as Config.Error {
            return error.description
        }
        Issue.record("expected an error for \(text)")
        return ""
    }

    @Test func missingFileGivesDefaults() throws {
        let dir = try TemporaryDirectory(prefix: "config")
        #expect(try Config.load(root: try SystemRoot(dir.path)) == Config())
    }

    @Test func readsEveryThresholdInSystemdStyle() throws {
        let config = try load("""
        # local overrides
        [Thresholds]
        KernelPanics=2
        FailedUnits = 4
        ; another comment style
        BootFailures=3
        ResourceExhaustion=90%

        [Fleet]
        Policy=never
        """)
        #expect(config.thresholds.kernelPanics == 2)
        #expect(config.thresholds.failedUnits == 4)
        #expect(config.thresholds.bootFailures == 3)
        #expect(config.thresholds.resourceExhaustionPercent == 90)
    }

    @Test func badValueNamesFileAndLine() throws {
        let message = try error("[Thresholds]\nKernelPanics=1\nFailedUnits=many\n")
        #expect(message == "cannot parse \(path) line 3: FailedUnits=many: expected a whole number of at least 1")
    }

    @Test func unknownKeyNamesFileAndLine() throws {
        let message = try error("# c\n\n[Thresholds]\nFailedUnit=3\n")
        #expect(message == "cannot parse \(path) line 4: unknown key FailedUnit in [Thresholds]")
    }

    @Test func syntaxErrorNamesFileAndLine() throws {
        #expect(try error("[Thresholds]\nFailedUnits 3\n") ==
            "cannot parse \(path) line 2: expected [Section], Key=Value or a comment")
        #expect(try error("[Thresholds\nFailedUnits=3\n") ==
            "cannot parse \(path) line 1: expected [Section], Key=Value or a comment")
        // The first error wins, whichever kind it is.
        #expect(try error("[Thresholds]\ngarbage\nFailedUnits=0\n").contains("line 2: expected"))
        #expect(try error("[Thresholds]\nFailedUnits=0\ngarbage\n").contains("line 2: FailedUnits=0"))
    }

    /// The example shipped in config/ documents every key at its default: as shipped and
    /// with every key uncommented it loads to the defaults.
    @Test func shippedExampleShowsTheDefaults() throws {
        let example = try String(contentsOfFile: TestRoot.repository + "/config/clarity-heal.conf", encoding: .utf8)
        #expect(try load(example) == Config())
        let uncommented = example.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("#") && line.contains("=") ? String(line.dropFirst()) : String(line)
        }
        #expect(uncommented.filter { $0.contains("=") }.count == 9)
        #expect(try load(uncommented.joined(separator: "\n")) == Config())
    }
}
