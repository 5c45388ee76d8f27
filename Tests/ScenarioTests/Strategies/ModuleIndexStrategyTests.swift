import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// kernel-modules-missing repaired by the root's depmod in the overlay environment.
@Suite("ModuleIndexStrategies", .serialized, .timeLimit(.minutes(5)))
struct ModuleIndexStrategyTests {
    static let version = TestRoot.kernelVersion

    @Test(arguments: [["modules.dep", "modules.dep.bin"], ["modules.alias.bin", "modules.symbols.bin", "modules.builtin.bin"]])
    func removedIndexIsRebuilt(_ removed: [String]) throws {
        let repair = try KernelRepairCase { copy in
            for name in removed { try FileManager.default.removeItem(atPath: copy.at("/lib/modules/\(Self.version)/\(name)")) }
        }
        let finding = try repair.finding(.kernelModulesMissing)
        let outcome = try repair.repair(ModuleIndexRebuildStrategy(), finding)
        #expect(outcome.operations.first?.description.hasPrefix("run depmod \(Self.version) (may change /lib/modules/") == true)
        KernelRepairCase.expectRepaired(outcome)
        let changed = Set(outcome.changes.modifiedPaths)
        #expect(changed.isSuperset(of: removed.map { "/usr/lib/modules/\(Self.version)/\($0)" }))
        #expect(changed.allSatisfy { $0.hasPrefix("/usr/lib/modules/\(Self.version)/modules.") })
        // The rebuilt index resolves what the pristine one resolves.
        let modules = try KernelModules(root: repair.environment.root, version: Self.version)
        #expect(try modules.lookup("fs-xfs").map(\.name) == ["xfs"])
    }

    @Test func withoutTheModulesThemselvesDepmodIsRefused() throws {
        let repair = try KernelRepairCase { copy in
            try CatalogueTests.edit(copy.at("/boot/grub/grub.cfg")) {
                $0.replacingOccurrences(of: "vmlinuz-\(Self.version) root=UUID=\(TestRoot.rootUUID) ro console=ttyS0 quiet",
                                        with: "vmlinuz-6.1.0-99-cloud-amd64 root=UUID=\(TestRoot.rootUUID) ro console=ttyS0 quiet")
            }
        }
        let finding = Finding(.kernelModulesMissing, summary: "/lib/modules/6.1.0-99-cloud-amd64 does not exist", evidence: [])
        #expect(ModuleIndexRebuildStrategy().unmetPrecondition(repair.context(finding))
                == "/lib/modules/6.1.0-99-cloud-amd64/kernel does not exist: the modules themselves are gone, depmod cannot help")
    }
}
