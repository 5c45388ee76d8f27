import HealCore

// Fuzzes the grubenv reader as `BootConfiguration.readGrubEnvironment` and the grubenv
// detector and strategy call it on a root's `boot/grub/grubenv`: the strict
// `GrubEnvBlock(parsing:)` and the lenient `GrubEnvBlock.salvage`, on the same bytes.
//
// Properties:
// - a block that parses strictly has the variables GRUB reads from it (`grubReads`, a model
//   of grub_envblk_iterate in grub-core/lib/envblk.c);
// - a block that parses strictly re-serializes to exactly 1024 bytes that parse back to
//   the same lines; when the input is valid UTF-8 those bytes are the input itself
//   (`grub-editenv` compatibility: set/unset rewrite nothing else);
// - salvaging a strictly valid block reports no problem and keeps its variables, the
//   first of each name (GRUB reads the first);
// - a salvaged block that fits re-serializes into a block that parses strictly to the
//   same lines and salvages to itself without problems.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGrubEnvBlock(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)

    if let block = try? GrubEnvBlock(parsing: bytes) {
        let grub = grubReads(bytes)
        require(block.variables.elementsEqual(grub, by: { $0 == $1 }),
                "parsed \(block.variables) where GRUB reads \(grub)")
        do {
            let written = try block.serialized()
            require(written.count == GrubEnvBlock.size, "a parsed block serialized to \(written.count) bytes")
            if isValidUTF8(bytes) {
                require(written == bytes, "a valid UTF-8 block did not serialize to its own bytes")
            }
            let reread = try GrubEnvBlock(parsing: written)
            require(reread == block, "a serialized block parsed back to other lines")
        } catch {
            // Invalid UTF-8 is read as U+FFFD (3 bytes for each bad byte), so only such a
            // block can outgrow 1024 bytes when written back.
            guard case .tooLarge = error else {
                require(false, "a parsed block cannot be written back: \(error)")
                return 0
            }
            require(!isValidUTF8(bytes), "a valid UTF-8 block does not fit when written back")
        }

        let salvaged = GrubEnvBlock.salvage(bytes)
        require(salvaged.problems.isEmpty, "salvaging a valid block reported \(salvaged.problems)")
        var firstOfEach: [(name: String, value: String)] = []
        for variable in block.variables where !firstOfEach.contains(where: { $0.name == variable.name }) {
            firstOfEach.append(variable)
        }
        require(salvaged.block.variables.elementsEqual(firstOfEach, by: { $0 == $1 }),
                "salvage kept other variables than the valid block has")
    }

    let salvaged = GrubEnvBlock.salvage(bytes).block
    if let written = try? salvaged.serialized() {
        require(written.count == GrubEnvBlock.size, "a salvaged block serialized to \(written.count) bytes")
        do {
            let reread = try GrubEnvBlock(parsing: written)
            require(reread == salvaged, "a salvaged block parsed back to other lines")
        } catch {
            require(false, "a salvaged block was written as an invalid one: \(error)")
        }
        let again = GrubEnvBlock.salvage(written)
        require(again.problems.isEmpty && again.block == salvaged, "salvaging a written salvaged block changed it")
    }
    return 0
}

/// The variables GRUB reads from a block, in order, as grub_envblk_iterate
/// (grub-core/lib/envblk.c) finds them: from the end of the signature, a line starting with
/// `#` is skipped up to the first newline no backslash escapes; another line is a name up to
/// the first `=`, then a value up to the first unescaped newline, each `\x` standing for
/// `x`; a line that runs into the end of the block stops the reading.
private func grubReads(_ bytes: [UInt8]) -> [(name: String, value: String)] {
    let newline = UInt8(ascii: "\n"), backslash = UInt8(ascii: "\\")
    var variables: [(name: String, value: String)] = []
    var p = GrubEnvBlock.header.utf8.count
    let end = bytes.count
    while p < end {
        if bytes[p] != UInt8(ascii: "#") {
            let nameStart = p
            while p < end && bytes[p] != UInt8(ascii: "=") { p += 1 }
            if p >= end { return variables }
            let name = bytes[nameStart..<p]
            p += 1
            var value: [UInt8] = []
            while p < end && bytes[p] != newline {
                if bytes[p] == backslash {
                    if p + 1 < end { value.append(bytes[p + 1]) }
                    p += 2
                } else {
                    value.append(bytes[p])
                    p += 1
                }
            }
            if p >= end { return variables }
            variables.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        // find_next_line: past the first newline no backslash escapes.
        while p < end && bytes[p] != newline { p += bytes[p] == backslash ? 2 : 1 }
        p += 1
    }
    return variables
}
