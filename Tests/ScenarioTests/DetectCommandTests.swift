import Foundation
import Testing
import TestSupport

/// The `detect` command's contract (docs/cli.md), run as a user runs it: the built binary.
@Suite(.serialized)
struct DetectCommandTests {
    struct Output: Decodable {
        struct Finding: Decodable {
            struct Evidence: Decodable { var source: String; var detail: String }
            var `class`: String
            var component: String
            var severity: String
            var summary: String
            var evidence: [Evidence]
        }
        struct Failure: Decodable { var detector: String; var message: String }
        var findings: [Finding]
        var errors: [Failure]
    }

    static func detect(_ arguments: [String]) throws -> Tool.Result {
        try Tool.run(Tool.clarityHeal, ["detect"] + arguments)
    }

    @Test func healthyRootHasNoFindingsAndExitsZero() throws {
        let result = try Self.detect(["--root", TestRoot.root, "--device", TestRoot.image, "--json"])
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        #expect(output.findings.map(\.class) == [], "\(result.stdout)")
        #expect(output.errors.map(\.detector) == [], "\(result.stdout)")
        #expect(result.status == 0)
    }

    @Test func healthyRootReadableOutputSaysSo() throws {
        let result = try Self.detect(["--root", TestRoot.root, "--device", TestRoot.image])
        #expect(result.status == 0)
        #expect(result.stdout.contains("no findings"))
    }

    @Test func quickModeOnHealthyRootExitsZero() throws {
        let result = try Self.detect(["--root", TestRoot.root, "--quick", "--json"])
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        #expect(result.status == 0)
        #expect(output.findings.isEmpty)
    }

    @Test(arguments: [
        ("/nonexistent/root", "No such file or directory"),
        ("/etc/hostname", "not a directory"),
    ])
    func unusableRootIsAUsageErrorNamingThePath(path: String, reason: String) throws {
        let result = try Self.detect(["--root", path, "--json"])
        #expect(result.status == 2)
        // --json: the one document on stdout is the error (CLIContractTests covers every
        // command); the usage goes to stderr.
        struct ErrorDocument: Decodable {
            struct Body: Decodable { var message: String; var exitStatus: Int32 }
            var error: Body
        }
        let document = try JSONDecoder().decode(ErrorDocument.self, from: Data(result.stdout.utf8))
        #expect(document.error.exitStatus == 2)
        #expect(document.error.message.contains("cannot use \(path) as a root"))
        #expect(result.stderr.contains("cannot use \(path) as a root"))
        #expect(result.stderr.contains(reason))
    }

    @Test func missingDeviceImageIsAUsageError() throws {
        let result = try Self.detect(["--root", TestRoot.root, "--device", "/nonexistent.img"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--device /nonexistent.img"))
    }

    @Test func unknownClassIsAUsageError() throws {
        let result = try Self.detect(["--root", TestRoot.root, "--class", "not-a-class"])
        #expect(result.status == 2)
    }

    @Test func thresholdsComeFromTheRootsConfigFile() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: copy.path + "/etc/clarity-heal", withIntermediateDirectories: true)
        _ = try Tool.run("/usr/bin/grub-editenv", [copy.path + "/boot/grub/grubenv", "set", "clarity_heal_attempts=2"])
        let config = copy.path + "/etc/clarity-heal/clarity-heal.conf"

        try "[Thresholds]\nBootFailures=3\n".write(toFile: config, atomically: false, encoding: .utf8)
        let below = try Self.detect(["--root", copy.path, "--quick", "--json"])
        #expect(below.status == 0, "\(below.stdout)")

        try "[Thresholds]\nBootFailures=2\n".write(toFile: config, atomically: false, encoding: .utf8)
        let at = try Self.detect(["--root", copy.path, "--quick", "--json"])
        #expect(at.status == 1)
        #expect(at.stdout.contains("boot-failures"))

        // A bad value never switches detection off: a warning naming the line, the
        // default (1) used, so the two failed attempts are found (ConfigWarningTests has
        // the rest of this rule).
        try "[Thresholds]\nBootFailures=two\n".write(toFile: config, atomically: false, encoding: .utf8)
        let bad = try Self.detect(["--root", copy.path, "--quick"])
        #expect(bad.status == 1, "\(bad.stderr)")
        #expect(bad.stdout.contains("boot-failures"))
        #expect(bad.stderr.contains("clarity-heal.conf line 2"))
    }
}
