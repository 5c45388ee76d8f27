import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("AccountsScenarios", .serialized)
struct AccountsScenarioTests {
    func detect(_ root: String) throws -> [Finding] {
        try AccountsDetector().detect(DetectionContext(root: try SystemRoot(root)))
    }

    func edit(_ copy: OverlayCopy, _ path: String, _ change: (String) -> String) throws {
        let text = try String(contentsOfFile: copy.at(path), encoding: .utf8)
        try change(text).write(toFile: copy.at(path), atomically: false, encoding: .utf8)
    }

    @Test func healthyRootHasNoFindings() throws {
        #expect(try detect(TestRoot.root) == [])
    }

    @Test func garbageInPasswd() throws {
        let copy = try TestRoot.writableCopy()
        try edit(copy, "/etc/passwd") { text in
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines.insert("\u{1}\u{2}garbage-from-a-bad-write", at: 2)
            return lines.joined(separator: "\n")
        }
        let findings = try detect(copy.path)
        #expect(findings.map(\.failureClass) == [.accountDatabaseBroken])
        #expect(findings.first?.summary == "/etc/passwd: 1 unparsable line")
        #expect(findings.first?.evidence == [Evidence(source: "/etc/passwd:3",
                                                      detail: "glibc cannot parse: \u{1}\u{2}garbage-from-a-bad-write")])
    }

    @Test func passwdWithoutRoot() throws {
        let copy = try TestRoot.writableCopy()
        try edit(copy, "/etc/passwd") { text in
            text.split(separator: "\n").filter { !$0.hasPrefix("root:") }.joined(separator: "\n") + "\n"
        }
        let findings = try detect(copy.path)
        #expect(findings.map(\.summary) == ["/etc/passwd: no root entry with id 0"])
    }

    @Test func rootWithAnotherUIDIsNotRoot() throws {
        let copy = try TestRoot.writableCopy()
        try edit(copy, "/etc/passwd") { $0.replacingOccurrences(of: "root:x:0:0:", with: "root:x:1000:0:") }
        #expect(try detect(copy.path).map(\.summary) == ["/etc/passwd: no root entry with id 0"])
    }

    @Test func shadowMissing() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/etc/shadow"))
        let findings = try detect(copy.path)
        #expect(findings.map(\.summary) == ["/etc/shadow: /etc/shadow does not exist"])
        #expect(findings.first?.evidence == [Evidence(source: "/etc/shadow", detail: "/etc/shadow does not exist")])
    }

    /// Without "x" password fields nothing refers to shadow: a system without shadow
    /// passwords is not broken.
    @Test func shadowMissingWithoutShadowPasswords() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/etc/shadow"))
        try edit(copy, "/etc/passwd") { text in
            text.split(separator: "\n").map { line in
                var fields = line.split(separator: ":", omittingEmptySubsequences: false)
                fields[1] = "*"
                return fields.joined(separator: ":")
            }.joined(separator: "\n") + "\n"
        }
        #expect(try detect(copy.path) == [])
    }

    @Test func emptyGroupAndTruncatedShadow() throws {
        let copy = try TestRoot.writableCopy()
        try "".write(toFile: copy.at("/etc/group"), atomically: false, encoding: .utf8)
        try edit(copy, "/etc/shadow") { text in
            text.split(separator: "\n").filter { !$0.hasPrefix("root:") }.joined(separator: "\n") + "\n"
        }
        #expect(try detect(copy.path).map(\.summary) == [
            "/etc/shadow: no entry for root",
            "/etc/group has no entries",
        ])
    }
}
