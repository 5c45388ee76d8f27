import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// default-last-good-kernel on a copy of the real root with a second, older kernel
/// installed: the same kernel image and initrd under version 6.1.0-49-cloud-amd64, its
/// module tree a link to the real one, and its entry in the advanced submenu, as 10_linux
/// writes it.
@Suite("InitramfsLastGoodKernel", .serialized, .timeLimit(.minutes(5)))
struct InitramfsLastGoodKernelTests {
    static let version = TestRoot.kernelVersion
    static let older = "6.1.0-49-cloud-amd64"
    static let olderEntryName = "gnulinux-advanced-\(TestRoot.rootUUID)>gnulinux-\(older)-advanced-\(TestRoot.rootUUID)"

    static func installOlderKernel(_ copy: OverlayCopy) throws {
        let files = FileManager.default
        try files.copyItem(atPath: copy.at("/boot/vmlinuz-\(version)"), toPath: copy.at("/boot/vmlinuz-\(older)"))
        try files.copyItem(atPath: copy.at("/boot/initrd.img-\(version)"), toPath: copy.at("/boot/initrd.img-\(older)"))
        try files.createSymbolicLink(atPath: copy.at("/lib/modules/\(older)"), withDestinationPath: version)
        let entry = """
            \tmenuentry 'Debian GNU/Linux, with Linux \(older)' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-\(older)-advanced-\(TestRoot.rootUUID)' {
            \t\tload_video
            \t\tinsmod gzio
            \t\tsearch --no-floppy --fs-uuid --set=root \(TestRoot.rootUUID)
            \t\tlinux\t/boot/vmlinuz-\(older) root=UUID=\(TestRoot.rootUUID) ro console=ttyS0 quiet
            \t\tinitrd\t/boot/initrd.img-\(older)
            \t}
            }
            ### END /etc/grub.d/10_linux ###
            """
        try CatalogueTests.edit(copy.at("/boot/grub/grub.cfg")) {
            $0.replacingOccurrences(of: "}\n### END /etc/grub.d/10_linux ###", with: entry)
        }
    }

    @Test func missingInitrdFallsBackToTheOlderKernel() throws {
        let repair = try KernelRepairCase { copy in
            try Self.installOlderKernel(copy)
            try FileManager.default.removeItem(atPath: copy.at("/boot/initrd.img-\(Self.version)"))
        }
        let finding = try repair.finding(.initramfsMissing)
        let outcome = try repair.repair(LastGoodKernelStrategy(), finding)
        #expect(outcome.operations.map { String($0.description.prefix(25)) } == ["write /boot/grub/grub.cfg", "write /etc/default/grub ("])
        KernelRepairCase.expectRepaired(outcome)
        #expect(Set(outcome.changes.modifiedPaths) == ["/boot/grub/grub.cfg", "/etc/default/grub"])
        let configuration = try BootConfiguration.load(repair.environment.root)
        #expect(configuration.defaultEntry?.kernelVersion == Self.older)
        #expect(configuration.defaultChoice.value == Self.olderEntryName)
        let grub = try String(contentsOfFile: repair.environment.root.host("/etc/default/grub"), encoding: .utf8)
        #expect(grub.contains("GRUB_DEFAULT=\"\(Self.olderEntryName)\"\n"))
        // GRUB's own script checker accepts the edited grub.cfg.
        let check = try Tool.run("/usr/bin/grub-script-check", [repair.environment.root.host("/boot/grub/grub.cfg")])
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test func panicOnTheDefaultKernelBootsTheOlderOne() throws {
        let repair = try KernelRepairCase { copy in
            try Self.installOlderKernel(copy)
            try FileManager.default.createDirectory(atPath: copy.at("/var/lib/systemd/pstore"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore/panic-sysrq/dmesg-ramoops-0",
                toPath: copy.at("/var/lib/systemd/pstore/dmesg-ramoops-0"))
        }
        let finding = try repair.finding(.kernelPanic)
        #expect(ModuleBlacklistStrategy().unmetPrecondition(repair.context(finding)) != nil)
        let outcome = try repair.repair(LastGoodKernelStrategy(), finding)
        KernelRepairCase.expectRepaired(outcome)
        #expect(Set(outcome.changes.modifiedPaths) == ["/boot/grub/grub.cfg", "/etc/default/grub", HandledPanicRecords.path])
        #expect(try BootConfiguration.load(repair.environment.root).defaultEntry?.kernelVersion == Self.older)
    }

    @Test func anOlderKernelWithABrokenChainIsNotChosen() throws {
        let repair = try KernelRepairCase { copy in
            try Self.installOlderKernel(copy)
            try FileManager.default.removeItem(atPath: copy.at("/boot/initrd.img-\(Self.older)"))
            try FileManager.default.removeItem(atPath: copy.at("/boot/initrd.img-\(Self.version)"))
        }
        let finding = try repair.finding(.initramfsMissing)
        #expect(LastGoodKernelStrategy().unmetPrecondition(repair.context(finding))
                == "no other kernel with an intact boot chain has a menu entry (installed: \(Self.version), \(Self.older))")
    }
}
