import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("ConfigScenarios", .serialized)
struct ConfigScenarioTests {
    @Test func realRootWithoutConfigUsesDefaults() throws {
        #expect(try Config.load(root: try SystemRoot(TestRoot.root)) == Config())
    }

    @Test func badValueIsAClearError() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-heal"), withIntermediateDirectories: true)
        try """
        # site policy
        [Thresholds]
        KernelPanics=1
        ResourceExhaustion=ninety-five
        """.write(toFile: copy.at(Config.path), atomically: false, encoding: .utf8)
        #expect(throws: Config.Error.setting(source: Config.path, line: 4,
                                             .badValue(key: "ResourceExhaustion", value: "ninety-five",
                                                       expected: "a percentage above 0 and at most 100, like 95%"))) {
            try Config.load(root: try SystemRoot(copy.path))
        }
    }

    @Test func unreadableConfigIsAnError() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: copy.at(Config.path), withIntermediateDirectories: true)
        #expect(throws: Config.Error.self) { try Config.load(root: try SystemRoot(copy.path)) }
    }
}
