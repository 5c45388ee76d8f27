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
        let messages = lines[(headerIndex + 1)...].map { Self.message(of: $0.trimmingTrailingWhitespace) }
        self.init(kind: header.kind, dumpCount: header.count, part: header.part)
        scan(messages)
    }

    /// `Panic#1 Part1` → (panic, 1, 1).
    static func header(_ line: Substring) -> (kind: Kind, count: Int, part: Int)? {
        guard let hash = line.firstIndex(of: "#") else { return nil }
        let word = line[..<hash]
        guard !word.isEmpty, word.allSatisfy({ $0.isASCII && $0.isLetter }) else { return nil }
        let rest = line[line.index(after: hash)...]
        let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 2, let count = Int(fields[0]), fields[1].hasPrefix("Part"),
              let part = Int(fields[1].dropFirst(4)) else { return nil }
        return (Kind(headerWord: word), count, part)
    }

    /// The message of a log line: `<4>[    3.72]` (and a `[  T123]` caller id, with
    /// CONFIG_PRINTK_CALLER) and the one space after them removed. Lines without the
    /// prefix (the ECC trailer, a torn line) come back unchanged.
    static func message(of line: Substring) -> Substring {
        var rest = line
        if rest.first == "<", let close = rest.firstIndex(of: ">") {
            let level = rest[rest.index(after: rest.startIndex)..<close]
            if !level.isEmpty, level.allSatisfy(\.isASCIIDigit) { rest = rest[rest.index(after: close)...] }
        }
        if rest.first == "[", let close = rest.firstIndex(of: "]") {
            let stamp = rest[rest.index(after: rest.startIndex)..<close]
            if stamp.contains(where: \.isASCIIDigit), stamp.allSatisfy({ $0.isASCIIDigit || $0 == "." || $0 == " " }) {
                rest = rest[rest.index(after: close)...]
                if rest.first == "[", let callerClose = rest.firstIndex(of: "]") {
                    let caller = rest[rest.index(after: rest.startIndex)..<callerClose].drop { $0 == " " }
                    if let tag = caller.first, tag == "T" || tag == "C",
                       caller.count > 1, caller.dropFirst().allSatisfy(\.isASCIIDigit) {
                        rest = rest[rest.index(after: callerClose)...]
                    }
                }
            }
        }
        if rest.first == " " { rest = rest.dropFirst() }
        return rest
    }

    private static let panicPrefix = "Kernel panic - not syncing: "
    /// Lines that name what went wrong, printed before the Oops line (arch/x86/mm/fault.c
    /// `show_fault_oops`, lib/bug.c, arch/x86/kernel/traps.c, arm64 `die_kernel_fault`).
    private static let causePrefixes = ["BUG: ", "kernel BUG at ", "general protection fault",
                                        "Unable to handle kernel "]
    /// The die() line itself; a cause only when no line above named one.
    private static let dieLinePrefixes = ["Oops: ", "invalid opcode: ", "Internal error: ",
                                          "divide error: ", "stack segment: ", "double fault: "]

    private mutating func scan(_ messages: [Substring]) {
        var panicIndex: Int?
        var causes: [(index: Int, line: Substring)] = []
        var cpuLines: [Int] = []
        for (index, message) in messages.enumerated() {
            if panicIndex == nil, message.hasPrefix(Self.panicPrefix) {
                panicIndex = index
            } else if Self.causePrefixes.contains(where: { message.hasPrefix($0) }) {
                causes.append((index, message))
            } else if Self.dieLinePrefixes.contains(where: { message.hasPrefix($0) }),
                      !causes.contains(where: { $0.index >= index - 4 }) {
                causes.append((index, message))
            } else if Self.isCPULine(message) {
                cpuLines.append(index)
            } else if message.hasPrefix("ECC: ") {
                ecc = Self.ecc(message)
            }
        }

        // Where the crash's own lines start: the panic, or the Oops that led to it. A
        // panic after an Oops prints no stack of its own (the Oops set TAINT_DIE), so
        // a panic without a CPU line right after it belongs to the last Oops before it.
        var anchor: Int?
        if let panicIndex {
            panicReason = String(messages[panicIndex].dropFirst(Self.panicPrefix.count))
            hint = Self.hint(forPanicReason: messages[panicIndex])
            let ownStack = cpuLines.contains { $0 > panicIndex && $0 <= panicIndex + 3 }
            if !ownStack, let cause = causes.last(where: { $0.index < panicIndex }) {
                oopsCause = String(cause.line)
                anchor = cause.index
            } else {
                anchor = panicIndex
            }
        } else if let cause = causes.last {
            oopsCause = String(cause.line)
            anchor = cause.index
        } else {
            // Truncated before the cause: the last stack dump is the best guess.
            anchor = cpuLines.last
        }
        guard let anchor else { return }

        var key: [Int] = [anchor]
        if let panicIndex, panicIndex != anchor { key.append(panicIndex) }
        let end = messages[anchor...].firstIndex { $0.hasPrefix("---[ end ") } ?? messages.endIndex
        let block = messages[anchor..<end]

        if let cpu = block.firstIndex(where: Self.isCPULine) {
            key.append(cpu)
            parseCPULine(messages[cpu])
        }
        var candidate: (symbol: Substring, module: Substring?)?
        for index in block.indices {
            let message = messages[index]
            for prefix in ["RIP: ", "pc : "] where message.hasPrefix(prefix) {
                if let frame = Self.kernelFrame(message.dropFirst(prefix.count)) {
                    candidate = frame
                    key.append(index)
                }
            }
            if candidate != nil { break }
        }
        if candidate?.module == nil, let trace = block.firstIndex(where: { $0.hasPrefix("Call Trace:") }) {
            // The first reliable frame in a module: `?` frames are stale stack words.
            for message in block[(trace + 1)...] {
                let frame = message.drop { $0 == " " || $0 == "\t" }
                if frame.hasPrefix("?") { continue }
                if let parsed = Self.kernelFrame(frame), parsed.module != nil {
                    candidate = candidate ?? parsed
                    candidate?.module = parsed.module
                    break
                }
            }
        }
        if let modulesIndex = block.firstIndex(where: { $0.hasPrefix("Modules linked in:") }) {
            key.append(modulesIndex)
            modulesLinkedIn = Self.moduleNames(messages[modulesIndex].dropFirst("Modules linked in:".count))
        }
        faultingSymbol = candidate.map { String($0.symbol) }
        if let module = candidate?.module.map(String.init),
           modulesLinkedIn.isEmpty || modulesLinkedIn.contains(module) {
            faultingModule = module
        }
        keyLines = key.sorted().map { String(messages[$0]) }
    }

    /// The class a panic reason points to (init/do_mounts.c, init/main.c, kernel/exit.c).
    static func hint(forPanicReason line: Substring) -> FailureClass? {
        let reason = line.hasPrefix(panicPrefix) ? line.dropFirst(panicPrefix.count) : line
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

    private mutating func parseCPULine(_ message: Substring) {
        let words = message.split(separator: " ")
        if let at = words.firstIndex(of: "PID:"), at + 1 < words.count { pid = Int(words[at + 1]) }
        guard let commStart = message.firstRange(of: " Comm: ")?.upperBound else { return }
        let rest = message[commStart...]
        let flags: Substring
        if let marker = rest.firstRange(of: " Not tainted ") {
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
        let fields = flags.split(separator: " ")
        guard let release = fields.firstIndex(where: { $0.first?.isASCIIDigit == true }) else { return }
        if taint == nil { taint = String(fields[..<release].joined().filter { $0 != "G" }) }
        kernelVersion = String(fields[release])
        let build = fields[(release + 1)...].joined(separator: " ")
        kernelBuild = build.isEmpty ? nil : build
    }

    /// `clarity_oops_init+0x11/0x1000 [clarity_oops]`, optionally after the `0010:` code
    /// segment of an x86 RIP. Nil for user-mode addresses (`0033:0x47fbe9`) and text that
    /// is not a symbol.
    static func kernelFrame(_ text: Substring) -> (symbol: Substring, module: Substring?)? {
        var rest = text.drop { $0 == " " }
        if let colon = rest.firstIndex(of: ":"), rest.distance(from: rest.startIndex, to: colon) == 4,
           rest[..<colon].allSatisfy(\.isHexDigit) {
            rest = rest[rest.index(after: colon)...]
        }
        let words = rest.split(separator: " ")
        guard let symbol = words.first, !symbol.hasPrefix("0x"), symbol.contains("+0x"),
              symbol.contains("/0x") else { return nil }
        var module: Substring?
        if words.count > 1, let last = words.last, last.hasPrefix("["), last.hasSuffix("]"), last.count > 2 {
            module = last.dropFirst().dropLast()
        }
        return (symbol, module)
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

fileprivate extension Substring {
    var trimmingTrailingWhitespace: Substring {
        var result = self
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}

fileprivate extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
