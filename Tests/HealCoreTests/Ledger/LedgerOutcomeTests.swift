import Foundation
import HealCore
import Testing

/// `LedgerRecord.Outcome` is an enum over the text the ledger holds: every line the string
/// constants wrote before it reads back as the same case and re-encodes to the same bytes,
/// and an outcome from a newer version is kept as written instead of failing the read.
@Suite("LedgerRecord.Outcome")
struct LedgerOutcomeTests {
    /// Lines `LedgerLine.encode` wrote when the outcome was a `String` constant (one per
    /// constant), checksums included: a ledger on a machine today looks like this.
    static let linesWrittenBeforeTheEnum: [(String, LedgerRecord.Outcome)] = [
        (#"{"seq":1,"time":1795906800,"kind":"detection","class":"fstab-unresolvable-source","outcome":"findings","detail":{},"crc":"33b7bcfb"}"#, .findings),
        (#"{"seq":2,"time":1795906860,"kind":"detection","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","outcome":"healthy","detail":{"attempt":"1","reason":"line 1"},"crc":"9184c4a3"}"#, .healthy),
        (#"{"seq":3,"time":1795906920,"kind":"repair","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"validated","detail":{"attempt":"2","reason":"line 2"},"crc":"c92f8956"}"#, .validated),
        (#"{"seq":4,"time":1795906980,"kind":"repair","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"unrepairable","detail":{},"crc":"92cffa66"}"#, .unrepairable),
        (#"{"seq":5,"time":1795907040,"kind":"apply","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"applied","detail":{"attempt":"4","reason":"line 4"},"crc":"595bcfcc"}"#, .applied),
        (#"{"seq":6,"time":1795907100,"kind":"stage","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"staged","detail":{"attempt":"5","reason":"line 5"},"crc":"b0b1ef15"}"#, .staged),
        (#"{"seq":7,"time":1795907160,"kind":"apply","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"refused","detail":{},"crc":"a8d26376"}"#, .refused),
        (#"{"seq":8,"time":1795907220,"kind":"verification","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"failed","detail":{"attempt":"7","reason":"line 7"},"crc":"168da0a2"}"#, .failed),
        (#"{"seq":9,"time":1795907280,"kind":"apply","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"recovered","detail":{"attempt":"8","reason":"line 8"},"crc":"ab02deb1"}"#, .recovered),
        (#"{"seq":10,"time":1795907340,"kind":"apply","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"undone","detail":{},"crc":"7cc1a583"}"#, .undone),
        (#"{"seq":11,"time":1795907400,"kind":"verification","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"good","detail":{"attempt":"10","reason":"line 10"},"crc":"786d8772"}"#, .good),
        (#"{"seq":12,"time":1795907460,"kind":"rollback","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"rolled-back","detail":{"attempt":"11","reason":"line 11"},"crc":"de2cde4d"}"#, .rolledBack),
        (#"{"seq":13,"time":1795907520,"kind":"retry","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"retrying","detail":{},"crc":"6fe3d614"}"#, .retrying),
        (#"{"seq":14,"time":1795907580,"kind":"give-up","fix":"fix-20261129T221500Z-fstab-unresolvable-source-1a2b","class":"fstab-unresolvable-source","strategy":"fstab-comment-out","outcome":"needs-person","detail":{"attempt":"13","reason":"line 13"},"crc":"331ee877"}"#, .needsPerson),
    ]

    @Test(arguments: linesWrittenBeforeTheEnum)
    func aLineWrittenBeforeTheEnumReadsAndReEncodesByteForByte(line: String, expected: LedgerRecord.Outcome) throws {
        let bytes = Array(line.utf8)
        #expect(LedgerLine.check(bytes[...]) == nil)
        let record = try JSONDecoder().decode(LedgerRecord.self, from: Data(bytes))
        #expect(record.outcome == expected)
        #expect(record.outcome.rawValue == (try #require(line.firstMatch(of: /"outcome":"([^"]*)"/)).output.1))
        if case .unknown = record.outcome { Issue.record("\(record.outcome) read as unknown") }
        // Written again, the record is the very line it was read from.
        #expect(String(decoding: LedgerLine.encode(record), as: UTF8.self) == line + "\n")
    }

    @Test func everyKnownOutcomeRoundTripsThroughItsText() {
        #expect(LedgerRecord.Outcome.known.count == Self.linesWrittenBeforeTheEnum.count)
        for outcome in LedgerRecord.Outcome.known {
            #expect(LedgerRecord.Outcome(rawValue: outcome.rawValue) == outcome)
            if case .unknown = LedgerRecord.Outcome(rawValue: outcome.rawValue) { Issue.record("\(outcome) read as unknown") }
        }
        #expect(Set(LedgerRecord.Outcome.known.map(\.rawValue)).count == LedgerRecord.Outcome.known.count)
    }

    @Test(arguments: ["quarantined", "", "Applied", "rolled_back", "needs person", "\u{1}x"])
    func anOutcomeFromANewerVersionIsKeptAsWritten(text: String) throws {
        let outcome = LedgerRecord.Outcome(rawValue: text)
        #expect(outcome == .unknown(text))
        #expect(outcome.rawValue == text)
        var record = LedgerRecord(kind: .apply, fix: "fix-1", outcome: outcome)
        record.seq = 9
        record.time = 1_795_906_800
        let line = LedgerLine.encode(record)
        #expect(LedgerLine.check(line.dropLast()) == nil)
        let read = try JSONDecoder().decode(LedgerRecord.self, from: Data(line))
        #expect(read == record)
        #expect(LedgerLine.encode(read) == line)
    }

    /// A line written by a newer version (its own checksum) with an outcome this one does
    /// not know: it reads, and folding the ledger does not trip over it.
    @Test func aNewerLedgerLineReadsAndFoldsWithoutTheOutcomeMeaningAnything() throws {
        let body = #"{"seq":3,"time":1795907000,"kind":"apply","fix":"fix-b","class":"fstab-invalid-entry","strategy":"s","outcome":"quarantined","detail":{}"#
        let crc = String(LedgerLine.crc32(Array(body.utf8)), radix: 16)
        let line = body + #","crc":""# + String(repeating: "0", count: 8 - crc.count) + crc + "\"}"
        #expect(LedgerLine.check(Array(line.utf8)[...]) == nil)
        let record = try JSONDecoder().decode(LedgerRecord.self, from: Data(line.utf8))
        #expect(record.outcome == .unknown("quarantined"))
        #expect("\(record.outcome)" == "quarantined")
        let state = RepairState(root: "/", records: [record])
        #expect(state.fixes.map(\.id) == ["fix-b"])
    }

    @Test func anUnknownCaseSpellingAKnownOutcomeIsThatOutcome() {
        #expect(LedgerRecord.Outcome.unknown("good") == .good)
        #expect(LedgerRecord.Outcome.unknown("rolled-back").hashValue == LedgerRecord.Outcome.rolledBack.hashValue)
        #expect(LedgerRecord.Outcome.unknown("good") != .failed)
    }
}
