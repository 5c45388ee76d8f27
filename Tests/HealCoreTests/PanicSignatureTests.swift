import Foundation
import Testing
@testable import HealCore

/// The real records scripts/make-pstore-fixtures saved from the Debian cloud kernel.
enum PstoreFixture {
    static let folder: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return url.path + "/HealSystemTests/Resources/pstore"
    }()

    static func text(_ scenario: String) throws -> String {
        try String(contentsOfFile: folder + "/" + scenario + "/dmesg-ramoops-0", encoding: .utf8)
    }
}

struct RealRecordExpectation: Sendable, CustomStringConvertible {
    var scenario: String
    var kind: PanicSignature.Kind
    var panicReason: String?
    var oopsCause: String?
    var module: String?
    var symbol: String?
    var comm: String
    var pid: Int
    var taint: String
    var hint: FailureClass?
    var modules: [String] = []
    var description: String { scenario }
}

@Suite struct PanicSignatureTests {
    static let realRecords: [RealRecordExpectation] = [
        .init(scenario: "panic-sysrq", kind: .panic, panicReason: "sysrq triggered crash",
              comm: "stage", pid: 1, taint: "", hint: nil),
        .init(scenario: "oops-module", kind: .oops,
              oopsCause: "BUG: kernel NULL pointer dereference, address: 0000000000000000",
              module: "clarity_oops", symbol: "clarity_oops_init+0x11/0x1000",
              comm: "insmod", pid: 87, taint: "OE", hint: nil,
              modules: ["clarity_oops", "ramoops", "reed_solomon"]),
        .init(scenario: "init-exit", kind: .panic, panicReason: "Attempted to kill init! exitcode=0x00000000",
              comm: "stage", pid: 1, taint: "", hint: .initMissing),
        .init(scenario: "vfs-no-root", kind: .panic,
              panicReason: "VFS: Unable to mount root fs on unknown-block(0,0)",
              comm: "swapper/0", pid: 1, taint: "E", hint: .rootDeviceMismatch),
        .init(scenario: "no-working-init", kind: .panic,
              panicReason: "No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.",
              comm: "swapper/0", pid: 1, taint: "E", hint: .initMissing),
    ]

    @Test(arguments: realRecords)
    func realRecord(_ expected: RealRecordExpectation) throws {
        let signature = try PanicSignature(record: PstoreFixture.text(expected.scenario))
        #expect(signature.kind == expected.kind)
        #expect(signature.dumpCount == 1)
        #expect(signature.part == 1)
        #expect(signature.panicReason == expected.panicReason)
        #expect(signature.oopsCause == expected.oopsCause)
        #expect(signature.faultingModule == expected.module)
        #expect(signature.faultingSymbol == expected.symbol)
        #expect(signature.modulesLinkedIn == expected.modules)
        #expect(signature.kernelVersion == "6.1.0-50-cloud-amd64")
        #expect(signature.kernelBuild == "#1 Debian 6.1.176-1")
        #expect(signature.comm == expected.comm)
        #expect(signature.pid == expected.pid)
        #expect(signature.taint == expected.taint)
        #expect(signature.hint == expected.hint)
        #expect(signature.ecc == .clean)
        #expect(signature.isCrash)
        #expect(signature.keyLines.contains { $0.hasPrefix("CPU: 0 PID: \(expected.pid) Comm: \(expected.comm)") })
        if let reason = expected.panicReason {
            #expect(signature.keyLines.first == "Kernel panic - not syncing: " + reason)
        }
    }

    @Test func oopsSummaryNamesCauseModuleAndKernel() throws {
        let signature = try PanicSignature(record: PstoreFixture.text("oops-module"))
        #expect(signature.summary == "kernel Oops in module clarity_oops: BUG: kernel NULL pointer dereference, "
            + "address: 0000000000000000 on kernel 6.1.0-50-cloud-amd64")
        #expect(signature.keyLines == [
            "BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "CPU: 0 PID: 87 Comm: insmod Tainted: G           OE      6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1",
            "RIP: 0010:clarity_oops_init+0x11/0x1000 [clarity_oops]",
            "Modules linked in: clarity_oops(OE+) ramoops reed_solomon",
        ])
    }

    @Test func sameCrashOnAnotherBootHasTheSameIdentity() throws {
        let text = try PstoreFixture.text("oops-module")
        // Another boot: other timestamps, PID and dump count; same bug.
        let later = text.replacingOccurrences(of: "PID: 87 ", with: "PID: 412 ")
            .replacingOccurrences(of: "Oops#1 Part1", with: "Oops#3 Part1")
            .replacingOccurrences(of: "[    4.", with: "[   17.")
        let first = try PanicSignature(record: text), second = try PanicSignature(record: later)
        #expect(first.identity == second.identity)
        #expect(first != second)
        let other = try PanicSignature(record: PstoreFixture.text("panic-sysrq"))
        #expect(other.identity != first.identity)
    }

    /// Variants of the real Oops record: what a torn, edited or differently configured
    /// record still tells.
    struct Variant: Sendable, CustomStringConvertible {
        var description: String
        var transform: @Sendable (String) -> String
        var check: @Sendable (PanicSignature) -> Void
    }

    static let oopsVariants: [Variant] = [
        Variant(description: "cut before Modules linked in: the RIP still names the module",
                transform: { cut($0, before: "Modules linked in:") },
                check: { s in
                    #expect(s.faultingModule == "clarity_oops")
                    #expect(s.modulesLinkedIn.isEmpty)
                    #expect(s.ecc == nil)
                    #expect(s.kernelVersion == "6.1.0-50-cloud-amd64")
                }),
        Variant(description: "cut right after the BUG line: cause only",
                transform: { cut($0, before: "#PF: supervisor read access") },
                check: { s in
                    #expect(s.oopsCause == "BUG: kernel NULL pointer dereference, address: 0000000000000000")
                    #expect(s.faultingModule == nil)
                    #expect(s.kernelVersion == nil)
                    #expect(s.taint == nil)
                    #expect(s.summary.hasSuffix("on kernel of unknown version"))
                }),
        Variant(description: "cut before the BUG line: nothing about the crash",
                transform: { cut($0, before: "BUG: kernel NULL") },
                check: { s in
                    #expect(s.kind == .oops)
                    #expect(s.reason == nil)
                    #expect(s.keyLines.isEmpty)
                    #expect(s.summary == "kernel Oops without a panic or Oops line on kernel of unknown version")
                }),
        Variant(description: "panic_on_oops: the panic's reason and the Oops' module",
                transform: { text in
                    let panicked = text.replacingOccurrences(of: "Oops#1 Part1", with: "Panic#1 Part1")
                    return insert(panicked, after: "---[ end trace", lines: [
                        "<0>[    4.980000] Kernel panic - not syncing: Fatal exception",
                        "<0>[    4.981000] Kernel Offset: 0x21c00000 from 0xffffffff81000000",
                        "<0>[    4.982000] ---[ end Kernel panic - not syncing: Fatal exception ]---",
                    ])
                },
                check: { s in
                    #expect(s.kind == .panic)
                    #expect(s.panicReason == "Fatal exception")
                    #expect(s.oopsCause == "BUG: kernel NULL pointer dereference, address: 0000000000000000")
                    #expect(s.faultingModule == "clarity_oops")
                    #expect(s.taint == "OE")
                    #expect(s.hint == nil)
                    #expect(s.summary.hasPrefix("kernel panic in module clarity_oops: Fatal exception (BUG: "))
                }),
        Variant(description: "CONFIG_PRINTK_CALLER prefixes",
                transform: { text in
                    text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                        guard let close = line.firstIndex(of: "]"), line.hasPrefix("<") else { return String(line) }
                        return String(line[...close]) + "[    T87]" + String(line[line.index(after: close)...])
                    }.joined(separator: "\n")
                },
                check: { s in
                    #expect(s.faultingModule == "clarity_oops")
                    #expect(s.comm == "insmod")
                    #expect(s.oopsCause?.hasPrefix("BUG: kernel NULL pointer") == true)
                }),
        // Real lists are often cut (printk splits them at 1 KiB, mail clients wrap them,
        // crash corpus 017, 018, 021, 037): the kernel's own `[module]` on the RIP decides.
        Variant(description: "module missing from a cut Modules linked in: still blamed, the RIP names it",
                transform: { $0.replacingOccurrences(of: "Modules linked in: clarity_oops(OE+) ", with: "Modules linked in: ") },
                check: { s in
                    #expect(s.faultingModule == "clarity_oops")
                    #expect(s.faultingSymbol == "clarity_oops_init+0x11/0x1000")
                    #expect(s.modulesLinkedIn == ["ramoops", "reed_solomon"])
                }),
        Variant(description: "ECC corrected some bytes",
                transform: { $0.replacingOccurrences(of: "ECC: No errors detected", with: "ECC: 3 Corrected bytes, 1 unrecoverable blocks") },
                check: { s in #expect(s.ecc == .corrected(bytes: 3, unrecoverableBlocks: 1)) }),
        Variant(description: "an older part of the same dump",
                transform: { $0.replacingOccurrences(of: "Oops#1 Part1", with: "Oops#1 Part2") },
                check: { s in #expect(s.part == 2) }),
        Variant(description: "a 6.10+ CPU line with UID",
                transform: { $0.replacingOccurrences(of: "CPU: 0 PID: 87 Comm: insmod", with: "CPU: 0 UID: 0 PID: 87 Comm: insmod") },
                check: { s in
                    #expect(s.pid == 87)
                    #expect(s.comm == "insmod")
                    #expect(s.kernelVersion == "6.1.0-50-cloud-amd64")
                }),
        Variant(description: "a shutdown dump is not a crash",
                transform: { cut($0, before: "BUG: kernel NULL").replacingOccurrences(of: "Oops#1 Part1", with: "Shutdown#1 Part1") },
                check: { s in
                    #expect(s.kind == .shutdown)
                    #expect(!s.isCrash)
                }),
    ]

    @Test(arguments: oopsVariants)
    func variantOfTheRealOops(_ variant: Variant) throws {
        let signature = try PanicSignature(record: variant.transform(PstoreFixture.text("oops-module")))
        variant.check(signature)
    }

    @Test(arguments: [
        ("", PanicSignature.Error.empty),
        ("\n  \n", .empty),
        ("dmesg-ramoops-0:\nPanic#1 Part1\n", .missingHeader(firstLine: "dmesg-ramoops-0:")),
        ("Panic #1 Part1\n", .missingHeader(firstLine: "Panic #1 Part1")),
        ("Panic#x Part1\n", .missingHeader(firstLine: "Panic#x Part1")),
        ("<6>[    1.0] hello\n", .missingHeader(firstLine: "<6>[    1.0] hello")),
        ("\u{1}\u{2}\u{7f}ELF\u{2}\u{1}garbage", .missingHeader(firstLine: "\u{1}\u{2}\u{7f}ELF\u{2}\u{1}garbage")),
    ])
    func rejectsTextsThatAreNotRecords(_ text: String, _ error: PanicSignature.Error) {
        #expect(throws: error) { try PanicSignature(record: text) }
    }

    @Test func garbageBytesAfterAValidHeaderDoNotCrash() throws {
        var bytes = Array("Panic#1 Part1\n".utf8)
        var state: UInt32 = 12345
        for _ in 0..<4096 {
            state = state &* 1_103_515_245 &+ 12345
            bytes.append(UInt8(truncatingIfNeeded: state >> 16))
        }
        let signature = try PanicSignature(record: String(decoding: bytes, as: UTF8.self))
        #expect(signature.kind == .panic)
        #expect(signature.panicReason == nil)
        #expect(signature.faultingModule == nil)
    }

    @Test(arguments: [
        ("Panic#1 Part1", PanicSignature.Kind.panic, 1, 1),
        ("Oops#12 Part3", .oops, 12, 3),
        ("Emergency#1 Part1", .emergency, 1, 1),
        ("Shutdown#2 Part1", .shutdown, 2, 1),
        ("Restart#1 Part1", .unknown, 1, 1),
    ])
    func headers(_ line: String, _ kind: PanicSignature.Kind, _ count: Int, _ part: Int) throws {
        let signature = try PanicSignature(record: line + "\n")
        #expect(signature.kind == kind)
        #expect(signature.dumpCount == count)
        #expect(signature.part == part)
    }
}

private func cut(_ text: String, before marker: String) -> String {
    guard let range = text.range(of: marker) else { return text }
    let lineStart = text[..<range.lowerBound].lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
    return String(text[..<lineStart])
}

private func insert(_ text: String, after marker: String, lines: [String]) -> String {
    guard let range = text.range(of: marker),
          let lineEnd = text[range.upperBound...].firstIndex(of: "\n") else { return text }
    return String(text[...lineEnd]) + lines.joined(separator: "\n") + "\n" + String(text[text.index(after: lineEnd)...])
}
