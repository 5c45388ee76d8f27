// Shared by every harness: each is compiled as `swiftc -sanitize=fuzzer,address
// -parse-as-library` together with this file (scripts/fuzz), so libFuzzer's main calls
// the harness's `LLVMFuzzerTestOneInput` once per input.

/// The bytes libFuzzer hands to `LLVMFuzzerTestOneInput`, copied: the harness must not
/// keep the pointer past the call.
func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// The text a product reader makes of a file's bytes: `FileReading.text` decodes UTF-8
/// with invalid sequences repaired, never failing.
func fuzzText(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// Whether `bytes` are valid UTF-8 (so that decoding them changed nothing).
func isValidUTF8(_ bytes: [UInt8]) -> Bool {
    Array(fuzzText(bytes).utf8) == bytes
}

/// Traps when a property of the parser does not hold: libFuzzer reports the trap as a
/// crash and keeps the input as its reproducer. The message goes to stderr first.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("property violated: \(message())", file: file, line: line) }
}
