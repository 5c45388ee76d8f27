import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The config file never stops a command: what cannot be used is a warning naming the file
/// and line, its key keeps the default, and every other setting still applies.
@Suite("ConfigLoad")
struct ConfigLoadTests {
    let path = "/etc/clarity-heal/clarity-heal.conf"

    func load(_ text: String) throws -> Config.Loaded {
        try load(Data(text.utf8))
    }

    func load(_ bytes: Data) throws -> Config.Loaded {
        let dir = try TemporaryDirectory(prefix: "config")
        try dir.write("etc/clarity-heal/clarity-heal.conf", bytes)
        return Config.load(root: try SystemRoot(dir.path))
    }

    func messages(_ text: String) throws -> [String] {
        try load(text).warnings.map(\.description)
    }

    @Test func missingFileGivesDefaults() throws {
        let dir = try TemporaryDirectory(prefix: "config")
        #expect(Config.load(root: try SystemRoot(dir.path)) == Config.Loaded())
    }

    @Test func readsEveryThresholdInSystemdStyle() throws {
        let loaded = try load("""
        # local overrides
        [Thresholds]
        KernelPanics=2
        FailedUnits = 4
        ; another comment style
        BootFailures=3
        ResourceExhaustion=90%

        [Cluster]
        Policy=never
        """)
        #expect(loaded.config.thresholds.kernelPanics == 2)
        #expect(loaded.config.thresholds.failedUnits == 4)
        #expect(loaded.config.thresholds.bootFailures == 3)
        #expect(loaded.config.thresholds.resourceExhaustionPercent == 90)
        // A section of a later version is said, once, at its header; it changes nothing.
        #expect(loaded.warnings.map(\.description) == ["\(path) line 9: unknown section [Cluster]; its settings are ignored"])
    }

    @Test func badValueNamesFileAndLineAndUsesTheDefault() throws {
        let loaded = try load("[Thresholds]\nKernelPanics=2\nFailedUnits=many\nBootFailures=4\n")
        #expect(loaded.warnings.map(\.description) == [
            "\(path) line 3: FailedUnits=many: expected a whole number of at least 1; using the default FailedUnits=3",
        ])
        #expect(loaded.config.thresholds.kernelPanics == 2)
        #expect(loaded.config.thresholds.failedUnits == 3)
        #expect(loaded.config.thresholds.bootFailures == 4, "settings after the bad line still apply")
    }

    /// A bad value puts its key back to the default, even when an earlier line set it.
    @Test func badValueAfterAGoodOneMeansTheDefault() throws {
        let loaded = try load("[Reboot]\nPolicy=window\nPolicy=bogus\nMaxAttempts=5\n")
        #expect(loaded.config.reboot.mode == .prompt)
        #expect(loaded.config.reboot.maxAttempts == 5)
        #expect(loaded.warnings.map(\.line) == [3])
    }

    @Test func unknownKeyNamesFileAndLine() throws {
        #expect(try messages("# c\n\n[Thresholds]\nFailedUnit=3\n") == ["\(path) line 4: unknown key FailedUnit in [Thresholds]; ignored"])
    }

    @Test func settingOutsideAnySection() throws {
        #expect(try messages("FailedUnits=4\n[Thresholds]\nKernelPanics=2\n") == ["\(path) line 1: a setting outside any section; ignored"])
    }

    @Test func everySyntaxErrorNamesItsLine() throws {
        #expect(try messages("[Thresholds]\nFailedUnits 3\n") ==
            ["\(path) line 2: expected [Section], Key=Value or a comment; the line is ignored"])
        let unclosed = try load("[Thresholds\nFailedUnits=3\n")
        #expect(unclosed.warnings.map(\.line) == [1, 2], "\(unclosed.warnings)")
        let both = try load("[Thresholds]\ngarbage\nFailedUnits=0\nmore garbage\n")
        #expect(both.warnings.map(\.line) == [2, 3, 4], "\(both.warnings)")
        #expect(both.config == Config())
    }

    /// A NUL would end inih's C string and hide the rest of the line; it is refused, as is
    /// any other control character, and never echoed raw.
    @Test(arguments: [
        ("NUL", Data("[Reboot]\nPolicy=prompt".utf8) + Data([0]) + Data("automatic\nMaxAttempts=4\n".utf8)),
        ("escape", Data("[Reboot]\nPolicy=auto\u{1b}[2Jmatic\nMaxAttempts=4\n".utf8)),
        ("DEL", Data("[Reboot]\nPolicy=automatic\u{7f}\nMaxAttempts=4\n".utf8)),
    ])
    func controlCharacterInAValueIsABadValue(name: String, bytes: Data) throws {
        let loaded = try load(bytes)
        #expect(loaded.config.reboot.mode == .prompt, "\(name)")
        #expect(loaded.config.reboot.maxAttempts == 4, "\(name): the next line still applies")
        #expect(loaded.warnings.map(\.description) == [
            "\(path) line 2: Policy: the value holds a control character; using the default Policy=prompt",
        ], "\(name)")
    }

    @Test func controlCharactersInNamesAreEscaped() throws {
        let message = try messages("[Reboot]\nPol\u{1b}]0;x\u{7}icy=prompt\n")
        #expect(message == ["\(path) line 2: unknown key Pol\\u{1b}]0;x\\u{7}icy in [Reboot]; ignored"])
    }

    /// inih's line buffer would cut a long line in two and read the rest as another line.
    @Test func overlongLineIsIgnoredWhole() throws {
        let long = "Policy=" + String(repeating: "a", count: 300)
        let loaded = try load("[Reboot]\n\(long)\nMaxAttempts=4\n# " + String(repeating: "c", count: 400) + "\nNoticeMinutes=9\n")
        #expect(loaded.warnings.count == 1, "\(loaded.warnings)")
        #expect(loaded.warnings.first?.line == 2)
        #expect(loaded.warnings.first?.description.contains("the line is ignored") == true)
        #expect(loaded.config.reboot.maxAttempts == 4 && loaded.config.reboot.noticeMinutes == 9, "line numbers stay right after it")
    }

    @Test func warningsAreBounded() throws {
        let text = "[Thresholds]\n" + (1...5000).map { "Bad\($0)=1\n" }.joined() + "FailedUnits=5\n"
        let loaded = try load(text)
        #expect(loaded.warnings.count == Config.warningLimit + 1)
        #expect(loaded.warnings.first?.line == 2)
        #expect(loaded.warnings.last?.description == "\(path): \(5000 - Config.warningLimit) more problems not shown")
        #expect(loaded.config.thresholds.failedUnits == 5)
    }

    @Test func unreadableFileIsAWarningAndTheDefaults() throws {
        let dir = try TemporaryDirectory(prefix: "config")
        try FileManager.default.createDirectory(atPath: dir.path + path, withIntermediateDirectories: true)
        let loaded = Config.load(root: try SystemRoot(dir.path))
        #expect(loaded.config == Config())
        #expect(loaded.warnings.count == 1)
        #expect(loaded.warnings.first?.description.hasPrefix("cannot read \(path): ") == true, "\(loaded.warnings)")
        #expect(loaded.warnings.first?.description.hasSuffix("; using the defaults") == true)
    }

    /// The example shipped in config/ documents every key at its default: as shipped and
    /// with every key uncommented it loads to the defaults, without a warning.
    @Test func shippedExampleShowsTheDefaults() throws {
        let example = try String(contentsOfFile: TestRoot.repository + "/config/clarity-heal.conf", encoding: .utf8)
        #expect(try load(example) == Config.Loaded())
        let uncommented = example.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("#") && line.contains("=") ? String(line.dropFirst()) : String(line)
        }
        #expect(uncommented.filter { $0.contains("=") }.count == 18)
        #expect(try load(uncommented.joined(separator: "\n")) == Config.Loaded())
    }
}
