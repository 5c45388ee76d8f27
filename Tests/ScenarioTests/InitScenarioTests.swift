import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("InitScenarios", .serialized)
struct InitScenarioTests {
    func only(_ findings: [Finding]) throws -> Finding {
        #expect(findings.map(\.failureClass) == [.initMissing])
        return try #require(findings.first)
    }

    @Test func removedSystemdLeavesSbinInitDangling() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/usr/lib/systemd/systemd"))
        let finding = try only(try BootChainDetectors.run(copy.path))
        #expect(finding.summary == "init /sbin/init is a dangling link to /usr/lib/systemd/systemd")
        #expect(finding.evidence.contains(Evidence(source: "/usr/sbin/init", detail: "-> /lib/systemd/systemd")))
        #expect(finding.evidence.contains(Evidence(source: "/sbin", detail: "-> usr/sbin")))
    }

    @Test func removedInterpreterLink() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/usr/lib64/ld-linux-x86-64.so.2"))
        let finding = try only(try BootChainDetectors.run(copy.path))
        #expect(finding.summary == "the ELF interpreter /lib64/ld-linux-x86-64.so.2 of init /sbin/init is missing")
        #expect(finding.evidence.last == Evidence(source: "/usr/lib64/ld-linux-x86-64.so.2", detail: "does not exist"))
    }

    @Test func removedInterpreterTarget() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))
        let finding = try only(try BootChainDetectors.run(copy.path))
        #expect(finding.evidence.contains(Evidence(source: "/usr/lib64/ld-linux-x86-64.so.2",
                                                   detail: "-> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")))
        #expect(finding.evidence.last == Evidence(source: "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", detail: "does not exist"))
    }

    @Test func initNotExecutable() throws {
        let copy = try TestRoot.writableCopy()
        #expect(chmod(copy.at("/usr/lib/systemd/systemd"), 0o644) == 0)
        let finding = try only(try BootChainDetectors.run(copy.path))
        #expect(finding.summary == "init /sbin/init is not executable")
        #expect(finding.evidence.last == Evidence(source: "/usr/lib/systemd/systemd", detail: "mode 644, no execute bit"))
    }

    @Test func initFromTheEntryOptions() throws {
        let root = try SystemRoot(TestRoot.root)
        let shell = BootChainDetectors.entry(options: ["root=UUID=\(TestRoot.rootUUID)", "init=/bin/sh"])
        #expect(InitDetector.findings(for: shell, root: root) == [])
        let missing = BootChainDetectors.entry(options: ["init=/usr/local/bin/none"])
        let finding = try only(InitDetector.findings(for: missing, root: root))
        #expect(finding.summary == "init /usr/local/bin/none does not exist")
        #expect(finding.evidence.first?.detail == "entry \"Debian GNU/Linux\" sets init=/usr/local/bin/none")
    }

    @Test func scriptInitWithMissingInterpreter() throws {
        let copy = try TestRoot.writableCopy()
        try "#!/opt/missing/sh -e\nexec /sbin/init\n".write(toFile: copy.at("/usr/local/sbin/myinit"), atomically: false, encoding: .utf8)
        #expect(chmod(copy.at("/usr/local/sbin/myinit"), 0o755) == 0)
        let entry = BootChainDetectors.entry(options: ["init=/usr/local/sbin/myinit"])
        let finding = try only(InitDetector.findings(for: entry, root: try SystemRoot(copy.path)))
        #expect(finding.summary == "the script interpreter /opt/missing/sh of init /usr/local/sbin/myinit is missing")
    }

    @Test func absoluteLinksStayInsideTheRoot() throws {
        // A link to /usr/bin/env resolves inside the copy, where it is missing, even though
        // the host has /usr/bin/env.
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/usr/bin/env"))
        try FileManager.default.createSymbolicLink(atPath: copy.at("/usr/local/sbin/init2"), withDestinationPath: "/usr/bin/env")
        let entry = BootChainDetectors.entry(options: ["init=/usr/local/sbin/init2"])
        let finding = try only(InitDetector.findings(for: entry, root: try SystemRoot(copy.path)))
        #expect(finding.summary == "init /usr/local/sbin/init2 is a dangling link to /usr/bin/env")
    }
}
