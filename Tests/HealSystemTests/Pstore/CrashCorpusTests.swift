import Foundation
import HealCore
@testable import HealSystem
import Testing
import TestSupport

/// The crash corpus (Resources/crash-corpus, see its README): 53 real kernel crash texts
/// with labels written before any parser ran. Each text is read as clarity-heal reads it —
/// a pstore folder through the archive and the detector (parts joined, newest part
/// last), any other text as a kernel log — and compared with its label.
///
/// The culprit is what matters: a wrong module gets blacklisted. The suite fails when
/// fewer than 95 % of the culprits are right, and on any module the text does not name.
@Suite struct CrashCorpusTests {
    static let folder = TestRoot.repository + "/Tests/HealSystemTests/Resources/crash-corpus"

    /// One entry of labels.json (only the fields compared).
    struct Label: Decodable, Sendable {
        var record: String
        var kind: String
        var culprit: String?
        var kernel: String?
        var arch: String
        var labelErratum: String?
    }

    static func labels() throws -> [Label] {
        try JSONDecoder().decode([Label].self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/labels.json")))
    }

    /// The text of a record: the file, or the parts of a pstore folder one after another.
    static func text(of label: Label) throws -> String {
        let path = folder + "/records/" + label.record
        guard label.record.hasSuffix("/") else { return try String(decoding: Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self) }
        return try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            .map { try String(decoding: Data(contentsOf: URL(fileURLWithPath: path + $0)), as: UTF8.self) }
            .joined(separator: "\n")
    }

    /// What clarity-heal makes of a record. A pstore folder goes into a root's live pstore
    /// folder and through `KernelPanicDetector.read`; of its crashes, the one with a panic
    /// line is the one the label describes (ERST keeps the Oops and the panic it led to as
    /// two dumps).
    static func signature(of label: Label) throws -> PanicSignature? {
        let path = folder + "/records/" + label.record
        guard label.record.hasSuffix("/") else {
            return PanicSignature(log: try String(decoding: Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self))
        }
        let root = try TemporaryDirectory(prefix: "crash-corpus")
        for file in try FileManager.default.contentsOfDirectory(atPath: path) {
            try root.write("sys/fs/pstore/" + file, Data(contentsOf: URL(fileURLWithPath: path + file)))
        }
        let crashes = KernelPanicDetector.read(PstoreArchive(root: try SystemRoot(root.path))).crashes
        return (crashes.first { $0.signature.panicReason != nil } ?? crashes.first)?.signature
    }

    /// Whether the text names `module` as a frame annotation: `[module]`, `[module 40hex]`
    /// or `[module@…]`.
    static func names(_ text: String, module: String) -> Bool {
        ["]", " ", "@"].contains { text.contains("[" + module + $0) }
    }

    /// The corpus' kind for a crash kind: a firmware-first fatal error is other-panic there.
    static func corpusKind(_ kind: PanicSignature.CrashKind) -> String {
        kind == .hardwareError ? "other-panic" : kind.rawValue
    }

    @Test func corpusScore() throws {
        let labels = try Self.labels()
        #expect(labels.count == 53)
        var culprits = 0, kinds = 0, kernels = 0, arches = 0
        var unnamed: [String] = []
        var table = ["record                                                 culprit (label)           kind (label)                      kernel arch"]
        for label in labels {
            let signature = try Self.signature(of: label)
            let text = try Self.text(of: label)
            let module = signature?.faultingModule
            let kind = signature.map { Self.corpusKind($0.crashKind) } ?? "none"
            let culpritRight = module == label.culprit
            let kindRight = kind == label.kind
            let kernelRight = signature?.kernelVersion == label.kernel
            let archRight = signature?.architecture == label.arch
            culprits += culpritRight ? 1 : 0
            kinds += kindRight ? 1 : 0
            kernels += kernelRight ? 1 : 0
            arches += archRight ? 1 : 0
            if let module, !Self.names(text, module: module) { unnamed.append("\(label.record): \(module)") }
            func cell(_ right: Bool, _ found: String, _ wanted: String) -> String {
                right ? found : "\(found) (≠ \(wanted))"
            }
            table.append([
                label.record.padding(toLength: 55, withPad: " ", startingAt: 0),
                cell(culpritRight, module ?? "-", label.culprit ?? "-").padding(toLength: 26, withPad: " ", startingAt: 0),
                cell(kindRight, kind, label.kind).padding(toLength: 34, withPad: " ", startingAt: 0),
                kernelRight ? "ok    " : "WRONG ", archRight ? "ok" : "WRONG (\(signature?.architecture ?? "-"))",
            ].joined(separator: " "))
        }
        func percent(_ count: Int) -> String {
            String(format: "%.1f %%", Double(count) * 100 / Double(labels.count))
        }
        print(table.joined(separator: "\n"))
        print("crash corpus: \(culprits)/\(labels.count) culprits right (\(percent(culprits))), \(unnamed.count) modules not in the text")
        print("crash corpus: kinds \(kinds)/\(labels.count) (\(percent(kinds))), kernels \(kernels)/\(labels.count) (\(percent(kernels))), "
            + "architectures \(arches)/\(labels.count) (\(percent(arches)))")
        #expect(unnamed.isEmpty, "modules the text does not name: \(unnamed)")
        #expect(Double(culprits) >= 0.95 * Double(labels.count), "culprits right: \(culprits)/\(labels.count)")
    }
}
