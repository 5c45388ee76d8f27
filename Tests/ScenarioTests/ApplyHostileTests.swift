import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Hostile or damaged packages are refused by `clarity-heal apply` before any byte of the
/// target is written: exit 3, a reason on stderr, the root's hash unchanged, nothing
/// created outside it.
@Suite(.serialized)
struct ApplyHostileTests {
    /// A copy of the real grubenv package with its manifest changed and its checksums
    /// recomputed, so only apply's own checks can catch it.
    static func rewritten(_ transform: (inout FixManifest) -> Void) throws -> (TemporaryDirectory, String) {
        let source = try FixPackage.open(ApplyFixtures.package(ApplyFixtures.scenarios[0]))
        var manifest = source.manifest
        transform(&manifest)
        var files: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: source.directory + "/files") {
            files[name] = Array(try Data(contentsOf: URL(fileURLWithPath: source.directory + "/files/" + name)))
        }
        let out = try TemporaryDirectory(prefix: "hostile")
        let package = try FixPackage.write(manifest, files: files, into: out.path)
        return (out, package.directory)
    }

    static func grubenvChange(_ manifest: FixManifest) -> FixManifest.Change {
        manifest.changes.first { $0.kind == .file } ?? manifest.changes[0]
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var expected: String
        var make: @Sendable (OverlayCopy, String) throws -> (TemporaryDirectory, String)
        var testDescription: String { name }
    }

    static func path(_ path: String) -> @Sendable (OverlayCopy, String) throws -> (TemporaryDirectory, String) {
        { _, _ in
            try rewritten { manifest in
                var change = grubenvChange(manifest)
                change.path = path
                manifest.changes = [change]
            }
        }
    }

    static let cases: [Case] = [
        Case(name: "a .. path", expected: "has a .. component", make: path("/boot/../../../tmp/clarity-evil/grubenv")),
        Case(name: "a relative path", expected: "is not absolute", make: path("boot/grub/grubenv")),
        Case(name: "a doubled slash", expected: "has an empty component", make: path("//boot/grub/grubenv")),
        Case(name: "a . component", expected: "has a . component", make: path("/boot/./grub/grubenv")),
        Case(name: "clarity-heal's own state", expected: "clarity-heal's own state", make: path("/var/lib/clarity-heal/journal")),
        Case(name: "an absolute link out of the root", expected: "a fix never writes through a link") { copy, outside in
            try FileManager.default.createSymbolicLink(atPath: copy.at("/etc/evil"), withDestinationPath: outside)
            return try rewritten { manifest in
                var change = grubenvChange(manifest)
                change.path = "/etc/evil/grubenv"
                manifest.changes = [change]
            }
        },
        Case(name: "a relative link climbing out of the root", expected: "a fix never writes through a link") { copy, outside in
            let depth = copy.path.split(separator: "/").count + 1
            let climb = String(repeating: "../", count: depth) + outside.dropFirst()
            try FileManager.default.createSymbolicLink(atPath: copy.at("/etc/evil"), withDestinationPath: climb)
            return try rewritten { manifest in
                var change = grubenvChange(manifest)
                change.path = "/etc/evil/grubenv"
                manifest.changes = [change]
            }
        },
        Case(name: "a path named twice", expected: "names /boot/grub/grubenv twice") { _, _ in
            try rewritten { manifest in
                let change = grubenvChange(manifest)
                manifest.changes = [change, change]
            }
        },
        Case(name: "a fix id that leaves the state folder", expected: "not a usable fix id") { _, _ in
            try rewritten { $0.id = "..x" }
        },
        Case(name: "contents that do not match their checksum", expected: "does not match its checksum") { _, _ in
            let (dir, package) = try rewritten { _ in }
            let file = try #require(FileManager.default.contentsOfDirectory(atPath: package + "/files").first)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: package + "/files/" + file))
            try handle.seek(toOffset: 10)
            handle.write(Data("X".utf8))
            try handle.close()
            return (dir, package)
        },
        Case(name: "truncated contents", expected: "does not match its checksum") { _, _ in
            let (dir, package) = try rewritten { _ in }
            let file = try #require(FileManager.default.contentsOfDirectory(atPath: package + "/files").first)
            _ = try Tool.run("/usr/bin/truncate", ["-s", "100", package + "/files/" + file])
            return (dir, package)
        },
        Case(name: "a truncated manifest", expected: "does not match its checksum") { _, _ in
            let (dir, package) = try rewritten { _ in }
            _ = try Tool.run("/usr/bin/truncate", ["-s", "200", package + "/manifest.json"])
            return (dir, package)
        },
        Case(name: "a manifest that is not JSON, checksums recomputed", expected: "malformed") { _, _ in
            let (dir, package) = try rewritten { _ in }
            let garbage = Data("{\"id\": \"fix-1\", \"changes\": [".utf8)
            try garbage.write(to: URL(fileURLWithPath: package + "/manifest.json"))
            let sums = try String(contentsOfFile: package + "/SHA256SUMS", encoding: .utf8).split(separator: "\n")
            let digest = try Tool.run("/usr/bin/sha256sum", [package + "/manifest.json"]).stdout.prefix(64)
            let fixed = ["\(digest)  manifest.json"] + sums.dropFirst().map(String.init)
            try (fixed.joined(separator: "\n") + "\n").write(toFile: package + "/SHA256SUMS", atomically: false, encoding: .utf8)
            return (dir, package)
        },
    ]

    @Test(arguments: cases)
    func refusedBeforeAnyWrite(_ hostile: Case) throws {
        let copy = try TestRoot.writableCopy()
        try ApplyFixtures.scenarios[0].breakRoot(copy)
        let outside = try TemporaryDirectory(prefix: "outside")
        let (keep, package) = try hostile.make(copy, outside.path)
        _ = keep
        let before = try ApplyFixtures.hashTree(copy.path)
        let run = try Tool.run(Tool.clarityHeal, ["apply", package, "--root", copy.path])
        #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
        #expect(run.stderr.contains(hostile.expected), "\(run.stderr)")
        #expect(try ApplyFixtures.hashTree(copy.path) == before, "the root changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path).isEmpty, "written outside the root")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/clarity-evil"))
        // Only the ledger's record of the refusal, nothing of apply's own state.
        let state = (try? FileManager.default.contentsOfDirectory(atPath: copy.at("/var/lib/clarity-heal"))) ?? []
        #expect(state.allSatisfy { $0 == "ledger.jsonl" }, "\(state)")
        let records = try ApplyFixtures.ledger(copy.path, fix: (try? FixPackage.open(package))?.manifest.id ?? "")
        #expect(records.allSatisfy { $0.outcome == .refused })
    }
}
