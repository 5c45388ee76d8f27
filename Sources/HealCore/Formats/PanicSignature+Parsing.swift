extension PanicSignature {
    /// Parses the text of one dmesg record (see the diagram on `PanicSignature`).
    ///
    /// - Throws: `PanicSignature.Error` when the text is empty or does not start with a
    ///   `Reason#N PartM` header. A damaged body is never an error.
    public init(record text: String) throws(PanicSignature.Error) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let headerIndex = lines.firstIndex(where: { !$0.allSatisfy(\.isWhitespace) }) else {
            throw .empty
        }
        let headerLine = lines[headerIndex].trimmingTrailingWhitespace
        guard let header = Self.header(headerLine) else {
            throw .missingHeader(firstLine: String(headerLine.prefix(60)))
        }
        self.init(kind: header.kind, dumpCount: header.count, part: header.part)
        // A dump is written at the end of the crash it reports (kmsg_dump from oops_exit
        // or panic), so its last report is the one it is about.
        scan(lines[(headerIndex + 1)...].map(Self.message), reportOrder: .last)
    }

    /// Parses a kernel log that is not a pstore record: a serial console capture, a
    /// syslog or journal excerpt, netconsole output, a crash pasted into a bug report.
    /// A leading `Reason#N PartM` header is read when there is one; the kind is otherwise
    /// `.panic` with a panic line, `.oops` with a report, else `.unknown`.
    ///
    /// A log starts before its crash, so without a panic line its first report is the
    /// one it is about (later ones are usually consequences: the same BUG on other CPUs,
    /// a task that then died holding a lock).
    public init(log text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let first = lines.firstIndex { !$0.allSatisfy(\.isWhitespace) }
        let header = first.flatMap { Self.header(lines[$0].trimmingTrailingWhitespace.drop(while: \.isWhitespace)) }
        self.init(kind: header?.kind ?? .unknown, dumpCount: header?.count ?? 0, part: header?.part ?? 1)
        scan(lines.map(Self.message), reportOrder: header?.kind == .oops ? .last : .first)
        if header == nil { kind = panicReason != nil ? .panic : (oopsCause != nil ? .oops : .unknown) }
    }

    /// `Panic#1 Part1` → (panic, 1, 1).
    static func header(_ line: Substring) -> (kind: Kind, count: Int, part: Int)? {
        guard line.utf8.count <= 64, let hash = line.firstIndex(of: "#") else { return nil }
        let word = line[..<hash]
        guard !word.isEmpty, word.allSatisfy({ $0.isASCII && $0.isLetter }) else { return nil }
        let rest = line[line.index(after: hash)...]
        let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 2, let count = Int(fields[0]), fields[1].hasPrefix("Part"),
              let part = Int(fields[1].dropFirst(4)) else { return nil }
        return (Kind(headerWord: word), count, part)
    }

    /// Longest line looked at: a printk record is at most 1024 bytes (LOG_LINE_MAX), so
    /// anything past this is damage, and cutting it keeps every search on it short.
    static let lineLimit = 2048

    /// The message of a log line, with what real captures put in front of it removed:
    ///
    /// ```
    ///  Sep 20 10:14:39 localhost vmunix: [  289.3]  pc : …   syslog (/var/log/messages)
    ///  Aug 21 11:46:43 kerberos kernel: RIP: 0010:…          journalctl
    ///  4,35373,663129305675,-;RIP: 0010:…                     /dev/kmsg, netconsole ext
    ///  <4>[  105.48][    C2]  __mhi_pm_resume+0x284/0x410 …   pstore: level, time, caller
    ///  :53 2025 kern.al[388993.216762]   EA = 0               a console with a log spliced in
    /// ```
    ///
    /// Leading blanks (tabs and NO-BREAK SPACEs of quoted reports too) go as well. Lines
    /// without any of these (the ECC trailer, a torn line) come back trimmed, otherwise
    /// unchanged.
    static func message(of line: Substring) -> Substring {
        var rest = line.prefix(lineLimit).trimmingTrailingWhitespace.drop(while: \.isBlank)
        rest = dropKmsgPrefix(rest)
        rest = dropSyslogPrefix(rest)
        if rest.first == "<", let close = rest.prefix(5).firstIndex(of: ">") {
            let level = rest[rest.index(after: rest.startIndex)..<close]
            if !level.isEmpty, level.allSatisfy(\.isASCIIDigit) { rest = rest[rest.index(after: close)...] }
        }
        // The timestamp, where the line starts or a little way in (a syslog prefix, a
        // spliced copy of another line): a `[` whose content is a time.
        var searched = 0
        var index = rest.startIndex
        while index < rest.endIndex, searched < 48 {
            if rest[index] == "[", let after = timestampEnd(rest[index...]) {
                rest = dropCaller(rest[after...])
                break
            }
            index = rest.index(after: index)
            searched += 1
        }
        return rest.drop(while: \.isBlank)
    }

    /// The index after `[  105.480943]`, or nil when the bracket holds no time.
    private static func timestampEnd(_ text: Substring) -> Substring.Index? {
        guard let close = text.prefix(24).firstIndex(of: "]") else { return nil }
        let stamp = text[text.index(after: text.startIndex)..<close]
        guard stamp.contains(where: \.isASCIIDigit), stamp.contains("."),
              stamp.allSatisfy({ $0.isASCIIDigit || $0 == "." || $0.isBlank }) else { return nil }
        return text.index(after: close)
    }

    /// `[  T123]` or `[    C2]` after the time (CONFIG_PRINTK_CALLER).
    private static func dropCaller(_ text: Substring) -> Substring {
        guard text.first == "[", let close = text.prefix(16).firstIndex(of: "]") else { return text }
        let caller = text[text.index(after: text.startIndex)..<close].drop { $0 == " " }
        guard let tag = caller.first, tag == "T" || tag == "C", caller.count > 1,
              caller.dropFirst().allSatisfy(\.isASCIIDigit) else { return text }
        return text[text.index(after: close)...]
    }

    /// `4,35373,663129305675,-;` (Documentation/ABI/testing/dev-kmsg: level, sequence,
    /// microseconds, flags and netconsole's `ncfrag=`, then `;`).
    private static func dropKmsgPrefix(_ text: Substring) -> Substring {
        guard text.first?.isASCIIDigit == true, let semicolon = text.prefix(64).firstIndex(of: ";") else { return text }
        let fields = text[..<semicolon].split(separator: ",", maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count == 4, fields[0...2].allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }) else { return text }
        return text[text.index(after: semicolon)...]
    }

    private static let months: Set<Substring> = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Aug 21 11:46:43 host kernel: ` (syslog, journalctl's default) and
    /// `2024-08-21T11:46:43+0200 host kernel: ` (journalctl -o short-iso).
    private static func dropSyslogPrefix(_ text: Substring) -> Substring {
        let words = text.prefix(128).split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        let tagIndex: Int
        if words.count >= 5, months.contains(words[0]), words[1].allSatisfy(\.isASCIIDigit),
           words[2].filter({ $0 == ":" }).count == 2 {
            tagIndex = 4
        } else if words.count >= 3, words[0].first?.isASCIIDigit == true, words[0].contains("T"),
                  words[0].contains("-"), words[0].contains(":") {
            tagIndex = 2
        } else {
            return text
        }
        let tag = words[tagIndex]
        guard tag.count > 1, tag.last == ":" || tag.hasSuffix("]:") else { return text }
        return text[tag.endIndex...]
    }

    private static let panicMarker = "Kernel panic - not syncing: "
    /// Lines that name what went wrong, printed before the Oops line (arch/x86/mm/fault.c
    /// `show_fault_oops`, lib/bug.c, arch/x86/kernel/traps.c, arm64 `die_kernel_fault`).
    private static let causePrefixes = ["BUG: ", "kernel BUG at ", "general protection fault",
                                        "Unable to handle kernel ", "Insufficient stack space"]
    /// `BUG: ` reports that do not stop anything: never the crash.
    private static let harmlessBugs = ["BUG: sleeping function called", "BUG: scheduling while atomic"]
    /// The die() line itself; a cause only when no line above named one.
    private static let dieLinePrefixes = ["Oops: ", "invalid opcode: ", "Internal error: ",
                                          "divide error: ", "stack segment: ", "double fault: "]

    /// Which report a text without a panic line is about.
    enum ReportOrder { case first, last }

    /// The text after the panic marker, when the line is a panic (and not the
    /// `---[ end Kernel panic …` trailer, or a console line glued in front of it).
    static func panicReason(in message: Substring) -> Substring? {
        guard !message.hasPrefix("---[ end "), let range = message.firstRange(of: panicMarker) else { return nil }
        return message[range.upperBound...]
    }

    /// Whether a line starts a report: an Oops or BUG, a soft lockup, a blocked task.
    static func isReportStart(_ message: Substring) -> Bool {
        if causePrefixes.contains(where: { message.hasPrefix($0) }) {
            return !harmlessBugs.contains { message.hasPrefix($0) }
        }
        // `watchdog: BUG: soft lockup - CPU#1 stuck for 22s!`
        if message.contains("BUG: soft lockup") { return true }
        // `INFO: task kworker/u4:2:58 blocked for more than 122 seconds.`
        return message.hasPrefix("INFO: task ") && message.contains(" blocked for more than ")
    }

    private mutating func scan(_ messages: [Substring], reportOrder: ReportOrder) {
        var panicIndex: Int?
        var causes: [(index: Int, line: Substring)] = []
        var warnings: [Int] = []
        var cpuLines: [Int] = []
        var likelyArchitecture: String?
        for (index, message) in messages.enumerated() {
            if architecture == nil { architecture = Self.architecture(of: message) }
            if likelyArchitecture == nil { likelyArchitecture = Self.likelyArchitecture(of: message) }
            if panicIndex == nil, let reason = Self.panicReason(in: message) {
                panicIndex = index
                panicReason = String(reason)
            } else if Self.isReportStart(message) {
                causes.append((index, message))
            } else if Self.dieLinePrefixes.contains(where: { message.hasPrefix($0) }),
                      !causes.contains(where: { $0.index >= index - 4 }) {
                causes.append((index, message))
            } else if message.hasPrefix("WARNING: ") {
                warnings.append(index)
            } else if Self.isCPULine(message) {
                cpuLines.append(index)
            } else if message.hasPrefix("ECC: ") {
                ecc = Self.ecc(message)
            }
        }

        if architecture == nil { architecture = likelyArchitecture }

        // Where the crash's own lines start: the report that led to the panic (an Oops, a
        // soft lockup, a blocked task; a WARNING only under panic_on_warn, as others do not
        // stop the kernel), else the panic and its own stack.
        var anchor: Int?
        if let panicIndex {
            hint = Self.hint(forPanicReason: messages[panicIndex])
            var reports = causes.filter { $0.index < panicIndex }
            if panicReason?.contains("panic_on_warn") == true, let warning = warnings.last(where: { $0 < panicIndex }) {
                reports.append((warning, messages[warning]))
                reports.sort { $0.index < $1.index }
            }
            if let cause = reports.last {
                oopsCause = String(cause.line)
                anchor = cause.index
            } else {
                anchor = panicIndex
            }
        } else if let cause = reportOrder == .first ? causes.first : causes.last {
            oopsCause = String(cause.line)
            anchor = cause.index
        } else {
            // Truncated before the cause: the last stack dump is the best guess, and
            // without one (a ramoops record that kept only the tail of a trace) the first
            // call trace, unless a WARNING, which does not stop the kernel, owns it.
            anchor = cpuLines.last
                ?? (warnings.isEmpty ? messages.firstIndex { $0.hasPrefix("Call Trace:") || $0.hasPrefix("Call trace:") } : nil)
        }
        guard let anchor else { return }

        var key: [Int] = [anchor]
        if let panicIndex, panicIndex != anchor { key.append(panicIndex) }
        let end = messages[anchor...].firstIndex { $0.hasPrefix("---[ end ") } ?? messages.endIndex
        let block = messages[anchor..<end]

        // The report's own CPU line; a report without one (a blocked task) has the panic's.
        if let cpu = block.firstIndex(where: Self.isCPULine)
            ?? panicIndex.flatMap({ panic in cpuLines.first { $0 > panic && $0 <= panic + 3 } }) {
            key.append(cpu)
            parseCPULine(messages[cpu], continuation: messages[(cpu + 1)...].prefix(2))
        }
        var candidate: (symbol: Substring, module: Substring?)?
        for index in block.indices {
            let message = messages[index]
            for prefix in Self.faultAddressPrefixes where message.hasPrefix(prefix) {
                if let frame = Self.kernelFrame(message.dropFirst(prefix.count)) {
                    candidate = frame
                    key.append(index)
                }
            }
            if candidate != nil { break }
        }
        if candidate?.module == nil,
           let trace = block.firstIndex(where: { $0.hasPrefix("Call Trace:") || $0.hasPrefix("Call trace:") }) {
            // The first reliable frame in a module: `?` frames are stale stack words.
            for message in block[(trace + 1)...] {
                if let parsed = Self.callTraceFrame(message), parsed.module != nil {
                    candidate = candidate ?? parsed
                    candidate?.module = parsed.module
                    break
                }
            }
        }
        if candidate?.module == nil, let panicIndex, anchor == panicIndex,
           let module = Self.moduleOfTrace(endingBefore: panicIndex, in: messages) {
            // A watchdog that dumps the stuck task and then panics (the PM core's
            // `DPM device timeout`, drivers/base/power/main.c): that task's stack, right
            // before the panic line, is what the panic is about.
            candidate = (candidate?.symbol ?? module.symbol, module.module)
        }
        if let modulesIndex = block.firstIndex(where: { $0.hasPrefix("Modules linked in:") }) {
            key.append(modulesIndex)
            modulesLinkedIn = Self.moduleNames(messages[modulesIndex].dropFirst("Modules linked in:".count))
        }
        faultingSymbol = candidate.map { String($0.symbol) }
        // The module the kernel's own symbolizer put in brackets (`%pS`, kernel/kallsyms.c)
        // is named by the text; `Modules linked in:` is not asked, since real lists are
        // often cut (printk splits them at 1 KiB, mail clients wrap them).
        faultingModule = candidate?.module.map(String.init)
        keyLines = key.sorted().map { String(messages[$0]) }
    }

    /// The first reliable module frame of the call trace whose last frame is the line
    /// before `end` (frames and `<TASK>`/`<IRQ>` markers only, up to its `Call Trace:`).
    private static func moduleOfTrace(endingBefore end: Int, in messages: [Substring]) -> (symbol: Substring, module: Substring?)? {
        var start = end
        while start > 0, end - start < 256 {
            let line = messages[start - 1]
            if line.hasPrefix("Call Trace:") || line.hasPrefix("Call trace:") { break }
            let isMarker = line.hasPrefix("<") && line.hasSuffix(">") && line.count <= 8
            guard isMarker || line.hasPrefix("? ") || kernelFrame(line) != nil else { return nil }
            start -= 1
        }
        guard start > 0, start < end else { return nil }
        for line in messages[start..<end] {
            if let frame = callTraceFrame(line), frame.module != nil { return frame }
        }
        return nil
    }

    /// The register lines that say where the kernel was when it died: x86 `RIP:`, arm64
    /// `pc :`, riscv `epc :`, older arm `PC is at`.
    private static let faultAddressPrefixes = ["RIP: ", "pc : ", "epc : ", "PC is at "]

    /// The architecture a line gives away, or nil.
    static func architecture(of message: Substring) -> String? {
        if message.hasPrefix("RIP: ") || message.hasPrefix("RSP: ") || message.contains("[Hardware Error]: ") {
            return "x86_64"
        }
        if message.hasPrefix("pc : ") || message.hasPrefix("lr : ") || message.hasPrefix("pstate: ") {
            return "arm64"
        }
        if message.hasPrefix("epc : ") || message.hasPrefix("epc: ") || message.hasPrefix("sepc: ") {
            return "riscv64"
        }
        return nil
    }

    /// What a line suggests when no register line says: x86 alone prints `?` frames,
    /// `<TASK>` markers and `mcelog` hints, and its kernel sits at 0xffffffff81000000;
    /// arm64 alone ends a panic with `CPU features:` and `Memory Limit:` and prints
    /// `Call trace:` in lower case.
    static func likelyArchitecture(of message: Substring) -> String? {
        if message.hasPrefix("? ") || message == "<TASK>" || message == "</TASK>" || message.contains("mcelog --ascii")
            || (message.hasPrefix("Kernel Offset: ") && message.contains(" from 0xffffffff8")) {
            return "x86_64"
        }
        if message.hasPrefix("CPU features: ") || message.hasPrefix("Memory Limit: ") || message.hasPrefix("Call trace:") {
            return "arm64"
        }
        return nil
    }

    /// The class a panic reason points to (init/do_mounts.c, init/main.c, kernel/exit.c).
    static func hint(forPanicReason line: Substring) -> FailureClass? {
        let reason = panicReason(in: line) ?? line
        if reason.hasPrefix("VFS: Unable to mount root fs") { return .rootDeviceMismatch }
        if reason.hasPrefix("No working init found") || reason.hasPrefix("Attempted to kill init")
            || reason.hasPrefix("Requested init ") {
            return .initMissing
        }
        return nil
    }

    /// `CPU: 0 PID: 87 Comm: insmod Tainted: G           OE      6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1`
    /// (lib/dump_stack.c `dump_stack_print_info`; 6.10+ adds `UID: 0`).
    static func isCPULine(_ message: Substring) -> Bool {
        message.hasPrefix("CPU: ") && message.contains(" PID: ") && message.contains(" Comm: ")
    }

    /// - Parameter continuation: the lines after it, for a CPU line a mail client wrapped
    ///   (its taint columns and release on lines of their own).
    private mutating func parseCPULine(_ message: Substring, continuation: ArraySlice<Substring> = []) {
        let words = message.split(separator: " ")
        if let at = words.firstIndex(of: "PID:"), at + 1 < words.count { pid = Int(words[at + 1]) }
        guard let commStart = message.firstRange(of: " Comm: ")?.upperBound else { return }
        let rest = message[commStart...]
        let flags: Substring
        if let marker = rest.firstRange(of: " Not tainted ") ?? (rest.hasSuffix(" Not tainted") ? rest.suffix(12).startIndex..<rest.endIndex : nil) {
            comm = String(rest[..<marker.lowerBound])
            taint = ""
            flags = rest[marker.upperBound...]
        } else if let marker = rest.firstRange(of: " Tainted: ") {
            comm = String(rest[..<marker.lowerBound])
            flags = rest[marker.upperBound...]
        } else {
            return
        }
        // The taint field is one column per flag (a space when unset, `G` standing in for
        // an unset `P`), then the release: the first word that starts with a digit.
        var fields = flags.split(separator: " ")
        for line in continuation where !fields.contains(where: { $0.first?.isASCIIDigit == true }) {
            // A wrapped line holds only taint columns (letters, Fedora's `-------  ---`)
            // and the release; anything with a colon is the next line of the report.
            guard !line.contains(":") else { break }
            fields += line.split(separator: " ")
        }
        guard let release = fields.firstIndex(where: { $0.first?.isASCIIDigit == true }) else { return }
        if taint == nil { taint = String(fields[..<release].joined().filter { $0 != "G" && $0.isLetter }) }
        kernelVersion = String(fields[release])
        let build = fields[(release + 1)...].joined(separator: " ")
        kernelBuild = build.isEmpty ? nil : build
    }

    /// `clarity_oops_init+0x11/0x1000 [clarity_oops]`, optionally after the `0010:` code
    /// segment of an x86 RIP (`e030:` under Xen) and `[<ffffffffc0a1b2c3>]` addresses
    /// (riscv and older x86 traces). The module may carry the build id 6.x prints
    /// (`[btrfs 23b0…]`, lib/vsprintf.c with CONFIG_STACKTRACE_BUILD_ID) or an offset form
    /// (`[mod@buildid+0x10]`). Nil for user-mode addresses (`0033:0x47fbe9`) and text that
    /// is not a symbol.
    static func kernelFrame(_ text: Substring) -> (symbol: Substring, module: Substring?)? {
        var rest = dropAddresses(text.drop(while: \.isBlank))
        if let colon = rest.prefix(5).firstIndex(of: ":"), rest.distance(from: rest.startIndex, to: colon) == 4,
           rest[..<colon].allSatisfy(\.isHexDigit) {
            rest = dropAddresses(rest[rest.index(after: colon)...])
        }
        let words = rest.prefix(512).split(whereSeparator: \.isBlank)
        guard let symbol = words.first, !symbol.hasPrefix("0x"), symbol.contains("+0x"),
              symbol.contains("/0x") else { return nil }
        // The bracket comes right after the symbol; arm64 6.13 may add a `(P)` marker.
        guard let bracket = words.dropFirst().prefix(2).first(where: { $0.hasPrefix("[") }) else { return (symbol, nil) }
        // Up to its `]`, which must be there: a torn `[btrfs` names nothing for sure.
        let content = rest[bracket.startIndex...].dropFirst().prefix(160)
        guard let close = content.firstIndex(of: "]") else { return (symbol, nil) }
        let name = content[..<close].prefix { $0 != " " && $0 != "@" }
        guard !name.isEmpty, name.count <= 64, name.allSatisfy(\.isModuleNameCharacter) else { return (symbol, nil) }
        return (symbol, name)
    }

    /// A call trace line as a frame, nil for `?` frames (stale words on the stack, not
    /// calls) and lines that are not frames.
    static func callTraceFrame(_ line: Substring) -> (symbol: Substring, module: Substring?)? {
        let frame = dropAddresses(line.drop(while: \.isBlank))
        if frame.hasPrefix("?") { return nil }
        return kernelFrame(frame)
    }

    /// Drops `[<ffffffff81000000>]` address columns and the blanks after them.
    private static func dropAddresses(_ text: Substring) -> Substring {
        var rest = text
        while rest.hasPrefix("[<"), let close = rest.prefix(40).firstIndex(of: "]") {
            rest = rest[rest.index(after: close)...].drop(while: \.isBlank)
        }
        return rest
    }

    /// `clarity_oops(OE+) ramoops reed_solomon [last unloaded: x]` → names.
    static func moduleNames(_ list: Substring) -> [String] {
        var names: [String] = []
        for word in list.split(separator: " ") {
            if word.hasPrefix("[") { break }
            let name = word.prefix { $0 != "(" }
            if !name.isEmpty { names.append(String(name)) }
        }
        return names
    }

    /// `ECC: No errors detected` or `ECC: 3 Corrected bytes, 0 unrecoverable blocks`
    /// (fs/pstore/ram_core.c `persistent_ram_ecc_string`).
    static func ecc(_ message: Substring) -> ECCStatus? {
        if message == "ECC: No errors detected" { return .clean }
        let words = message.split(separator: " ")
        guard words.count == 7, let bytes = Int(words[1]), let blocks = Int(words[4]),
              words[2] == "Corrected", words[5] == "unrecoverable" else { return nil }
        return .corrected(bytes: bytes, unrecoverableBlocks: blocks)
    }
}

extension Substring {
    var trimmingTrailingWhitespace: Substring {
        var result = self
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}

fileprivate extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
    /// A space, a tab or a NO-BREAK SPACE (quoted reports indent with them).
    var isBlank: Bool { self == " " || self == "\t" || self == "\u{a0}" }
    /// Module names are C identifiers, and file names may use `-` (scripts/Makefile.lib).
    var isModuleNameCharacter: Bool { isASCII && (isLetter || isNumber || self == "_" || self == "-") }
}
