import Testing
@testable import HealCore

/// The rule that picks the filesystem a dead fstab source meant, and when it refuses.
@Suite struct SourceMatchTests {
    static let data = SourceMatch.Candidate(id: "/dev/vdb1", type: "ext4", label: "data", uuid: "aaaa1111-0000-4000-8000-000000000001")
    static let date = SourceMatch.Candidate(id: "/dev/vdc1", type: "ext4", label: "date", uuid: "aaaa1111-0000-4000-8000-000000000002")
    static let backup = SourceMatch.Candidate(id: "/dev/vdd1", type: "xfs", label: "backup", uuid: "bbbb2222-0000-4000-8000-000000000003")
    static let bare = SourceMatch.Candidate(id: "/dev/vde1", type: "ext4", label: nil, uuid: "cccc3333-0000-4000-8000-000000000004")

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var tag: String?
        var value: String
        var type: String
        var candidates: [SourceMatch.Candidate]
        var claimed: Set<String> = []
        var expected: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a swapped pair of letters", tag: "LABEL", value: "dtaa", type: "ext4", candidates: [data, backup], expected: "/dev/vdb1"),
        Case(name: "two labels equally near", tag: "LABEL", value: "datx", type: "ext4", candidates: [data, date], expected: nil),
        Case(name: "a prefix of two labels", tag: "LABEL", value: "dat", type: "ext4", candidates: [data, date, bare], expected: nil),
        Case(name: "near label but another type", tag: "LABEL", value: "bakcup", type: "ext4", candidates: [backup], expected: nil),
        Case(name: "near label of type auto", tag: "LABEL", value: "bakcup", type: "auto", candidates: [backup, data], expected: "/dev/vdd1"),
        Case(name: "the near one is mounted by another line", tag: "LABEL", value: "dtaa", type: "ext4", candidates: [data], claimed: ["/dev/vdb1"], expected: nil),
        Case(name: "a UUID typo", tag: "UUID", value: "aaaa1111-0000-4000-8000-00000000001", type: "ext4", candidates: [data, bare], expected: "/dev/vdb1"),
        Case(name: "a reformatted disk: the only unclaimed ext4", tag: "UUID", value: "0b2c6a6e-0000-4000-8000-00000000dead", type: "ext4", candidates: [bare, backup], expected: "/dev/vde1"),
        Case(name: "a label far from the only candidate's own label", tag: "LABEL", value: "scratch", type: "ext4", candidates: [data], expected: nil),
        Case(name: "a far label and an unlabelled lone candidate", tag: "LABEL", value: "scratch", type: "ext4", candidates: [bare], expected: "/dev/vde1"),
        Case(name: "two unclaimed of the type", tag: "UUID", value: "0b2c6a6e-0000-4000-8000-00000000dead", type: "ext4", candidates: [data, bare], expected: nil),
        Case(name: "type auto is no evidence", tag: nil, value: "/dev/sdz1", type: "auto", candidates: [bare], expected: nil),
    ]

    @Test(arguments: cases)
    func picks(_ test: Case) {
        let match = SourceMatch.best(tag: test.tag, value: test.value, type: test.type, among: test.candidates, claimed: test.claimed)
        #expect(match?.candidate.id == test.expected)
    }

    @Test(arguments: [("dtaa", "data", 1), ("data", "data", 0), ("", "abc", 3), ("kitten", "sitting", 3), ("ab", "ba", 1), ("ca", "abc", 3)])
    func distance(a: String, b: String, expected: Int) {
        #expect(SourceMatch.distance(a, b) == expected)
        #expect(SourceMatch.distance(b, a) == expected)
    }
}
