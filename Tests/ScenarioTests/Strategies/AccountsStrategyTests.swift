import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `accounts-restore-backup` on copies of the real root with broken account databases.
@Suite("account database repair strategy", .serialized)
struct AccountsStrategyTests {
    @Test("passwd without root is restored from passwd-")
    func passwd() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/etc/passwd") { text in
            text.split(separator: "\n").filter { !$0.hasPrefix("root:") }.joined(separator: "\n") + "\n"
        }
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.accountDatabaseBroken, with: StrategyCatalogue.strategy("accounts-restore-backup"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == ["/etc/passwd"])
        #expect(try run.text("/etc/passwd") == String(contentsOfFile: TestRoot.root + "/etc/passwd-", encoding: .utf8))
        guard case .file(_, let mode, let owner, let group) = outcome.changes.changes["/etc/passwd"] else {
            Issue.record("no /etc/passwd in the changeset")
            return
        }
        #expect((mode, owner, group) == (0o644, 0, 0))
    }

    @Test("a garbled shadow is restored with its mode 0640 and group shadow")
    func shadow() throws {
        let copy = try TestRoot.writableCopy()
        try Break.write(copy, "/etc/shadow", "garbage without colons\n")
        _ = try Tool.run("/bin/chmod", ["0640", copy.at("/etc/shadow")])
        _ = try Tool.run("/bin/chgrp", ["42", copy.at("/etc/shadow")])
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.accountDatabaseBroken, with: StrategyCatalogue.strategy("accounts-restore-backup"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.operations.map(\.description).last == "run chown 0:42 /etc/shadow (may change /etc/shadow)")
        guard case .file(let contents, let mode, let owner, let group) = outcome.changes.changes["/etc/shadow"] else {
            Issue.record("no /etc/shadow in the changeset")
            return
        }
        #expect(contents == Array(try Data(contentsOf: URL(fileURLWithPath: TestRoot.root + "/etc/shadow-"))))
        #expect((mode, owner, group) == (0o640, 0, 42))
    }

    @Test("no backup, or a backup without root: refused with the reason")
    func refuses() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/etc/group") { text in
            text.split(separator: "\n").filter { !$0.hasPrefix("root:") }.joined(separator: "\n") + "\n"
        }
        try FileManager.default.removeItem(atPath: copy.at("/etc/group-"))
        let run = try BootRepairRun(copy)
        let strategy = try StrategyCatalogue.strategy("accounts-restore-backup")
        let reason = try #require(strategy.unmetPrecondition(try run.context(.accountDatabaseBroken)))
        #expect(reason == "/etc/group is broken (no root entry) and there is no /etc/group- to restore it from")

        try Break.write(copy, "/etc/group-", "daemon:x:1:\n")
        let again = try BootRepairRun(copy)
        let second = try #require(strategy.unmetPrecondition(try again.context(.accountDatabaseBroken)))
        #expect(second.contains("its backup /etc/group- is no better: no root entry"), "\(second)")
    }
}
