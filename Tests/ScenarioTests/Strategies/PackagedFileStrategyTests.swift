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

    struct RepairOutput: Decodable {
        struct Finding: Decodable { var `class`: String }
        struct Attempt: Decodable { var strategy: String; var validated: Bool; var notes: [String] }
        var status: String
        var finding: Finding?
        var attempts: [Attempt]
        var fixPackage: String?
    }

    /// Issue 9, finding 11: a kernel whose whole module tree went missing (1,121 files and
    /// 88 MiB here, about 3,000 in a generic kernel). The old restore decompressed the 26 MB
    /// .deb twice per file and scanned every .list per file: the same repair was still
    /// planning after 9 minutes. Now the real `clarity-heal repair` validates a fix in about
    /// 10 s (debug build); the whole test, apply and checks included, takes about 30 s. The
    /// repair runs under `timeout --signal=KILL` so the old code fails here instead of
    /// hanging (SIGTERM would not do: the test process blocks it, and children inherit that).
    @Test func wholeModuleTreeIsRestoredInOnePassAsDpkgDebExtractsIt() throws {
        let kernel = TestRoot.kernelVersion
        let tree = "/lib/modules/\(kernel)/kernel"
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at(tree))
        let work = try TemporaryDirectory(prefix: "modules")

        let start = ContinuousClock.now
        let result = try Tool.run("/usr/bin/timeout", ["--signal=KILL", "180", Tool.clarityHeal, "repair", "--root", copy.path,
                                                       "--device", TestRoot.image, "--out", work.path + "/fixes",
                                                       "--scratch", work.path + "/scratch", "--json"])
        let elapsed = start.duration(to: .now)
        #expect(result.status == 1, "exit \(result.status) after \(elapsed): \(result.stderr.suffix(2000))")
        #expect(elapsed < .seconds(120), "the repair took \(elapsed)")
        let output = try JSONDecoder().decode(RepairOutput.self, from: Data(result.stdout.utf8))
        #expect(output.status == "validated", "\(output.attempts)")
        #expect(output.finding?.class == "system-file-corrupt")
        #expect(output.attempts.last?.strategy == "packaged-file-restore" && output.attempts.last?.validated == true)
        let fix = try #require(output.fixPackage)

        // The fix, applied by the real binary to the broken copy, makes the tree exactly what
        // dpkg-deb -x makes of the same cached .deb: bytes, modes and links.
        let apply = try Tool.run(Tool.clarityHeal, ["apply", fix, "--root", copy.path])
        #expect(apply.status == 0, "\(apply.stderr)")
        let pristine = try SystemRoot(TestRoot.root)
        let cached = pristine.host(try #require(DebPackage.cached(named: "linux-image-\(kernel)", in: pristine).first))
        let extracted = work.path + "/dpkg-deb"
        let unpack = try Tool.run("/usr/bin/dpkg-deb", ["-x", cached, extracted])
        #expect(unpack.status == 0, "\(unpack.stderr)")
        let diff = try Tool.run("/usr/bin/diff", ["-r", "--no-dereference", extracted + tree, copy.at(tree)])
        #expect(diff.status == 0, "\(diff.stdout.prefix(2000))")
        func listing(_ folder: String) throws -> [String] {
            let find = try Tool.run("/usr/bin/find", [folder, "-printf", "%M %s %P %l\\n"])
            return find.stdout.split(separator: "\n").map(String.init).sorted()
        }
        let expected = try listing(extracted + tree)
        #expect(expected.count > 1_000)
        #expect(try listing(copy.at(tree)) == expected)
        let detect = try Tool.run(Tool.clarityHeal, ["detect", "--root", copy.path, "--class", "system-file-corrupt"])
        #expect(detect.status == 0, "\(detect.stdout)")
    }

    /// The digest is checked as the file streams, before it takes the place of anything: a
    /// cached .deb whose file is not what dpkg recorded is refused, and the clone keeps what
    /// it had, with no temporary file left.
    @Test func aPackageWhoseFileDiffersFromMd5sumsIsRefusedBeforeAnythingIsWritten() throws {
        let repair = try KernelRepairCase { copy in
            try CatalogueTests.append(copy.at("/usr/sbin/mkinitramfs"), "# tampered")
            // The installed version's .deb, rebuilt by dpkg-deb with another mkinitramfs.
            let archives = copy.at("/var/cache/apt/archives")
            let name = try #require(try FileManager.default.contentsOfDirectory(atPath: archives)
                .first { $0.hasPrefix("initramfs-tools-core_") })
            let work = try TemporaryDirectory(prefix: "deb")
            #expect(try Tool.run("/usr/bin/dpkg-deb", ["-R", archives + "/" + name, work.path + "/tree"]).status == 0)
            try CatalogueTests.append(work.path + "/tree/usr/sbin/mkinitramfs", "# not what dpkg recorded")
            let build = try Tool.run("/usr/bin/dpkg-deb", ["-b", work.path + "/tree", work.path + "/rebuilt.deb"])
            #expect(build.status == 0, "\(build.stderr)")
            try FileManager.default.removeItem(atPath: archives + "/" + name)
            try FileManager.default.copyItem(atPath: work.path + "/rebuilt.deb", toPath: archives + "/" + name)
        }
        let finding = try repair.finding(.systemFileCorrupt)
        let before = try Data(contentsOf: URL(fileURLWithPath: repair.environment.root.host("/usr/sbin/mkinitramfs")))
        let outcome = try repair.repair(PackagedFileRestoreStrategy(), finding)
        #expect(!outcome.succeeded)
        let failed = try #require(outcome.outcomes.first { !$0.succeeded })
        #expect(failed.detail.contains("usr/sbin/mkinitramfs in initramfs-tools-core_"), "\(failed.detail)")
        #expect(failed.detail.contains("dpkg recorded"), "\(failed.detail)")
        #expect(failed.detail.hasSuffix("nothing written"), "\(failed.detail)")
        let after = try Data(contentsOf: URL(fileURLWithPath: repair.environment.root.host("/usr/sbin/mkinitramfs")))
        #expect(after == before)
        #expect(!FileManager.default.fileExists(atPath: repair.environment.root.host("/usr/sbin/mkinitramfs.clarity-heal-new")))
    }
}

