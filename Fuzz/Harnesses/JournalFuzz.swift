import HealCore

// Fuzzes the apply journal reader as `ApplyJournal.records(at:)` and recovery use it on a
// root's `var/lib/clarity-heal/journal`: `JournalRecord.records(in:)` on the text, then
// `JournalState` on the records.
//
// Each input is read twice: as it is, and with a correct CRC-32 put in front of every
// line after the header (replacing a first field of 8 characters), so that the fuzzer
// reaches the field parsing behind the checksum it could not forge.
//
// Properties:
// - every record read is a whole line of the text whose checksum matches;
// - every record writes back (`line`) to a line that parses to the same record;
// - counts and step numbers are not negative and ids are single non-empty fields (a
//   planted journal must not hand recovery a step range it cannot form);
// - a journal state comes only from records that start with `prepare`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournal(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = fuzzText(fuzzInput(data, size))
    check(text)

    var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    if lines.first == Substring(JournalRecord.header) { lines.removeFirst() }
    let resummed = lines.map { line -> String in
        var payload = line
        if let space = line.firstIndex(of: " "), line.utf8.distance(from: line.startIndex, to: space) == 8 {
            payload = line[line.index(after: space)...]
        }
        return CRC32.hex(Array(payload.utf8)) + " " + payload
    }
    check(([JournalRecord.header] + resummed).joined(separator: "\n"))
    return 0
}

private func check(_ text: String) {
    guard let records = JournalRecord.records(in: text) else { return }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    require(records.count <= lines.count - 2, "\(records.count) records from \(lines.count) pieces of text")
    for (record, line) in zip(records, lines.dropFirst()) {
        require(JournalRecord.parse(line) == record, "record \(record) is not its line")
        let written = record.line
        require(written.hasSuffix("\n") && JournalRecord.parse(Substring(written.dropLast())) == record,
                "record \(record) writes \(written.debugDescription), which reads differently")
        switch record {
        case .prepare(_, let fix), .commit(_, let fix):
            require(isField(fix), "fix id \(fix.debugDescription)")
        case .begin(_, let fix, let steps, let sha):
            require(isField(fix) && isField(sha), "begin fields \(fix.debugDescription) \(sha.debugDescription)")
            require(steps >= 0, "a begin record with \(steps) steps")
        case .intent(let step), .done(let step):
            require(step >= 0, "step \(step)")
        }
    }
    if let state = JournalState(records) {
        guard case .prepare(let operation, let fix)? = records.first else {
            require(false, "a journal state without a prepare record")
            return
        }
        require(state.operation == operation && state.fixID == fix, "the state names another operation or fix")
    }
}

/// One field of a record: not empty, no blank, no newline.
private func isField(_ text: String) -> Bool {
    !text.isEmpty && !text.unicodeScalars.contains { $0 == " " || $0 == "\n" }
}
