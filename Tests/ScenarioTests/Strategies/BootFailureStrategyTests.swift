import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// boot-fallback-last-booted on a copy of the real root whose boot counter says the default
/// keeps failing. The second kernel (6.1.0-49) is installed as default-last-good-kernel's
/// tests install it.
@Suite("BootFailureStrategy", .serialized, .timeLimit(.minutes(5)))
struct BootFailureStrategyTests {
    static let version = TestRoot.kernelVersion
    static let older = InitramfsLastGoodKernelTests.older

    static func setCounter(_ copy: OverlayCopy, _ value: Int) throws {
        let result = try Tool.run("/usr/bin/grub-editenv", [copy.at("/boot/grub/grubenv"), "set", "clarity_heal_attempts=\(value)"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    static func grubenv(_ root: SystemRoot) throws -> String {
        try Tool.run("/usr/bin/grub-editenv", [root.host("/boot/grub/grubenv"), "list"]).stdout
    }

    @Test func counterAtTwoFallsBackToTheOlderKernel() throws {
        let repair = try KernelRepairCase { copy in
            try InitramfsLastGoodKernelTests.installOlderKernel(copy)
            try Self.setCounter(copy, 2)
        }
        let finding = try repair.finding(.bootFailures)
        let outcome = try repair.repair(BootFallbackStrategy(), finding)
        KernelRepairCase.expectRepaired(outcome)
        #expect(Set(outcome.changes.modifiedPaths) == ["/boot/grub/grubenv", "/boot/grub/grub.cfg", "/etc/default/grub"])
        let configuration = try BootConfiguration.load(repair.environment.root)
        #expect(configuration.defaultEntry?.version == Self.older)
        #expect(configuration.defaultChoice.value == InitramfsLastGoodKernelTests.olderEntryName)
        #expect(try Self.grubenv(repair.environment.root).contains("clarity_heal_attempts=0\n"))
        let check = try Tool.run("/usr/bin/grub-script-check", [repair.environment.root.host("/boot/grub/grub.cfg")])
        #expect(check.status == 0, "\(check.stderr)")
    }

    /// grub.cfg with `blscfg` and its default naming a BLS entry assessed bad (`+0-3`); a
    /// blessed entry (no counter) for the older kernel is the fallback.
    @Test func badLoaderEntryFallsBackToTheBlessedOne() throws {
        func entry(_ version: String) -> String {
            """
            title Debian GNU/Linux 12, with Linux \(version)
            version \(version)
            linux /boot/vmlinuz-\(version)
            initrd /boot/initrd.img-\(version)
            options root=UUID=\(TestRoot.rootUUID) ro console=ttyS0 quiet

            """
        }
        let repair = try KernelRepairCase { copy in
            try InitramfsLastGoodKernelTests.installOlderKernel(copy)
            let entries = copy.at("/boot/loader/entries")
            try FileManager.default.createDirectory(atPath: entries, withIntermediateDirectories: true)
            try entry(Self.version).write(toFile: entries + "/debian-\(Self.version)+0-3.conf", atomically: false, encoding: .utf8)
            try entry(Self.older).write(toFile: entries + "/debian-\(Self.older).conf", atomically: false, encoding: .utf8)
            try CatalogueTests.edit(copy.at("/boot/grub/grub.cfg")) {
                $0.replacingOccurrences(of: "   set default=\"0\"", with: "   set default=\"debian-\(Self.version)\"")
                    .replacingOccurrences(of: "### BEGIN /etc/grub.d/10_linux ###", with: "blscfg\n### BEGIN /etc/grub.d/10_linux ###")
            }
        }
        let before = try BootConfiguration.load(repair.environment.root)
        #expect(before.defaultEntry?.id == "debian-\(Self.version)")
        let finding = try repair.finding(.bootFailures)
        let outcome = try repair.repair(BootFallbackStrategy(), finding)
        KernelRepairCase.expectRepaired(outcome)
        #expect(Set(outcome.changes.modifiedPaths) == [
            "/boot/grub/grub.cfg", "/etc/default/grub",
            "/boot/loader/entries/debian-\(Self.version)+0-3.conf", "/boot/loader/entries/debian-\(Self.version)+3.conf",
        ])
        let configuration = try BootConfiguration.load(repair.environment.root)
        #expect(configuration.defaultEntry?.id == "debian-\(Self.older)")
        #expect(configuration.defaultEntry?.origin == .loaderEntry)
    }

    /// GRUB_DEFAULT=saved with GRUB_SAVEDEFAULT=true: savedefault stored the failing entry
    /// itself (it saves the entry it starts), so the older kernel is chosen and written to
    /// saved_entry; grubenv is the only file changed.
    @Test func savedDefaultIsRepointedInGrubenv() throws {
        let repair = try KernelRepairCase { copy in
            try InitramfsLastGoodKernelTests.installOlderKernel(copy)
            try CatalogueTests.edit(copy.at("/boot/grub/grub.cfg")) {
                $0.replacingOccurrences(of: "   set default=\"0\"", with: "   set default=\"${saved_entry}\"")
            }
            try CatalogueTests.edit(copy.at("/etc/default/grub")) {
                $0.replacingOccurrences(of: "GRUB_DEFAULT=0\n", with: "GRUB_DEFAULT=saved\nGRUB_SAVEDEFAULT=true\n")
            }
            let result = try Tool.run("/usr/bin/grub-editenv", [copy.at("/boot/grub/grubenv"), "set",
                                                                "saved_entry=gnulinux-simple-\(TestRoot.rootUUID)"])
            #expect(result.status == 0, "\(result.stderr)")
            try Self.setCounter(copy, 3)
        }
        let finding = try repair.finding(.bootFailures)
        let outcome = try repair.repair(BootFallbackStrategy(), finding)
        KernelRepairCase.expectRepaired(outcome)
        #expect(outcome.changes.modifiedPaths == ["/boot/grub/grubenv"])
        let listed = try Self.grubenv(repair.environment.root)
        #expect(listed.contains("saved_entry=\(InitramfsLastGoodKernelTests.olderEntryName)\n"), "\(listed)")
        #expect(listed.contains("clarity_heal_attempts=0\n"), "\(listed)")
        #expect(try BootConfiguration.load(repair.environment.root).defaultEntry?.version == Self.older)
    }

    @Test func oneKernelIsRefused() throws {
        let repair = try KernelRepairCase { copy in try Self.setCounter(copy, 2) }
        let finding = try repair.finding(.bootFailures)
        let reason = BootFallbackStrategy().unmetPrecondition(repair.context(finding))
        #expect(reason == "no other entry has an intact kernel chain to fall back to (installed: \(Self.version))")
    }

    @Test func savedEntryThatIsNotTheFailingOneIsPreferred() {
        func candidate(_ index: Int, _ version: String) -> BootFallback.Candidate {
            BootFallback.Candidate(index: index, title: version, version: version, assessment: nil,
                                   intact: true, isRecovery: false, sameKernelAsFailing: false)
        }
        let candidates = [candidate(0, "6.1.0-30"), candidate(1, "6.1.0-29"), candidate(2, "6.1.0-28")]
        #expect(BootFallback.choose(candidates, failing: 0, savedEntry: 2)?.source == .savedDefault)
        #expect(BootFallback.choose(candidates, failing: 0, savedEntry: 2)?.index == 2)
        // savedefault stored the failing entry itself: the newest other one.
        #expect(BootFallback.choose(candidates, failing: 0, savedEntry: 0)?.index == 1)
        #expect(BootFallback.choose(candidates, failing: 0, savedEntry: 0)?.source == .newestIntact)
        #expect(BootFallback.restartingCounter(LoaderEntry.FileName(id: "a", triesLeft: 0, triesDone: 3)).description == "a+3.conf")
    }
}
