import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `boot-default-repoint` on copies of the real root whose default boots nothing: the
/// selector that is wrong — grub.cfg's `set default`, GRUB_DEFAULT, grubenv's next_entry —
/// is pointed at the newest entry whose kernel and initrd exist, and only that selector.
@Suite("boot default repair strategy", .serialized)
struct BootDefaultStrategyTests {
    static let kernel = TestRoot.kernelVersion
    static var simpleID: String { "gnulinux-simple-\(TestRoot.rootUUID)" }
    static let stale = "6.1.0-99-cloud-amd64"
    static let config = "/boot/grub/grub.cfg"

    static func original(_ path: String) throws -> String {
        try String(contentsOfFile: TestRoot.root + path, encoding: .utf8)
    }

    @Test("a stale entry for a removed kernel heads the menu: default moves to the newest intact entry")
    func staleFirstEntry() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, Self.config) {
            $0.replacingOccurrences(of: "### BEGIN /etc/grub.d/10_linux ###\n", with: """
                ### BEGIN /etc/grub.d/10_linux ###
                menuentry 'Debian GNU/Linux, with Linux \(Self.stale)' $menuentry_id_option 'gnulinux-\(Self.stale)-advanced-\(TestRoot.rootUUID)' {
                \tlinux\t/boot/vmlinuz-\(Self.stale) root=UUID=\(TestRoot.rootUUID) ro console=ttyS0 quiet
                \tinitrd\t/boot/initrd.img-\(Self.stale)
                }

                """)
        }
        let broken = try String(contentsOfFile: copy.at(Self.config), encoding: .utf8)
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.bootloaderDefaultInvalid, with: StrategyCatalogue.strategy("boot-default-repoint"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == [Self.config])
        #expect(try run.text(Self.config) == broken.replacingOccurrences(of: "   set default=\"0\"", with: "   set default=\"\(Self.simpleID)\""))
    }

    @Test("GRUB_DEFAULT names no entry: it is set to the newest intact entry's id")
    func grubDefault() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, "/etc/default/grub") {
            $0.replacingOccurrences(of: "GRUB_DEFAULT=0", with: "GRUB_DEFAULT=\"Debian GNU/Linux, with Linux \(Self.stale)\"")
        }
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.bootloaderDefaultInvalid, with: StrategyCatalogue.strategy("boot-default-repoint"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == ["/etc/default/grub"])
        #expect(try run.text("/etc/default/grub")
                == Self.original("/etc/default/grub").replacingOccurrences(of: "GRUB_DEFAULT=0", with: "GRUB_DEFAULT=\"\(Self.simpleID)\""))
    }

    @Test("next_entry names no entry: the one-time choice is dropped, other variables kept")
    func nextEntry() throws {
        let copy = try TestRoot.writableCopy()
        let grubenv = copy.at("/boot/grub/grubenv")
        _ = try Tool.run("/usr/bin/grub-editenv", [grubenv, "set", "next_entry=gnulinux-\(Self.stale)-advanced", "clarity_heal_attempts=0"])
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.bootloaderDefaultInvalid, with: StrategyCatalogue.strategy("boot-default-repoint"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == ["/boot/grub/grubenv"])
        let listed = try Tool.run("/usr/bin/grub-editenv", [run.environment.root.host("/boot/grub/grubenv"), "list"])
        #expect(listed.stdout == "clarity_heal_attempts=0\n")
    }

    @Test("every entry names a removed kernel while another is installed: the entries are pointed at it")
    func retarget() throws {
        let copy = try TestRoot.writableCopy()
        try Break.edit(copy, Self.config) {
            $0.replacingOccurrences(of: "/boot/vmlinuz-\(Self.kernel) ", with: "/boot/vmlinuz-\(Self.stale) ")
                .replacingOccurrences(of: "/boot/initrd.img-\(Self.kernel)\n", with: "/boot/initrd.img-\(Self.stale)\n")
        }
        let run = try BootRepairRun(copy)
        let outcome = try run.repair(.bootloaderDefaultInvalid, with: StrategyCatalogue.strategy("boot-default-repoint"))
        #expect(outcome.validated, "\(outcome.explanation)")
        #expect(outcome.changes.modifiedPaths == [Self.config])
        // Only the linux and initrd lines were broken, so the repair gives the original back.
        #expect(try run.text(Self.config) == Self.original(Self.config))
    }

    @Test("the only kernel deleted: nothing intact to point at, refused with the reason")
    func onlyKernelDeleted() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/boot/vmlinuz-\(Self.kernel)"))
        let run = try BootRepairRun(copy)
        let reason = try #require(try StrategyCatalogue.strategy("boot-default-repoint").unmetPrecondition(try run.context(.bootloaderDefaultInvalid)))
        #expect(reason == "no entry has an intact kernel and initrd, and no other kernel with an initrd is installed")
    }
}
