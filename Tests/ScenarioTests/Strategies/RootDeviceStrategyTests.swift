import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `root-device-fix-cmdline` on copies of the real root whose root= names no device.
@Suite("root= repair strategy", .serialized)
struct RootDeviceStrategyTests {
    static let bad = "UUID=0b2c6a6e-0000-4000-8000-00000000beef"
    static var good: String { "UUID=\(TestRoot.rootUUID)" }

    @Test("a wrong root= in every grub.cfg entry is fixed in all of them, nothing else changes")
    func grubConfig() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/boot/grub/grub.cfg") { $0.replacingOccurrences(of: "root=\(Self.good)", with: "root=\(Self.bad)") }
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.rootDeviceMismatch, with: StrategyCatalogue.strategy("root-device-fix-cmdline"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == ["/boot/grub/grub.cfg"])
        // Byte for byte the original grub.cfg again: all three entries, and nothing else.
        #expect(try run.text("/boot/grub/grub.cfg") == String(contentsOfFile: TestRoot.root + "/boot/grub/grub.cfg", encoding: .utf8))
    }

    @Test("root= in GRUB_CMDLINE_LINUX is fixed at its source and in the grub.cfg it produced")
    func defaultGrub() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/etc/default/grub") {
            $0.replacingOccurrences(of: "GRUB_CMDLINE_LINUX=\"console=ttyS0\"", with: "GRUB_CMDLINE_LINUX=\"root=\(Self.bad) console=ttyS0\"")
        }
        try Break.edit(copy, "/boot/grub/grub.cfg") { $0.replacingOccurrences(of: "root=\(Self.good)", with: "root=\(Self.bad)") }
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.rootDeviceMismatch, with: StrategyCatalogue.strategy("root-device-fix-cmdline"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == ["/boot/grub/grub.cfg", "/etc/default/grub"])
        #expect(try run.text("/etc/default/grub").contains("GRUB_CMDLINE_LINUX=\"root=\(Self.good) console=ttyS0\""))
        #expect(outcome.operations.map(\.description).allSatisfy { $0.hasPrefix("write /boot/grub/grub.cfg") || $0.hasPrefix("write /etc/default/grub") })
    }

    @Test("without a / line in fstab the root filesystem cannot be told: refused")
    func refusesWithoutFstabRoot() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/boot/grub/grub.cfg") { $0.replacingOccurrences(of: "root=\(Self.good)", with: "root=\(Self.bad)") }
        try Break.write(copy, "/etc/fstab", "tmpfs /tmp tmpfs nosuid,nodev 0 0\n")
        let run = try BootRepairRun(copy)
        let reason = try #require(try StrategyCatalogue.strategy("root-device-fix-cmdline").unmetPrecondition(try run.context(.rootDeviceMismatch)))
        #expect(reason.contains("/etc/fstab has no line for /"), "\(reason)")
    }

    @Test("grub-mkconfig cannot run in the sandbox, which is why grub.cfg is edited")
    func grubMkconfigCannotRun() throws {
        let copy = try TestRoot.writableCopy()
        let scratch = try TemporaryDirectory(prefix: "mkconfig")
        let environment = try OverlayEnvironment(lower: SystemRoot(copy.path), scratch: scratch.path + "/env")
        defer { environment.tearDown() }
        let result = try environment.run(["grub-mkconfig", "-o", "/tmp/grub.cfg"])
        #expect(!result.succeeded)
        #expect((result.errorOutput + result.output).contains("grub-probe"), "\(result.errorOutput)")
    }
}
