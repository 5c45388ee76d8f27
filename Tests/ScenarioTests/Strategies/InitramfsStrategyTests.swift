import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The initramfs strategies on broken copies of the real root, with the root's own
/// update-initramfs run chrooted in the overlay environment (about 12 s a build).
@Suite("InitramfsStrategies", .serialized, .timeLimit(.minutes(10)))
struct InitramfsStrategyTests {
    static let version = TestRoot.kernelVersion
    static let initrd = "/boot/initrd.img-\(version)"

    static func entries(_ path: String) throws -> Set<String> {
        let listing = try Initramfs(path: path).list()
        return Set(listing.entries.map(\.path))
    }

    @Test func deletedInitrdIsCreatedAgain() throws {
        let repair = try KernelRepairCase { copy in try FileManager.default.removeItem(atPath: copy.at(Self.initrd)) }
        let finding = try repair.finding(.initramfsMissing)
        let strategy = InitramfsRegenerateStrategy()
        let outcome = try repair.repair(strategy, finding)
        #expect(outcome.operations == [.runTool(arguments: ["update-initramfs", "-c", "-k", Self.version],
                                                mayChange: [Self.initrd, Self.initrd + ".bak", "/var/lib/initramfs-tools/\(Self.version)"])])
        KernelRepairCase.expectRepaired(outcome)
        #expect(outcome.changes.modifiedPaths == [Self.initrd])
        // The new image unpacks fully and has /init and the module tree.
        let paths = try Self.entries(repair.environment.root.host(Self.initrd))
        #expect(paths.contains("init"))
        #expect(paths.contains("usr/lib/modules/\(Self.version)/modules.dep"))
        print("update-initramfs -c in the sandbox: \(String(format: "%.1f", outcome.seconds)) s")
    }

    @Test func truncatedInitrdIsRebuilt() throws {
        let repair = try KernelRepairCase { copy in
            let data = try Data(contentsOf: URL(fileURLWithPath: copy.at(Self.initrd)))
            try FileManager.default.removeItem(atPath: copy.at(Self.initrd))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: copy.at(Self.initrd)))
        }
        let finding = try repair.finding(.initramfsCorrupt)
        let outcome = try repair.repair(InitramfsRegenerateStrategy(), finding)
        #expect(outcome.operations.first?.description.hasPrefix("run update-initramfs -u -k \(Self.version)") == true)
        KernelRepairCase.expectRepaired(outcome)
        #expect(outcome.changes.modifiedPaths == [Self.initrd])
        print("update-initramfs -u in the sandbox: \(String(format: "%.1f", outcome.seconds)) s")
    }

    @Test func missingRootFileSystemDriverIsForcedIn() throws {
        // As in InitramfsScenarioTests: / declared xfs, xfs.ko and libcrc32c.ko left out of the image.
        let repair = try KernelRepairCase { copy in
            try BootChainDetectors.shell("sed -i 's| /  *ext4 | / xfs |' etc/fstab", in: copy.path)
            try BootChainDetectors.repackInitrd(copy, edit: "rm usr/lib/modules/*/kernel/fs/xfs/xfs.ko usr/lib/modules/*/kernel/lib/libcrc32c.ko")
        }
        let finding = try repair.finding(.initramfsMissingDriver)
        let outcome = try repair.repair(InitramfsAddDriverStrategy(), finding)
        KernelRepairCase.expectRepaired(outcome)
        #expect(Set(outcome.changes.modifiedPaths) == [Self.initrd, InitramfsModuleLists.initramfsToolsPath])
        let modules = try String(contentsOfFile: repair.environment.root.host(InitramfsModuleLists.initramfsToolsPath), encoding: .utf8)
        #expect(modules.hasSuffix("# sd_mod\nxfs\n"), "\(modules)")
        let paths = try Self.entries(repair.environment.root.host(Self.initrd))
        #expect(paths.contains("usr/lib/modules/\(Self.version)/kernel/fs/xfs/xfs.ko"))
        #expect(paths.contains("usr/lib/modules/\(Self.version)/kernel/lib/libcrc32c.ko"))
    }

    @Test func regenerationWaitsForAUsableModuleIndex() throws {
        let repair = try KernelRepairCase { copy in
            try FileManager.default.removeItem(atPath: copy.at(Self.initrd))
            for name in ["modules.dep", "modules.dep.bin"] {
                try FileManager.default.removeItem(atPath: copy.at("/lib/modules/\(Self.version)/\(name)"))
            }
        }
        let finding = try repair.finding(.initramfsMissing)
        let reason = InitramfsRegenerateStrategy().unmetPrecondition(repair.context(finding))
        #expect(reason?.hasPrefix("the module index of \(Self.version) is unusable (repair kernel-modules-missing first)") == true, "\(reason ?? "nil")")
        #expect(throws: PlanError.self) { try InitramfsRegenerateStrategy().plan(repair.context(finding)) }
    }

    @Test func anEntryWithoutAnInitrdLineIsNotRegenerated() throws {
        let repair = try KernelRepairCase { copy in
            try CatalogueTests.edit(copy.at("/boot/grub/grub.cfg")) { text in
                // Only the default (first) entry loses its initrd line.
                guard let range = text.range(of: "\tinitrd\t/boot/initrd.img-\(Self.version)\n") else { return text }
                return text.replacingCharacters(in: range, with: "")
            }
        }
        let finding = try repair.finding(.initramfsMissing)
        #expect(InitramfsRegenerateStrategy().unmetPrecondition(repair.context(finding))
                == "the default entry \"Debian GNU/Linux\" loads no initramfs; an image would not be used until the boot configuration is regenerated")
    }

    @Test func noDriverToAddOnTheStockRoot() throws {
        let root = try SystemRoot(TestRoot.root)
        let finding = Finding(.initramfsMissingDriver, summary: "test", evidence: [])
        // ext4 is built into the cloud kernel and the root is named by UUID.
        #expect(InitramfsAddDriverStrategy().unmetPrecondition(RepairContext(root: root, finding: finding))
                == "the root needs no loadable module in its initramfs")
    }

    @Test func lastGoodKernelNeedsASecondKernel() throws {
        let root = try SystemRoot(TestRoot.root)
        let finding = Finding(.initramfsMissing, summary: "test", evidence: [])
        let strategy = LastGoodKernelStrategy()
        #expect(strategy.unmetPrecondition(RepairContext(root: root, finding: finding))
                == "no other kernel with an intact boot chain has a menu entry (installed: \(Self.version))")
        #expect(throws: PlanError.self) { try strategy.plan(RepairContext(root: root, finding: finding)) }
    }

    @Test func catalogueRanksRegenerationFirst() {
        #expect(StrategyCatalogue.candidates(for: .initramfsMissing).map(\.descriptor.id)
                == ["initramfs-regenerate", "default-last-good-kernel"])
        #expect(StrategyCatalogue.candidates(for: .kernelPanic).map(\.descriptor.id)
                == ["module-blacklist-modprobe", "module-blacklist", "default-last-good-kernel"])
        #expect(StrategyCatalogue.candidates(for: .unitFailures).map(\.descriptor.id)
                == ["unit-revert-changed", "unit-mask-failed"])
    }
}
