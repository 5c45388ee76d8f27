import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// system-file-corrupt repaired from the cached .deb of the installed version.
@Suite("PackagedFileStrategies", .serialized, .timeLimit(.minutes(5)))
struct PackagedFileStrategyTests {
    static let detectors: [any Detector] = Detectors.all

    @Test func alteredFilesAreRestored() throws {
        let repair = try KernelRepairCase { copy in
            try CatalogueTests.append(copy.at("/usr/sbin/mkinitramfs"), "# tampered")
            try CatalogueTests.append(copy.at("/usr/bin/lsinitramfs"), "# tampered")
        }
        let finding = try repair.finding(.systemFileCorrupt)
        let outcome = try repair.repair(PackagedFileRestoreStrategy(), finding)
        // One package, one pass: both files come from the installed version's .deb.
        let cached = try #require(DebPackage.cached(named: "initramfs-tools-core", in: try SystemRoot(TestRoot.root)).first)
        let deb = DebPackage.cacheDirectory + "/" + (cached.split(separator: "/").last.map(String.init) ?? "")
        #expect(outcome.operations.map(\.declaredPaths) == [["/usr/bin/lsinitramfs"], ["/usr/sbin/mkinitramfs"]])
        #expect(outcome.operations.allSatisfy {
            if case .restorePackagedFile(_, deb, _, let md5?) = $0 { md5.count == 32 } else { false }
        }, "\(outcome.operations)")
        KernelRepairCase.expectRepaired(outcome)
        #expect(Set(outcome.changes.modifiedPaths) == ["/usr/bin/lsinitramfs", "/usr/sbin/mkinitramfs"])
        // dpkg itself agrees, and the mode is the package's.
        let verify = try Tool.run("/usr/bin/dpkg", ["--root", repair.environment.root.path, "--verify", "initramfs-tools-core"])
        #expect(verify.stdout.isEmpty && verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: repair.environment.root.host("/usr/sbin/mkinitramfs"))[.posixPermissions] as? Int
        #expect(mode == 0o755)
    }

    @Test func fileReplacedByALinkIsRestored() throws {
        let repair = try KernelRepairCase { copy in
            try FileManager.default.removeItem(atPath: copy.at("/usr/sbin/update-initramfs"))
            try FileManager.default.createSymbolicLink(atPath: copy.at("/usr/sbin/update-initramfs"), withDestinationPath: "/bin/true")
        }
        let finding = try repair.finding(.systemFileCorrupt)
        let outcome = try repair.repair(PackagedFileRestoreStrategy(), finding)
        #expect(outcome.operations.first == .removeFile(path: "/usr/sbin/update-initramfs"))
        let restored = try Data(contentsOf: URL(fileURLWithPath: repair.environment.root.host("/usr/sbin/update-initramfs")))
        #expect(restored.starts(with: Data("#!/bin/sh".utf8)), "the package's script, not the link's target")
        KernelRepairCase.expectRepaired(outcome)
        let target = try FileManager.default.attributesOfItem(atPath: repair.environment.root.host("/usr/bin/true"))
        #expect(target[.size] as? Int != restored.count, "/bin/true is untouched")
    }

    @Test func withoutTheInstalledVersionsDebTheStrategyRefuses() throws {
        let repair = try KernelRepairCase { copy in
            try CatalogueTests.append(copy.at("/usr/sbin/mkinitramfs"), "# tampered")
            let archives = copy.at("/var/cache/apt/archives")
            for name in try FileManager.default.contentsOfDirectory(atPath: archives) where name.hasPrefix("initramfs-tools-core_") {
                try FileManager.default.removeItem(atPath: archives + "/" + name)
            }
        }
        let finding = try repair.finding(.systemFileCorrupt)
        let reason = PackagedFileRestoreStrategy().unmetPrecondition(repair.context(finding))
        #expect(reason?.hasPrefix("the package cache /var/cache/apt/archives has no .deb of initramfs-tools-core 0.142") == true, "\(reason ?? "nil")")
    }
}
