import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The console of the validation boot travels in the fix package as one more
/// `files/<sha256>` the manifest names: verified like the contents, refused when it does
/// not hash to its name, and read back bounded.
struct FixPackageConsoleTests {
    static func manifest(console bytes: [UInt8]) -> FixManifest {
        var manifest = FixManifest(
            id: "fix-1-console-test", created: 1, failureClass: .fstabUnresolvableSource,
            strategy: StrategyDescriptor(id: "test", title: "test", classes: [.fstabUnresolvableSource], risk: 1,
                                         sideEffects: "none", priorEffectiveness: 1, estimatedSeconds: 1),
            findings: [], operations: [], changes: [], validation: ValidationReport(checks: []), attempts: [],
            environment: "microvm", needsReboot: true)
        manifest.bootConsole = .init(sha256: SHA256.hex(bytes), size: bytes.count)
        return manifest
    }

    @Test func theConsoleIsWrittenVerifiedAndReadBack() throws {
        let console = Array("[    0.000000] Linux version 6.1.0\r\n[  OK  ] Reached target graphical.target.\r\n".utf8)
        let out = try TemporaryDirectory(prefix: "fixes")
        let package = try FixPackage.write(Self.manifest(console: console), files: [SHA256.hex(console): console], into: out.path)
        #expect(try package.bootConsole() == String(decoding: console, as: UTF8.self))
        let sums = try String(contentsOfFile: package.directory + "/SHA256SUMS", encoding: .utf8)
        #expect(sums.contains("  files/\(SHA256.hex(console))\n"))
    }

    @Test func aConsoleThatDoesNotHashToItsNameIsRefused() throws {
        let console = Array("a console\n".utf8)
        let out = try TemporaryDirectory(prefix: "fixes")
        let package = try FixPackage.write(Self.manifest(console: console), files: [SHA256.hex(console): console], into: out.path)
        try Data("b console\n".utf8).write(to: URL(fileURLWithPath: package.directory + "/files/" + SHA256.hex(console)))
        #expect(throws: FixPackage.Error.self) { try FixPackage.open(package.directory) }
    }

    @Test func aConsoleTheSumsDoNotListIsRefused() throws {
        let console = Array("a console\n".utf8)
        let out = try TemporaryDirectory(prefix: "fixes")
        // Written without its file: the manifest names a console the package lacks.
        #expect {
            _ = try FixPackage.write(Self.manifest(console: console), files: [:], into: out.path)
        } throws: { error in
            "\(error)".contains("no checksummed contents for the boot console")
        }
    }
}
