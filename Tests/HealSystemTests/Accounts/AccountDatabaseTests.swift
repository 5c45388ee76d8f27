import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("AccountDatabase")
struct AccountDatabaseTests {
    @Test(arguments: AccountDatabase.Kind.allCases)
    func realRootParsesWholly(kind: AccountDatabase.Kind) throws {
        let contents = try AccountDatabase.read(kind, root: try SystemRoot(TestRoot.root))
        #expect(contents.unparsable.isEmpty)
        #expect(contents.records.count == contents.entryLines)
        #expect(contents.root != nil)
        // getent-style cross-check: the names glibc gives are the first fields of the file.
        let text = try String(contentsOfFile: TestRoot.root + kind.path, encoding: .utf8)
        let names = text.split(separator: "\n").map { String($0.prefix { $0 != ":" }) }
        #expect(contents.records.map(\.name) == names)
    }

    @Test func passwdIdsAndShadowPasswords() throws {
        let root = try SystemRoot(TestRoot.root)
        let passwd = try AccountDatabase.read(.passwd, root: root)
        #expect(passwd.root?.id == 0)
        #expect(passwd.root?.password == "x")
        #expect(passwd.records.first { $0.name == "nobody" }?.id == 65534)
        let shadow = try AccountDatabase.read(.shadow, root: root)
        // make-test-root set root's password with chpasswd: a yescrypt hash.
        #expect(shadow.root?.password.hasPrefix("$y$") == true)
        #expect(try AccountDatabase.read(.group, root: root).root?.id == 0)
    }

    @Test func namesTheLinesGlibcSkips() throws {
        let dir = try TemporaryDirectory(prefix: "accounts")
        try dir.write("etc/passwd", """
        root:x:0:0:root:/root:/bin/bash
        # a comment glibc skips and so do we

        garbage without colons
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        bad:x:notanumber:1::/:/bin/sh
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin

        """)
        let contents = try AccountDatabase.read(.passwd, root: try SystemRoot(dir.path))
        #expect(contents.records.map(\.name) == ["root", "daemon", "nobody"])
        #expect(contents.entryLines == 5)
        #expect(contents.unparsable == [
            .init(line: 4, text: "garbage without colons"),
            .init(line: 6, text: "bad:x:notanumber:1::/:/bin/sh"),
        ])
    }

    @Test func longLinesAreReadWhole() throws {
        let dir = try TemporaryDirectory(prefix: "accounts")
        let members = (0..<2000).map { "user\($0)" }.joined(separator: ",")
        try dir.write("etc/group", "root:x:0:\nbig:x:100:\(members)\n")
        let contents = try AccountDatabase.read(.group, root: try SystemRoot(dir.path))
        #expect(contents.records.map(\.name) == ["root", "big"])
        #expect(contents.unparsable.isEmpty)
    }

    @Test func missingFile() throws {
        let dir = try TemporaryDirectory(prefix: "accounts")
        #expect(throws: AccountDatabase.Error.missing(path: "/etc/shadow")) {
            try AccountDatabase.read(.shadow, root: try SystemRoot(dir.path))
        }
    }
}
