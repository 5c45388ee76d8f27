import Foundation
import HealCore
import Testing

@Suite("LedgerLine")
struct LedgerLineTests {
    static func record(seq: Int = 7, time: Int = 1_718_000_000) -> LedgerRecord {
        var record = LedgerRecord(kind: .apply, fix: "fix-1718000000-ab12", class: "fstab-invalid-entry",
                                  strategy: "fstab-set-type", outcome: .applied,
                                  detail: ["backupSHA256": "9f86d081", "backup": "/var/lib/clarity-heal/applied/fix-1718000000-ab12/backup.tar"])
        record.seq = seq
        record.time = time
        return record
    }

    @Test func lineHasFixedKeyOrderAndClosingChecksum() {
        let line = String(decoding: LedgerLine.encode(Self.record()), as: UTF8.self)
        let body = #"{"seq":7,"time":1718000000,"kind":"apply","fix":"fix-1718000000-ab12","class":"fstab-invalid-entry","strategy":"fstab-set-type","outcome":"applied","detail":{"backup":"/var/lib/clarity-heal/applied/fix-1718000000-ab12/backup.tar","backupSHA256":"9f86d081"}"#
        let crc = String(LedgerLine.crc32(Array(body.utf8)), radix: 16)
        let padded = String(repeating: "0", count: 8 - crc.count) + crc
        #expect(line == body + #","crc":""# + padded + "\"}\n")
    }

    @Test func lineIsJSONThatDecodesToTheRecord() throws {
        let record = Self.record()
        let bytes = LedgerLine.encode(record)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["class"] as? String == "fstab-invalid-entry")
        #expect(object["crc"] is String)
        #expect(try JSONDecoder().decode(LedgerRecord.self, from: Data(bytes)) == record)
    }

    @Test func optionalFieldsAreLeftOut() throws {
        var record = LedgerRecord(kind: .detection, outcome: .healthy)
        record.seq = 1
        let line = String(decoding: LedgerLine.encode(record), as: UTF8.self)
        #expect(line.hasPrefix(#"{"seq":1,"time":0,"kind":"detection","outcome":"healthy","detail":{},"crc":""#))
        #expect(try JSONDecoder().decode(LedgerRecord.self, from: Data(line.utf8)) == record)
    }

    @Test(arguments: [
        ("plain", #""plain""#),
        ("quote \" and \\ backslash", #""quote \" and \\ backslash""#),
        ("two\nlines\tand\r", #""two\nlines\tand\r""#),
        ("bell \u{07} del \u{7f}", #""bell \u0007 del \u007f""#),
        ("unicode é ✓", "\"unicode é ✓\""),
    ])
    func stringsAreEscapedAsJSON(text: String, expected: String) throws {
        var record = LedgerRecord(kind: .retry, outcome: LedgerRecord.Outcome(rawValue: text), detail: [text: text])
        record.seq = 3
        let line = LedgerLine.encode(record)
        #expect(String(decoding: line, as: UTF8.self).contains(#""outcome":"# + expected))
        // Whatever the text, the record reads back as written and stays on one line.
        #expect(line.filter { $0 == 0x0a }.count == 1)
        #expect(LedgerLine.check(line.dropLast()) == nil)
        #expect(try JSONDecoder().decode(LedgerRecord.self, from: Data(line)) == record)
    }

    @Test(arguments: [("", 0x0000_0000 as UInt32), ("123456789", 0xcbf4_3926), ("a", 0xe8b7_be43),
                      ("The quick brown fox jumps over the lazy dog", 0x414f_a339)])
    func crc32MatchesZlib(text: String, expected: UInt32) {
        #expect(LedgerLine.crc32(Array(text.utf8)) == expected)
    }

    @Test func everyTruncationIsRejected() {
        let line = Array(LedgerLine.encode(Self.record()).dropLast())
        #expect(LedgerLine.check(line[...]) == nil)
        for length in 0..<line.count {
            #expect(LedgerLine.check(line[..<length]) != nil, "a line cut to \(length) bytes passed")
        }
    }

    @Test func everySingleByteChangeIsRejected() {
        let line = Array(LedgerLine.encode(Self.record()).dropLast())
        var changed = 0
        for index in line.indices {
            for flip: UInt8 in [0x01, 0x20, 0x80] {
                var garbled = line
                garbled[index] ^= flip
                #expect(LedgerLine.check(garbled[...]) != nil, "byte \(index) ^ \(flip) passed")
                changed += 1
            }
        }
        #expect(changed == line.count * 3)
    }

    @Test func defectsSayWhatIsWrong() {
        #expect(LedgerLine.check(Array("garbage".utf8)[...]) == .noChecksum)
        var line = Array(LedgerLine.encode(Self.record()).dropLast())
        line[10] = UInt8(ascii: "9")
        guard case .checksumMismatch(let written, let computed)? = LedgerLine.check(line[...]) else {
            Issue.record("a changed byte was not a checksum mismatch")
            return
        }
        #expect(written != computed)
        #expect(LedgerLine.Defect.checksumMismatch(written: written, computed: computed).description.contains(written))
    }

    @Test(arguments: [
        ("", 0, false),
        ("a\n", 1, false),
        ("a\nb\n", 2, false),
        ("a\nb", 1, true),
        ("a\n\nb\n", 3, false),
    ])
    func splitKeepsATornTailApart(text: String, lines: Int, torn: Bool) {
        let split = LedgerLine.split(Array(text.utf8))
        #expect(split.lines.count == lines)
        #expect((split.torn != nil) == torn)
    }

    @Test(arguments: [
        (0, "1970-01-01 00:00:00Z"),
        (951_782_400, "2000-02-29 00:00:00Z"),
        (1_718_000_000, "2024-06-10 06:13:20Z"),
        (4_107_542_399, "2100-02-28 23:59:59Z"),
        (-1, "1969-12-31 23:59:59Z"),
    ])
    func utcTimes(seconds: Int, expected: String) {
        #expect(LedgerText.utc(seconds) == expected)
    }
}
