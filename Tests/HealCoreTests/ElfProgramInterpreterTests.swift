import Foundation
import HealCore
import Testing

/// PT_INTERP parsing against readelf on real binaries of this machine.
@Suite("ElfProgramInterpreter")
struct ElfProgramInterpreterTests {
    static func readelfInterpreter(_ path: String) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/readelf")
        process.arguments = ["-l", "-W", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard let range = text.range(of: "[Requesting program interpreter: ") else { return nil }
        return String(text[range.upperBound...].prefix { $0 != "]" })
    }

    @Test(arguments: ["/usr/bin/ls", "/usr/bin/env", "/usr/lib/systemd/systemd", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                      "/usr/lib/x86_64-linux-gnu/libc.so.6"])
    func matchesReadelf(path: String) throws {
        // Whole files: libc.so.6 keeps its PT_INTERP 1.7 MB in.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let expected: ElfProgramInterpreter.Result = try Self.readelfInterpreter(path).map { .interpreter($0) } ?? .none
        #expect(ElfProgramInterpreter.read(bytes) == expected)
    }

    @Test func notElfAndShortInput() throws {
        #expect(ElfProgramInterpreter.read(Array("#!/bin/sh\necho\n".utf8)) == .notElf)
        let ls = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/usr/bin/ls")))
        #expect(ElfProgramInterpreter.read(Array(ls.prefix(40))) == .needsMoreBytes(needed: 64))
        if case .needsMoreBytes(let needed) = ElfProgramInterpreter.read(Array(ls.prefix(100))) {
            #expect(needed > 100)
        } else {
            Issue.record("expected a request for more bytes")
        }
    }
}
