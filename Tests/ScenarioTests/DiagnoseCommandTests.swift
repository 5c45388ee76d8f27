import Foundation
import Testing
import TestSupport

/// The `diagnose` command as a user runs it: the built binary, on the real root and on a
/// copy with the real Oops record.
@Suite(.serialized)
struct DiagnoseCommandTests {
    struct Output: Decodable {
        struct RootCause: Decodable {
            var `class`: String
            var confidence: Double
            var specifics: [String: String]
            var signature: String
        }
        struct Step: Decodable { var name: String; var stage: String; var reason: String?; var significant: Bool }
        struct Estimate: Decodable { var seconds: Int; var basis: String }
        var rootCause: RootCause?
        var confidence: Double?
        var steps: [Step]
        var estimatedRepair: Estimate?
    }

    @Test func healthyRootExitsZero() throws {
        let result = try Tool.run(Tool.clarityHeal, ["diagnose", "--root", TestRoot.root, "--device", TestRoot.image, "--json"])
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(output.rootCause == nil && output.confidence == nil && output.estimatedRepair == nil)
        #expect(output.steps.map(\.stage) == ["bootloader", "kernel", "initramfs", "root-device", "fstab", "init",
                                              "services", "resources", "integrity"])
        let text = try Tool.run(Tool.clarityHeal, ["diagnose", "--root", TestRoot.root, "--device", TestRoot.image])
        #expect(text.status == 0)
        #expect(text.stdout.contains("no root cause found (9 steps)"))
    }

    @Test func moduleOopsExitsOneWithTheModule() throws {
        let live = try TemporaryDirectory(prefix: "pstore-live")
        try FileManager.default.copyItem(
            atPath: TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore/oops-module/dmesg-ramoops-0",
            toPath: live.path + "/dmesg-ramoops-0")
        let arguments = ["diagnose", "--root", TestRoot.root, "--device", TestRoot.image, "--pstore", live.path]
        let result = try Tool.run(Tool.clarityHeal, arguments + ["--json"])
        #expect(result.status == 1, "\(result.stderr)")
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        let cause = try #require(output.rootCause)
        #expect(cause.class == "kernel-panic")
        #expect(cause.specifics["module"] == "clarity_oops")
        #expect(cause.specifics["kernel"] == TestRoot.kernelVersion)
        #expect(output.confidence == cause.confidence)
        #expect(output.steps[2].reason == "the crash record names module clarity_oops")
        #expect((output.estimatedRepair?.seconds ?? 0) > 0)
        let text = try Tool.run(Tool.clarityHeal, arguments)
        #expect(text.status == 1)
        #expect(text.stdout.contains("root cause kernel-panic (confidence 85 %)"))
        #expect(text.stdout.contains("clarity_oops is not in the modules tree of \(TestRoot.kernelVersion)"))
    }

    @Test func usageErrorsExitTwo() throws {
        #expect(try Tool.run(Tool.clarityHeal, ["diagnose", "--root", "/nonexistent/root"]).status == 2)
        #expect(try Tool.run(Tool.clarityHeal, ["diagnose", "--bogus"]).status == 2)
    }

    @Test func badKnowledgeFileExitsTwoNamingIt() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-heal/knowledge.d"), withIntermediateDirectories: true)
        try "{ not json".write(toFile: copy.at("/etc/clarity-heal/knowledge.d/bad.json"), atomically: false, encoding: .utf8)
        let result = try Tool.run(Tool.clarityHeal, ["diagnose", "--root", copy.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("cannot load knowledge file /etc/clarity-heal/knowledge.d/bad.json"))
    }
}
