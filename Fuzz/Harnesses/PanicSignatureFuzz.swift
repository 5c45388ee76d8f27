import HealCore

// Fuzzes the kernel crash record reader as the kernel-panic detector calls it on each
// pstore dmesg record of a root (`PanicSignature(record:)` on the record's text), and the
// kernel log reader (`PanicSignature(log:)`) on the same text.
//
// Properties:
// - the module it blames occurs in the text as a `[module]` frame annotation (or with a
//   build id, `[module 40hex]`, `[module@…]`), and is a module name;
// - every name of `Modules linked in:` is a word of the text, without blanks or flags;
// - the reason, cause, symbol, command, kernel release and key lines are text of the
//   record, never made up;
// - a record that parses also parses with its trailing blank lines removed, to the same
//   signature (blank lines are not log).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPanicSignature(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = fuzzText(fuzzInput(data, size))
    let bytes = Array(text.utf8)
    check(PanicSignature(log: text), in: bytes)
    guard let signature = try? PanicSignature(record: text) else { return 0 }
    check(signature, in: bytes)

    var trimmed = text
    while trimmed.hasSuffix("\n") { trimmed.removeLast() }
    if !trimmed.isEmpty, let again = try? PanicSignature(record: trimmed) {
        require(again == signature, "trailing newlines changed the signature")
    }
    return 0
}

/// The properties every signature read from `bytes` has.
private func check(_ signature: PanicSignature, in bytes: [UInt8]) {
    if let module = signature.faultingModule {
        require(["]", " ", "@"].contains { occurs("[" + module + $0, in: bytes) },
                "blamed module \(module.debugDescription) is not in the text")
        require(!module.isEmpty && module.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") },
                "blamed module \(module.debugDescription) is not a module name")
    }
    for name in signature.modulesLinkedIn {
        require(!name.isEmpty && !name.contains(where: { $0 == " " || $0 == "(" }) && occurs(name, in: bytes),
                "linked-in module \(name.debugDescription) is not a word of the text")
    }
    let quoted = [signature.panicReason, signature.oopsCause, signature.faultingSymbol, signature.comm,
                  signature.kernelVersion].compactMap { $0 } + signature.keyLines
    for piece in quoted {
        require(occurs(piece, in: bytes), "\(piece.debugDescription) is not in the text")
    }
    _ = signature.summary
    _ = signature.identity
    _ = signature.crashKind
}

/// Whether the UTF-8 of `needle` occurs in `haystack`; Knuth–Morris–Pratt, so that a
/// long line cannot make the check itself quadratic.
private func occurs(_ needle: String, in haystack: [UInt8]) -> Bool {
    let pattern = Array(needle.utf8)
    if pattern.isEmpty { return true }
    // fallback[i]: the length of the longest proper prefix of pattern[...i] that is also
    // its suffix.
    var fallback = [Int](repeating: 0, count: pattern.count)
    var length = 0
    for i in pattern.indices.dropFirst() {
        while length > 0 && pattern[i] != pattern[length] { length = fallback[length - 1] }
        if pattern[i] == pattern[length] { length += 1 }
        fallback[i] = length
    }
    var matched = 0
    for byte in haystack {
        while matched > 0 && byte != pattern[matched] { matched = fallback[matched - 1] }
        if byte == pattern[matched] { matched += 1 }
        if matched == pattern.count { return true }
    }
    return false
}
