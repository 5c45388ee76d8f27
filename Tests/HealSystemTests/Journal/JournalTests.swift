import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The real journal `scripts/make-journal-fixture` records by booting a copy of the test
/// root twice: the first boot fails three units, the second is healthy.
enum JournalFixture {
    static let cache = TestRoot.repository + "/.cache/journal-fixture"

    /// Builds the fixture once (about two minutes under TCG) when scripts/test has not.
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    static let ready: Result<String, Unavailable> = {
        if FileManager.default.fileExists(atPath: cache + "/done") { return .success(cache) }
        do {
            let result = try Tool.run(TestRoot.repository + "/scripts/make-journal-fixture", [])
            guard result.status == 0 else { return .failure(Unavailable(description: result.stderr)) }
            return .success(cache)
        } catch {
            return .failure(Unavailable(description: "\(error)"))
        }
    }()

    static func directory() throws -> String { try ready.get() + "/journal" }

    static var expectedFailedUnits: [String] {
        (try? String(contentsOfFile: cache + "/failed-units", encoding: .utf8))?
            .split(separator: "\n").map(String.init) ?? []
    }
}

@Suite("Journal", .serialized, .timeLimit(.minutes(10)))
struct JournalTests {
    @Test func bootsMatchJournalctl() throws {
        let directory = try JournalFixture.directory()
        let boots = try Journal(directory: directory).boots()
        let listed = try Tool.run("journalctl", ["--directory=\(directory)", "--list-boots", "--no-pager"])
        // journalctl 252 prints a header line (IDX BOOT ID …), then "-1 <id> <first> <last>".
        let ids = listed.stdout.split(separator: "\n").dropFirst().compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init)
        }
        #expect(boots.map(\.id) == ids)
        #expect(boots.count >= 2)
        #expect(boots.allSatisfy { $0.first <= $0.last })
    }

    @Test func failingBootThenHealthyBoot() throws {
        let journal = try Journal(directory: try JournalFixture.directory())
        let boots = try journal.boots()
        let healthy = try #require(boots.last)
        let failing = try #require(boots.dropLast().last)
        let failed = try journal.failedUnits(boot: failing.id)
        #expect(failed.map(\.unit) == JournalFixture.expectedFailedUnits)
        #expect(failed.allSatisfy { $0.result == "exit-code" })
        #expect(failed.first?.message == "clarity-fail-a.service: Failed with result 'exit-code'.")
        #expect(try journal.failedUnits(boot: healthy.id) == [])
    }

    /// The same entries journalctl selects with the same matches.
    @Test func failedUnitsMatchJournalctl() throws {
        let directory = try JournalFixture.directory()
        let journal = try Journal(directory: directory)
        for boot in try journal.boots() {
            let listed = try Tool.run("journalctl", [
                "--directory=\(directory)", "_BOOT_ID=\(boot.id)", "MESSAGE_ID=\(Journal.unitFailureMessageID)",
                "_PID=1", "--output=cat", "--output-fields=UNIT", "--no-pager",
            ])
            var seen: Set<String> = []
            let units = listed.stdout.split(separator: "\n").map(String.init).filter { seen.insert($0).inserted }
            #expect(try journal.failedUnits(boot: boot.id).map(\.unit) == units)
        }
    }

    @Test func opensTheJournalOfAnOSTree() throws {
        let directory = try JournalFixture.directory()
        let copy = try TestRoot.writableCopy()
        let copied = try Tool.run("cp", ["-a", directory + "/.", copy.at("/var/log/journal")])
        #expect(copied.status == 0, "\(copied.stderr)")
        let boots = try Journal(root: try SystemRoot(copy.path)).boots()
        #expect(boots == (try Journal(directory: directory).boots()))
        // The pristine test root has an empty journal folder: no boots.
        #expect(try Journal(root: try SystemRoot(TestRoot.root)).boots() == [])
    }

    @Test func missingDirectoryIsAnError() {
        #expect(throws: Journal.Error.open(path: "/nonexistent/journal", errno: ENOENT)) {
            try Journal(directory: "/nonexistent/journal")
        }
        #expect(Journal.Error.open(path: "/x", errno: ENOENT).description ==
            "cannot open the journal in /x: No such file or directory")
    }

    @Test(arguments: [
        ([], nil, nil),
        (["a"], nil, "a"),
        (["a", "b"], nil, "b"),
        (["a", "b"], "b", "a"),
        (["a", "b"], "c", "b"),
        (["a"], "a", nil),
    ] as [([String], String?, String?)])
    func previousBoot(ids: [String], current: String?, expected: String?) {
        let boots = ids.enumerated().map { Journal.Boot(id: $1, first: UInt64($0), last: UInt64($0)) }
        #expect(Journal.previousBoot(in: boots, current: current)?.id == expected)
    }

    @Test func currentBootIDIsInTheJournalSpelling() throws {
        let id = try #require(Journal.currentBootID())
        #expect(id.count == 32)
        #expect(id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }
}
