import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Finding 7 of issue 9: a config typo switched detection off (`Policy=bogus` made
/// `detect --quick`, the boot path, exit 2 and check nothing). Now whatever the file says,
/// the command runs: each thing that cannot be used is a warning on stderr naming the file
/// and line (and in the `--json` document), and its key keeps the default.
@Suite(.serialized)
struct ConfigWarningTests {
    /// A copy of the real root with two failed boot attempts counted in its grubenv (the
    /// default threshold is 1, so `boot-failures` is found) and `config` as its config file.
    static func root(config: Data) throws -> OverlayCopy {
        let copy = try TestRoot.writableCopy()
        let edit = try Tool.run("/usr/bin/grub-editenv", [copy.at("/boot/grub/grubenv"), "set", "clarity_heal_attempts=2"])
        try #require(edit.status == 0, "\(edit.stderr)")
        try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-heal"), withIntermediateDirectories: true)
        try config.write(to: URL(fileURLWithPath: copy.at(Config.path)))
        return copy
    }

    static func root(config: String) throws -> OverlayCopy {
        try root(config: Data(config.utf8))
    }

    /// The warnings of a `--json` document.
    static func warnings(_ document: [String: Any]?) -> [[String: Any]] {
        document?["warnings"] as? [[String: Any]] ?? []
    }

    /// The finding's own reproduction: still detected, on both readers of the boot path's
    /// command line, and said the same way.
    @Test(arguments: [[], ["--log-level", "warning"]])
    func policyTypoKeepsTheBootPathDetecting(_ extra: [String]) throws {
        let copy = try Self.root(config: "[Reboot]\nPolicy=bogus\n")
        let text = try CLIFixtures.run(["detect", "--quick", "--root", copy.path] + extra)
        #expect(text.status == 1, "\(text.stderr)")
        #expect(text.stdout.contains("boot-failures"))
        #expect(text.stderr.contains("warning: \(Config.path) line 2: Policy=bogus: expected automatic, window or prompt; using the default Policy=prompt"),
                "\(text.stderr)")

        let json = try CLIFixtures.run(["detect", "--quick", "--root", copy.path, "--json"] + extra)
        #expect(json.status == 1)
        let document = CLIFixtures.document(json, "detect --quick --json")
        #expect((document?["findings"] as? [[String: Any]])?.first?["class"] as? String == "boot-failures")
        let warning = try #require(Self.warnings(document).first)
        #expect(warning["file"] as? String == Config.path)
        #expect(warning["line"] as? Int == 2)
        #expect((warning["message"] as? String)?.contains("Policy=bogus") == true)
    }

    /// A bad threshold is not taken and not a reason to stop: the default is used and the
    /// settings around it still apply (here a valid FailedUnits after the bad line).
    @Test func badThresholdFallsBackToItsDefault() throws {
        let copy = try Self.root(config: "[Thresholds]\nBootFailures=-4\nFailedUnits=7\n")
        let result = try CLIFixtures.run(["detect", "--quick", "--root", copy.path, "--json"])
        #expect(result.status == 1, "with the default BootFailures=1 the two attempts are found: \(result.stderr)")
        let warnings = Self.warnings(CLIFixtures.document(result, "bad threshold"))
        #expect(warnings.map { $0["line"] as? Int } == [2])
        #expect((warnings.first?["message"] as? String)?.hasSuffix("using the default BootFailures=1") == true, "\(warnings)")
    }

    /// A NUL used to end inih's string early, so `BootFailures=3<NUL>…` was read as 3 and the
    /// two attempts went unreported. The value is refused as a whole now.
    @Test func nulInAValueIsRefused() throws {
        let config = Data("[Thresholds]\nBootFailures=3".utf8) + Data([0]) + Data("0\n".utf8)
        let copy = try Self.root(config: config)
        let result = try CLIFixtures.run(["detect", "--quick", "--root", copy.path])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("line 2: BootFailures: the value holds a control character; using the default BootFailures=1"),
                "\(result.stderr)")
    }

    /// Unknown sections used to pass silently, unknown keys stopped the command: both are
    /// warnings now.
    @Test func unknownSectionsAndKeysAreWarnings() throws {
        let copy = try Self.root(config: "[Thresholds]\nBootFailure=5\n\n[Cluster]\nServer=example\n")
        let result = try CLIFixtures.run(["detect", "--quick", "--root", copy.path])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("line 2: unknown key BootFailure in [Thresholds]; ignored"), "\(result.stderr)")
        #expect(result.stderr.contains("line 4: unknown section [Cluster]; its settings are ignored"), "\(result.stderr)")
    }

    /// Only a file that cannot be read at all (here a folder where the file should be) is
    /// a warning and every default; a missing file is the defaults without a word.
    @Test func unreadableFileIsAWarningMissingFileIsNot() throws {
        let copy = try Self.root(config: "")
        try FileManager.default.removeItem(atPath: copy.at(Config.path))
        let missing = try CLIFixtures.run(["detect", "--quick", "--root", copy.path])
        #expect(missing.status == 1)
        #expect(missing.stderr.isEmpty, "\(missing.stderr)")

        try FileManager.default.createDirectory(atPath: copy.at(Config.path), withIntermediateDirectories: true)
        let unreadable = try CLIFixtures.run(["detect", "--quick", "--root", copy.path])
        #expect(unreadable.status == 1, "\(unreadable.stderr)")
        #expect(unreadable.stderr.contains("warning: cannot read \(Config.path): "), "\(unreadable.stderr)")
        #expect(unreadable.stderr.contains("; using the defaults"))
    }

    /// Every command that reads the config runs with a bad one and puts the warnings in
    /// its document: detect, diagnose, repair (dry run) and verify.
    @Test(arguments: [
        (["detect"], Int32(1)), (["diagnose"], Int32(1)), (["repair", "--dry-run"], Int32(1)), (["verify"], Int32(0)),
    ])
    func everyCommandThatReadsTheConfigRuns(command: [String], status: Int32) throws {
        let copy = try Self.root(config: "[Reboot]\nMaxAttempts=lots\n[Thresholds]\nKernelPanics=0\n")
        let result = try CLIFixtures.run(command + ["--root", copy.path, "--device", TestRoot.image, "--json"])
        #expect(result.status == status, "\(command): \(result.stderr)")
        let warnings = Self.warnings(CLIFixtures.document(result, "\(command)"))
        #expect(warnings.map { $0["line"] as? Int } == [2, 4], "\(command): \(warnings)")
        #expect(result.stderr.contains("\(Config.path) line 2: MaxAttempts=lots"), "\(command): \(result.stderr)")
    }
}
