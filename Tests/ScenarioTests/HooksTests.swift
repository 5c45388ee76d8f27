import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The boot-path pieces, checked with the distro's own tools in a clone of the real root:
/// update-initramfs with the hook really puts the release binary, its libraries and the
/// boot script into the image; the binary runs in the root with only those libraries;
/// systemd-analyze accepts the unit; grub-script-check accepts the GRUB snippet.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct HooksTests {
    /// The release build (`--static-swift-stdlib`) that scripts/test makes: the one that
    /// goes into initramfs images.
    static var releaseBinary: String { TestRoot.repository + "/.build/release/clarity-heal" }

    func installedClone(_ scratch: TemporaryDirectory) throws -> OverlayEnvironment {
        let binary = try FileReading.bytes(atPath: Self.releaseBinary, limit: 256 << 20)
        let environment = try OverlayEnvironment(lower: SystemRoot(TestRoot.root), scratch: scratch.path + "/env")
        let hook = try FileReading.bytes(atPath: TestRoot.repository + "/initramfs-hooks/hooks/clarity-heal")
        let script = try FileReading.bytes(atPath: TestRoot.repository + "/initramfs-hooks/scripts/local-bottom/clarity-heal")
        let unit = try FileReading.bytes(atPath: TestRoot.repository + "/systemd/clarity-heal-verify.service")
        let outcomes = environment.execute([
            .writeFile(path: "/usr/sbin/clarity-heal", contents: binary, mode: 0o755),
            .writeFile(path: "/etc/initramfs-tools/hooks/clarity-heal", contents: hook, mode: 0o755),
            .writeFile(path: "/etc/initramfs-tools/scripts/local-bottom/clarity-heal", contents: script, mode: 0o755),
            .writeFile(path: "/etc/systemd/system/clarity-heal-verify.service", contents: unit, mode: 0o644),
        ])
        #expect(outcomes.allSatisfy { $0.succeeded }, "\(outcomes)")
        return environment
    }

    @Test func theHookPutsTheBinaryItsLibrariesAndTheBootScriptIntoARealImage() throws {
        let scratch = try TemporaryDirectory(prefix: "hooks")
        let environment = try installedClone(scratch)
        defer { environment.tearDown() }
        let kernel = TestRoot.kernelVersion
        let result = try environment.run(["/usr/sbin/update-initramfs", "-u", "-k", kernel])
        #expect(result.status == 0, "\(result.errorOutput)")

        let image = try Initramfs(path: environment.root.host("/boot/initrd.img-\(kernel)"))
        let paths = Set(try image.entries().map(\.path))
        #expect(paths.contains("usr/sbin/clarity-heal"))
        #expect(paths.contains("scripts/local-bottom/clarity-heal"))
        #expect(paths.contains { $0.hasSuffix("/libmount.so.1") })
        #expect(paths.contains { $0.hasSuffix("/libkmod.so.2") })
        #expect(paths.contains { $0.hasSuffix("/ramoops.ko") })
        // The copy in the image is the binary itself.
        let packed = try image.contents(of: "usr/sbin/clarity-heal", limit: 256 << 20)
        #expect(SHA256.hex(packed) == SHA256.hex(try FileReading.bytes(atPath: Self.releaseBinary, limit: 256 << 20)))
    }

    @Test func theBinaryRunsInTheRootWithOnlyItsLibrariesAndTheUnitVerifies() throws {
        let scratch = try TemporaryDirectory(prefix: "hooks")
        let environment = try installedClone(scratch)
        defer { environment.tearDown() }
        // No Swift toolchain in the root: only the static stdlib and the root's own libraries.
        let quick = try environment.run(["/usr/sbin/clarity-heal", "detect", "--quick", "--root", "/", "--json"])
        #expect(quick.status == 0, "\(quick.errorOutput)")
        #expect(quick.output.contains("\"findings\""))
        let verify = try environment.run(["/usr/bin/systemd-analyze", "verify", "--man=no",
                                          "/etc/systemd/system/clarity-heal-verify.service"])
        #expect(verify.status == 0, "\(verify.errorOutput)")
    }

    @Test func theGrubSnippetIsValidGrubScript() throws {
        let scratch = try TemporaryDirectory(prefix: "grub")
        let generated = try Tool.run("/bin/sh", [TestRoot.repository + "/grub/42_clarity_heal"])
        #expect(generated.status == 0)
        #expect(generated.stdout.contains("save_env clarity_heal_attempts"))
        let path = try scratch.write("snippet.cfg", generated.stdout)
        let check = try Tool.run("/usr/bin/grub-script-check", [path])
        #expect(check.status == 0, "\(check.stderr)")
        // And a broken one is refused: the check is real.
        let broken = try scratch.write("broken.cfg", generated.stdout.replacingOccurrences(of: "fi\n", with: ""))
        #expect(try Tool.run("/usr/bin/grub-script-check", [broken]).status != 0)
    }
}
