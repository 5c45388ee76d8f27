import Foundation
import HealSystem
import Testing
import TestSupport

/// libkmod over the cached Debian root, checked against the real modinfo and modprobe.
@Suite("KernelModules")
struct KernelModulesTests {
    let version = TestRoot.kernelVersion

    func modules() throws -> KernelModules {
        let modules = try KernelModules(root: try SystemRoot(TestRoot.root), version: version)
        try modules.loadIndex()
        return modules
    }

    @Test("lookup matches modinfo -F filename",
          arguments: ["ext4", "xfs", "virtio_blk", "virtio-blk", "btrfs", "fs-xfs", "crc32c", "jbd2", "no_such_module"])
    func lookupMatchesModinfo(name: String) throws {
        let modules = try modules()
        let found = try modules.lookup(name)
        let result = try Tool.run("/usr/sbin/modinfo", ["-b", TestRoot.root, "-k", version, "-F", "filename", name])
        let expected = result.stdout.split(separator: "\n").map(String.init)
        let ours = found.map { module -> String in
            switch module.location {
            case .file(let path): modules.hostDirectory + "/" + path
            case .builtin: "(builtin)"
            case .unknown: "(unknown)"
            }
        }
        #expect(ours == expected)
        #expect((result.status == 0) == !found.isEmpty)
    }

    @Test("load set matches modprobe --show-depends",
          arguments: ["ext4", "xfs", "virtio_blk", "btrfs", "nvme", "sd_mod", "fs-xfs"])
    func loadSetMatchesModprobe(name: String) throws {
        let modules = try modules()
        let ours = try modules.loadSet(of: name).compactMap { module -> String? in
            switch module.location {
            case .file(let path): "insmod " + modules.hostDirectory + "/" + path
            case .builtin: "builtin " + module.name
            case .unknown: nil
            }
        }
        let result = try Tool.run("/usr/sbin/modprobe", ["-d", TestRoot.root, "-S", version, "--show-depends", name])
        #expect(result.status == 0)
        let expected = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(Set(ours) == Set(expected))
        #expect(ours.count == expected.count)
    }

    @Test func hardDependenciesComeFromModulesDep() throws {
        let modules = try modules()
        let blk = try #require(try modules.lookup("virtio_blk").first)
        let dependencies = try modules.dependencies(of: blk)
        #expect(Set(dependencies.map(\.name)) == ["virtio", "virtio_ring"])
        let xfs = try #require(try modules.lookup("xfs").first)
        #expect(try modules.dependencies(of: xfs).map(\.name) == ["libcrc32c"])
    }

    @Test func builtinsComeFromModulesBuiltin() throws {
        let modules = try modules()
        #expect(modules.isBuiltin("ext4"))
        #expect(modules.isBuiltin("jbd2"))
        #expect(!modules.isBuiltin("virtio_blk"))
        #expect(!modules.isBuiltin("xfs"))
        #expect(try modules.lookup("ext4") == [KernelModule(name: "ext4", location: .builtin)])
        #expect(modules.indexState() == .valid)
    }

    @Test func missingIndexIsATypedError() throws {
        let folder = try TemporaryDirectory(prefix: "kmod")
        try folder.write("lib/modules/\(version)/modules.dep", "")
        let modules = try KernelModules(root: try SystemRoot(folder.path), version: version)
        #expect(throws: KernelModules.Error.indexUnusable(directory: "/lib/modules/\(version)",
                                                           reason: "modules.dep.bin is missing")) {
            try modules.loadIndex()
        }
    }

    @Test func garbageIndexIsRefused() throws {
        let copy = try TestRoot.writableCopy()
        let index = copy.at("/lib/modules/\(version)/modules.dep.bin")
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: index))
        let modules = try KernelModules(root: try SystemRoot(copy.path), version: version)
        #expect(throws: KernelModules.Error.self) { try modules.loadIndex() }
    }
}
