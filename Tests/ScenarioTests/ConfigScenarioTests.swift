import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("ConfigScenarios", .serialized)
struct ConfigScenarioTests {
    @Test func realRootWithoutConfigUsesDefaults() throws {
        #expect(Config.load(root: try SystemRoot(TestRoot.root)) == Config.Loaded())
    }

    @Test func badValueIsAWarningNamingTheLine() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-heal"), withIntermediateDirectories: true)
        try """
        # site policy
        [Thresholds]
        KernelPanics=2
        ResourceExhaustion=ninety-five
        """.write(toFile: copy.at(Config.path), atomically: false, encoding: .utf8)
        let loaded = Config.load(root: try SystemRoot(copy.path))
        #expect(loaded.warnings == [Config.Warning(
            source: Config.path, line: 4,
            problem: .setting(.badValue(key: "ResourceExhaustion", value: "ninety-five",
                                        expected: "a percentage above 0 and at most 100, like 95%")),
            fallback: "95%")])
        #expect(loaded.config.thresholds.kernelPanics == 2)
        #expect(loaded.config.thresholds.resourceExhaustionPercent == 95)
    }

    @Test func unreadableConfigIsAWarning() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: copy.at(Config.path), withIntermediateDirectories: true)
        let loaded = Config.load(root: try SystemRoot(copy.path))
        #expect(loaded.config == Config())
        #expect(loaded.warnings.count == 1)
    }
}
