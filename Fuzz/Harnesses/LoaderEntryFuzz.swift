import HealCore

// Fuzzes Boot Loader Specification entries as `BootConfiguration.load` and the
// boot-failures detector read them from `loader/entries/`: the file name
// (`LoaderEntry.FileName(parsing:)`, `NAME+LEFT-DONE.conf`) and the entry text
// (`LoaderEntry(fileName:parsing:)`). The input's first line is the file name, the rest
// the file's text.
//
// Properties:
// - a name that parses has the `.conf` suffix, counters that are not negative, and its
//   description (the name systemd-bless-boot would give it) parses to the same value;
// - a name with a well-formed counter keeps everything before the last `+` as its id;
// - an entry that parses has its `linux` line within the text, options without blanks,
//   and every value it read somewhere in the text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLoaderEntry(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzText(fuzzInput(data, size))
    let name = String(input.prefix { $0 != "\n" })
    let text = String(input.dropFirst(name.count + 1))

    if let parsed = LoaderEntry.FileName(parsing: name) {
        require(name.hasSuffix(".conf"), "\(name.debugDescription) parsed without .conf")
        require((parsed.triesLeft ?? 0) >= 0 && parsed.triesDone >= 0, "negative counters in \(name.debugDescription)")
        require(LoaderEntry.FileName(parsing: parsed.description) == parsed,
                "\(name.debugDescription) → \(parsed.description.debugDescription) parses differently")
        if parsed.triesLeft != nil {
            require(name.hasPrefix(parsed.id + "+"), "id \(parsed.id.debugDescription) is not the name before the counter")
        } else {
            require(parsed.id + ".conf" == name, "a name without a counter lost text: \(name.debugDescription)")
        }
    }

    if let entry = try? LoaderEntry(fileName: name, parsing: text) {
        // Lines as systemd counts them: ended by "\n", "\r\n" or "\r".
        let lineCount = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }.count
        if let line = entry.linuxLine {
            require((1...lineCount).contains(line), "linux line \(line) is outside the text")
        }
        require(entry.options.allSatisfy { !$0.isEmpty && !$0.contains(where: { $0 == " " || $0 == "\t" }) },
                "an option holds a blank: \(entry.options)")
        let values = [entry.title, entry.version, entry.machineID, entry.sortKey, entry.linux, entry.efi]
            .compactMap { $0 } + entry.initrds + entry.options + entry.unknownKeys
        for value in values {
            require(!value.unicodeScalars.contains("\n") && (value.isEmpty || text.contains(value)),
                    "\(value.debugDescription) is not in the text")
        }
    }
    return 0
}
