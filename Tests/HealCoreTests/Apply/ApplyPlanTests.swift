import HealCore
import Testing

struct PackagePathTests {
    @Test(arguments: [
        ("/etc/fstab", nil),
        ("/usr/lib/modules/6.1.0/modules.dep", nil),
        ("", "is empty"),
        ("etc/fstab", "is not absolute"),
        ("/", "is the root itself"),
        ("/etc/", "ends with a slash"),
        ("//etc/passwd", "has an empty component"),
        ("/etc//passwd", "has an empty component"),
        ("/etc/./passwd", "has a . component"),
        ("/boot/../../tmp/evil", "has a .. component"),
        ("/..", "has a .. component"),
        ("/etc/pass\u{0}wd", "contains a NUL byte"),
    ] as [(String, String?)])
    func problems(_ path: String, _ expected: String?) {
        #expect(PackagePath.problem(path) == expected)
    }

    @Test(arguments: [("fix-1795991916-ab12", true), ("../../etc", false), (".hidden", false), ("a b", false),
                      ("", false), ("fix/x", false)])
    func fixIDs(_ id: String, _ usable: Bool) {
        #expect(PackagePath.isUsableFixID(id) == usable)
    }
}

struct ApplyPlanTests {
    static func manifest(_ changes: [FixManifest.Change], id: String = "fix-1-test") -> FixManifest {
        FixManifest(id: id, created: 1, failureClass: .bootloaderEnvCorrupt,
                    strategy: StrategyDescriptor(id: "test", title: "test", classes: [.bootloaderEnvCorrupt], risk: 1,
                                                 sideEffects: "none", priorEffectiveness: 1, estimatedSeconds: 1),
                    findings: [], operations: [], changes: changes, validation: ValidationReport(checks: []),
                    attempts: [], environment: "overlay", needsReboot: false)
    }

    static let digest = String(repeating: "a", count: 64)

    @Test func foldersFirstThenWritesThenRemovalsDeepestFirst() throws {
        let plan = try ApplyPlan.make(Self.manifest([
            .init(path: "/var/old", kind: .removed),
            .init(path: "/etc/fstab", kind: .file, mode: 0o100644, sha256: Self.digest, size: 3),
            .init(path: "/var/old/inner", kind: .removed),
            .init(path: "/etc", kind: .directory, mode: 0o40755),
            .init(path: "/etc/mtab", kind: .symlink, target: "../proc/self/mounts"),
        ]))
        #expect(plan.steps.map(\.description) == [
            "mkdir /etc", "write /etc/fstab (3 bytes)", "link /etc/mtab -> ../proc/self/mounts",
            "remove /var/old/inner", "remove /var/old",
        ])
        #expect(plan.steps.map(\.index) == [0, 1, 2, 3, 4])
        // The file type bits never reach chmod.
        #expect(plan.steps[1].mode == 0o644)
        #expect(plan.steps[0].mode == 0o755)
    }

    @Test func refusals() {
        #expect(throws: ApplyRefusal.duplicatePath(fix: "fix-1-test", path: "/etc/fstab")) {
            try ApplyPlan.make(Self.manifest([.init(path: "/etc/fstab", kind: .removed), .init(path: "/etc/fstab", kind: .removed)]))
        }
        #expect(throws: ApplyRefusal.invalidPath(fix: "fix-1-test", path: "/etc/../shadow", reason: "has a .. component")) {
            try ApplyPlan.make(Self.manifest([.init(path: "/etc/../shadow", kind: .removed)]))
        }
        #expect(throws: ApplyRefusal.invalidFixID("../x")) {
            try ApplyPlan.make(Self.manifest([], id: "../x"))
        }
        #expect(throws: ApplyRefusal.incomplete(fix: "fix-1-test", path: "/etc/fstab", reason: "is a file without a checksum of its contents")) {
            try ApplyPlan.make(Self.manifest([.init(path: "/etc/fstab", kind: .file)]))
        }
        // Two names that resolve to one place on the root are one path named twice.
        #expect(throws: ApplyRefusal.duplicatePath(fix: "fix-1-test", path: "/usr/lib/x")) {
            try ApplyPlan.make(Self.manifest([.init(path: "/lib/x", kind: .removed), .init(path: "/usr/lib/x", kind: .removed)])) {
                $0.replacingOccurrences(of: "/lib/", with: "/usr/lib/").replacingOccurrences(of: "/usr/usr/", with: "/usr/")
            }
        }
    }

    @Test func rollbackReversesApplyAndRemovesWhatWasAbsent() {
        let index = BackupIndex(fixID: "fix-1-test", entries: [
            .init(path: "/etc", kind: .directory),
            .init(path: "/etc/new", kind: .absent),
            .init(path: "/etc/fstab", kind: .file, sha256: Self.digest),
            .init(path: "/var/old", kind: .directory, tree: true),
        ])
        #expect(RollbackPlan.make(index).steps.map(\.description) == [
            "restore /var/old", "restore /etc/fstab", "remove /etc/new", "restore-metadata /etc",
        ])
    }
}

struct JournalRecordTests {
    static let records: [JournalRecord] = [
        .prepare(.apply, fixID: "fix-1-a"),
        .begin(.apply, fixID: "fix-1-a", steps: 3, backupSHA256: String(repeating: "b", count: 64)),
        .intent(step: 0), .done(step: 0), .intent(step: 1), .done(step: 1),
        .commit(.apply, fixID: "fix-1-a"),
    ]

    @Test func linesRoundTrip() {
        let text = JournalRecord.header + "\n" + Self.records.map(\.line).joined()
        #expect(JournalRecord.records(in: text) == Self.records)
    }

    @Test func aTornLastRecordIsIgnoredWhereverItIsCut() {
        let whole = JournalRecord.header + "\n" + Self.records.map(\.line).joined()
        var cut = whole
        // Cut the text at every byte: the records read are always a prefix of what was
        // written, and only complete, checksummed lines count.
        while !cut.isEmpty {
            cut.removeLast()
            guard let read = JournalRecord.records(in: cut) else {
                #expect(cut.utf8.count <= JournalRecord.header.utf8.count)
                continue
            }
            #expect(Array(Self.records.prefix(read.count)) == read)
        }
    }

    @Test func aCorruptedRecordEndsTheJournal() {
        var lines = Self.records.map(\.line)
        lines[3] = lines[3].replacingOccurrences(of: "done 0", with: "done 9")
        let read = JournalRecord.records(in: JournalRecord.header + "\n" + lines.joined())
        #expect(read == Array(Self.records.prefix(3)))
    }

    @Test func stateSaysWhatRecoveryDoes() throws {
        #expect(JournalState(Array(Self.records.prefix(1)))?.phase == .prepared)
        let started = try #require(JournalState(Array(Self.records.prefix(5))))
        #expect(started.phase == .started(steps: 3, backupSHA256: String(repeating: "b", count: 64), done: [0]))
        #expect(JournalState(Self.records)?.phase == .committed)
        #expect(JournalState([]) == nil)
    }

    /// A line as the writer would checksum it, whatever its payload.
    static func checksummed(_ payload: String) -> String {
        CRC32.hex(Array(payload.utf8)) + " " + payload
    }

    // Found by Fuzz/Harnesses/JournalFuzz.swift: a planted journal with a good checksum
    // and a negative count made recovery form `0..<steps` and trap.
    @Test(arguments: ["begin apply d -9 d", "begin apply fix-1-a +3 b", "intent -1", "done -2", "done ", "intent 1x"])
    func refusesCountsTheWriterNeverWrites(payload: String) {
        #expect(JournalRecord.parse(Substring(Self.checksummed(payload))) == nil)
    }

    // Found by the same harness: "\r\n" is one Character, so a journal split at the
    // Character "\n" read a CRLF line and the next as one record with a newline in its id.
    @Test(arguments: [
        (JournalRecord.header + "\n" + checksummed("prepare apply fix-a\r\nx") + "\n", [JournalRecord]()),
        (JournalRecord.header + "\n" + checksummed("prepare apply fix-a \u{301}b") + "\n", []),
        (JournalRecord.header + "\n" + checksummed("prepare apply fix-a") + "\n", [.prepare(.apply, fixID: "fix-a")]),
    ])
    func splitsLinesAndFieldsAtTheBytesWritten(text: String, records: [JournalRecord]) {
        #expect(JournalRecord.records(in: text) == records)
    }

    @Test func crc32MatchesZlib() {
        #expect(CRC32.hex(Array("123456789".utf8)) == "cbf43926")
    }
}
