import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// kernel-panic with a faulting module, from the real Oops record of
/// Tests/HealSystemTests/Resources/pstore (clarity_oops, a module that oopses in its init).
@Suite("ModuleBlacklistStrategies", .serialized, .timeLimit(.minutes(5)))
struct ModuleBlacklistStrategyTests {
    static let records = TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore/"
    static let version = TestRoot.kernelVersion

    static func archive(_ record: String, in copy: OverlayCopy) throws {
        try FileManager.default.createDirectory(atPath: copy.at("/var/lib/systemd/pstore"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: records + record + "/dmesg-ramoops-0",
                                         toPath: copy.at("/var/lib/systemd/pstore/dmesg-ramoops-0"))
    }

    @Test func faultingModuleIsBlacklistedEverywhere() throws {
        let repair = try KernelRepairCase { copy in try Self.archive("oops-module", in: copy) }
        let finding = try repair.finding(.kernelPanic)
        let outcome = try repair.repair(ModuleBlacklistStrategy(), finding)
        let expected = ["write /etc/modprobe.d/clarity-heal-blacklist.conf", "write /etc/default/grub", "write /boot/grub/grub.cfg",
                        "run update-initramfs -u -k \(Self.version)", "write /var/lib/clarity-heal/pstore/handled"]
        #expect(outcome.operations.count == expected.count)
        for (operation, prefix) in zip(outcome.operations, expected) {
            #expect(operation.description.hasPrefix(prefix), "\(operation)")
        }
        KernelRepairCase.expectRepaired(outcome)
        #expect(Set(outcome.changes.modifiedPaths) == [
            "/etc/modprobe.d/clarity-heal-blacklist.conf", "/etc/default/grub", "/boot/grub/grub.cfg",
            "/boot/initrd.img-\(Self.version)", "/var/lib/clarity-heal/pstore/handled",
        ])
        let root = repair.environment.root
        let conf = try String(contentsOfFile: root.host(ModuleBlacklistConfig.path), encoding: .utf8)
        #expect(conf.hasSuffix("blacklist clarity_oops\ninstall clarity_oops /bin/false\n"))
        let grub = try String(contentsOfFile: root.host("/etc/default/grub"), encoding: .utf8)
        #expect(grub.contains("GRUB_CMDLINE_LINUX=\"console=ttyS0 module_blacklist=clarity_oops\"\n"))
        // The default entry boots with it; the recovery entry is left alone.
        let entry = try #require(try BootConfiguration.load(root).defaultEntry)
        #expect(entry.option("module_blacklist") == "clarity_oops")
        let cfg = try String(contentsOfFile: root.host("/boot/grub/grub.cfg"), encoding: .utf8)
        #expect(cfg.components(separatedBy: "module_blacklist=").count == 2)
        // The initramfs' own modprobe.d has the blacklist (lsinitramfs agrees with libarchive).
        let listing = try Initramfs(path: root.host("/boot/initrd.img-\(Self.version)")).list()
        #expect(listing.entries.contains { $0.path == "etc/modprobe.d/clarity-heal-blacklist.conf" })
        // The clone's own modprobe, chrooted there, reads the blacklist.
        let config = try repair.environment.run(["modprobe", "-S", Self.version, "--showconfig"])
        #expect(config.output.contains("blacklist clarity_oops\n"))
        #expect(config.output.contains("install clarity_oops /bin/false\n"))
        // The record is handled: the detector reads it no more, but a new crash would count.
        let handled = try String(contentsOfFile: root.host(HandledPanicRecords.path), encoding: .utf8)
        let digest = try Tool.run("/usr/bin/sha256sum", [root.host("/var/lib/systemd/pstore/dmesg-ramoops-0")]).stdout.prefix(64)
        #expect(handled.contains("\(digest)  module=clarity_oops  written="))
        #expect(handled.contains("by=module-blacklist  /var/lib/systemd/pstore/dmesg-ramoops-0"))
        let reading = KernelPanicDetector.read(PstoreArchive(root: root))
        #expect(reading.crashes.isEmpty && reading.handled.map(\.path) == ["/var/lib/systemd/pstore/dmesg-ramoops-0"])
        print("module-blacklist executed in \(String(format: "%.1f", outcome.seconds)) s")
    }

    @Test func aNewCrashAfterTheRepairIsReportedAgain() throws {
        let repair = try KernelRepairCase { copy in
            try Self.archive("oops-module", in: copy)
            try FileManager.default.createDirectory(atPath: copy.at("/var/lib/clarity-heal/pstore"), withIntermediateDirectories: true)
            let digest = try Tool.run("/usr/bin/sha256sum", [copy.at("/var/lib/systemd/pstore/dmesg-ramoops-0")]).stdout.prefix(64)
            try "\(digest)  module=clarity_oops  written=x  by=module-blacklist  /var/lib/systemd/pstore/dmesg-ramoops-0\n"
                .write(toFile: copy.at(HandledPanicRecords.path), atomically: false, encoding: .utf8)
        }
        let context = repair.detection
        #expect(try KernelPanicDetector().detect(context).isEmpty)
        // A later crash writes a new record, with bytes of its own: it counts.
        let again = try String(contentsOfFile: Self.records + "panic-sysrq/dmesg-ramoops-0", encoding: .utf8)
        try FileManager.default.createDirectory(atPath: repair.environment.root.host("/var/lib/clarity-heal/pstore/20261201T080102Z"),
                                                withIntermediateDirectories: true)
        try again.write(toFile: repair.environment.root.host("/var/lib/clarity-heal/pstore/20261201T080102Z/dmesg-ramoops-0"),
                        atomically: false, encoding: .utf8)
        #expect(try KernelPanicDetector().detect(context).count == 1)
    }

    @Test func crashWithoutAModuleIsLeftToTheLastGoodKernel() throws {
        let repair = try KernelRepairCase { copy in try Self.archive("panic-sysrq", in: copy) }
        let finding = try repair.finding(.kernelPanic)
        #expect(ModuleBlacklistStrategy().unmetPrecondition(repair.context(finding)) == "no crash in pstore or on a boot's console names a faulting module")
        // Only one kernel here: the fallback cannot run either, and says why.
        #expect(LastGoodKernelStrategy().unmetPrecondition(repair.context(finding))?.hasPrefix("no other kernel") == true)
    }

    @Test func aModuleTheRootNeedsIsNeverBlacklisted() throws {
        // The Oops record rewritten to blame virtio_blk, with the root named /dev/vda1.
        let repair = try KernelRepairCase { copy in
            try FileManager.default.createDirectory(atPath: copy.at("/var/lib/systemd/pstore"), withIntermediateDirectories: true)
            let text = try String(contentsOfFile: Self.records + "oops-module/dmesg-ramoops-0", encoding: .utf8)
                .replacingOccurrences(of: "clarity_oops", with: "virtio_blk")
            try text.write(toFile: copy.at("/var/lib/systemd/pstore/dmesg-ramoops-0"), atomically: false, encoding: .utf8)
            try CatalogueTests.edit(copy.at("/boot/grub/grub.cfg")) {
                $0.replacingOccurrences(of: "root=UUID=\(TestRoot.rootUUID) ro console=ttyS0 quiet", with: "root=/dev/vda1 ro console=ttyS0 quiet")
            }
        }
        let finding = try repair.finding(.kernelPanic)
        #expect(ModuleBlacklistStrategy().unmetPrecondition(repair.context(finding))
                == "virtio_blk is needed to reach the root file system; blacklisting it would leave the machine without its root")
    }
}

/// The text edits behind the blacklist, on the forms the files take in the wild.
struct ModuleBlacklistEditTests {
    @Test(arguments: [
        ("GRUB_CMDLINE_LINUX=\"console=ttyS0\"\n", "GRUB_CMDLINE_LINUX=\"console=ttyS0 module_blacklist=m\"\n"),
        ("GRUB_CMDLINE_LINUX=\"\"\n", "GRUB_CMDLINE_LINUX=\"module_blacklist=m\"\n"),
        ("GRUB_CMDLINE_LINUX='a  b'  # note\n", "GRUB_CMDLINE_LINUX='a  b module_blacklist=m'  # note\n"),
        ("GRUB_CMDLINE_LINUX=quiet\n", "GRUB_CMDLINE_LINUX=\"quiet module_blacklist=m\"\n"),
        ("GRUB_CMDLINE_LINUX=\"module_blacklist=x nomodeset\"\n", "GRUB_CMDLINE_LINUX=\"module_blacklist=x,m nomodeset\"\n"),
        ("GRUB_CMDLINE_LINUX=\"module_blacklist=m\"\n", "GRUB_CMDLINE_LINUX=\"module_blacklist=m\"\n"),
        ("GRUB_TIMEOUT=5", "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"module_blacklist=m\"\n"),
    ])
    func defaultGrub(_ input: String, _ expected: String) {
        #expect(KernelCommandLineEdit.adding(["m"], toParameter: "module_blacklist", defaultGrub: input) == expected)
    }

    @Test func grubConfigLinuxLine() throws {
        let text = "menuentry 'x' {\n\tlinux\t/boot/vmlinuz root=/dev/vda1 ro  \n\tinitrd /boot/initrd\n}"
        let edited = try KernelCommandLineEdit.adding(["m"], toParameter: "module_blacklist", grubConfig: text, linuxLine: 2)
        #expect(edited == "menuentry 'x' {\n\tlinux\t/boot/vmlinuz root=/dev/vda1 ro module_blacklist=m\n\tinitrd /boot/initrd\n}")
        #expect(try KernelCommandLineEdit.adding(["m"], toParameter: "module_blacklist", grubConfig: edited, linuxLine: 2) == edited)
        #expect(throws: KernelCommandLineEdit.Error.notALinuxLine(source: "grub.cfg", line: 3, text: "initrd /boot/initrd")) {
            try KernelCommandLineEdit.adding(["m"], toParameter: "module_blacklist", grubConfig: text, linuxLine: 3)
        }
    }

    @Test func modprobeConfKeepsWhatWasThere() {
        let first = ModuleBlacklistConfig.text(existing: nil, adding: ["bad-mod"])
        #expect(first.hasSuffix("\nblacklist bad_mod\ninstall bad_mod /bin/false\n"))
        let second = ModuleBlacklistConfig.text(existing: first, adding: ["bad_mod", "other"])
        #expect(second == first + "blacklist other\ninstall other /bin/false\n")
    }

    @Test func handledRecordsMerge() {
        let digest = String(repeating: "ab", count: 32)
        let entry = HandledPanicRecords.Entry(sha256: digest, module: nil, written: "t", strategy: "s", path: "/p")
        let text = HandledPanicRecords.text(existing: nil, adding: [entry])
        #expect(HandledPanicRecords.digests(in: text) == [digest])
        #expect(HandledPanicRecords.text(existing: text, adding: [entry]) == text)
        #expect(text.hasSuffix("\(digest)  module=-  written=t  by=s  /p\n"))
    }

    @Test func grubDefault() throws {
        let cfg = "if [ x ]; then\n  set default=\"${next_entry}\"\nelse\n   set default=\"0\"\nfi"
        #expect(try GrubDefaultEdit.settingDefault("a>b", grubConfig: cfg, line: 4)
                == "if [ x ]; then\n  set default=\"${next_entry}\"\nelse\n   set default=\"a>b\"\nfi")
        #expect(GrubDefaultEdit.settingDefault("a>b", defaultGrub: "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n")
                == "GRUB_DEFAULT=\"a>b\"\nGRUB_TIMEOUT=5\n")
    }

    @Test func initramfsModulesFile() {
        let text = "# comment\n# xfs\nraid1 opt=1"
        #expect(InitramfsModuleLists.initramfsTools(text, adding: ["xfs", "raid1"]) == text + "\nxfs\n")
        #expect(InitramfsModuleLists.dracut("add_drivers+=\" a \"\n", adding: ["b", "a"]).hasSuffix("add_drivers+=\" a b \"\n"))
    }

    @Test func essentialUnits() {
        #expect(EssentialUnits.contains("getty@tty1.service"))
        #expect(EssentialUnits.contains("systemd-journald.service"))
        #expect(EssentialUnits.contains("multi-user.target"))
        #expect(!EssentialUnits.contains("clarity-fail-a.service"))
    }
}
