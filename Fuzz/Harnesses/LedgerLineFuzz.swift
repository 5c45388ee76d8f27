import FoundationEssentials
import HealCore

// Fuzzes the ledger reader as `Ledger` reads a root's `var/lib/clarity-heal/ledger.jsonl`:
// `LedgerLine.split`, `LedgerLine.check` on each line, then
// `JSONDecoder().decode(LedgerRecord.self, from:)` on the lines whose checksum holds.
//
// Each input is read twice: as it is, and with every line's checksum made correct (the
// `,"crc":"…"}` tail replaced, or added when missing), so that the fuzzer reaches the
// JSON decoding behind the checksum it could not forge.
//
// Properties:
// - splitting loses no byte: lines, newlines and the torn tail make up the input;
// - a line that decodes is encoded again (`LedgerLine.encode`, as `Ledger.append` writes)
//   into exactly one whole line, whose checksum holds and which decodes to the same record.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLedgerLine(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    read(bytes)

    var resummed: [UInt8] = []
    let tail = Array(",\"crc\":\"".utf8)
    for line in LedgerLine.split(bytes).lines {
        var body = Array(line)
        let tailLength = tail.count + 8 + 2
        if body.count >= tailLength, body[(body.count - tailLength)...].starts(with: tail) {
            body.removeLast(tailLength)
        }
        resummed += body + Array(",\"crc\":\"\(hex(LedgerLine.crc32(body)))\"}\n".utf8)
    }
    read(resummed)
    return 0
}

private func read(_ bytes: [UInt8]) {
    let (lines, torn) = LedgerLine.split(bytes)
    let rejoined = lines.map { Array($0) + [0x0a] }.joined() + (torn.map(Array.init) ?? [])
    require(Array(rejoined) == bytes, "splitting the ledger lost or added bytes")
    let decoder = JSONDecoder()
    for line in lines where !line.isEmpty && LedgerLine.check(line) == nil {
        guard let record = try? decoder.decode(LedgerRecord.self, from: Data(line)) else { continue }
        let written = LedgerLine.encode(record)
        let split = LedgerLine.split(written)
        require(split.lines.count == 1 && split.torn == nil, "a record wrote \(split.lines.count) lines")
        require(LedgerLine.check(split.lines[0]) == nil, "a written record fails its own checksum")
        do {
            let reread = try decoder.decode(LedgerRecord.self, from: Data(split.lines[0]))
            require(reread == record, "a written record reads back as another")
        } catch {
            require(false, "a written record does not decode: \(error)")
        }
    }
}

/// The checksum as the line writes it: 8 lowercase hex digits.
private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
