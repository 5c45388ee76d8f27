import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("KernelModulesScenarios", .serialized)
struct KernelModulesScenarioTests {
    var directory: String { "/lib/modules/" + TestRoot.kernelVersion }

    @Test func removedModulesDirectory() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at(directory))
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.kernelModulesMissing])
        #expect(findings.first?.summary == "\(directory) does not exist")
    }

    @Test func removedModulesDep() throws {
        let copy = try TestRoot.writableCopy()
        try BootChainDetectors.shell("rm .\(directory)/modules.dep .\(directory)/modules.dep.bin", in: copy.path)
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.kernelModulesMissing])
        #expect(findings.first?.summary == "\(directory) lacks modules.dep, modules.dep.bin")
    }

    @Test func garbageBinaryIndex() throws {
        let copy = try TestRoot.writableCopy()
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: copy.at(directory + "/modules.dep.bin")))
        let findings = try BootChainDetectors.run(copy.path)
        #expect(findings.map(\.failureClass) == [.kernelModulesMissing])
        #expect(findings.first?.evidence.last?.detail.hasPrefix("cannot load the module index of \(directory)") == true)
    }

    @Test func versionFromTheKernelFileName() throws {
        var entry = BootChainDetectors.entry()
        entry.version = nil
        #expect(entry.kernelVersion == TestRoot.kernelVersion)
        entry.kernel = "/boot/vmlinuz-9.9.9-none"
        #expect(try KernelModulesDetector.findings(for: entry, root: try SystemRoot(TestRoot.root)).map(\.summary)
                == ["/lib/modules/9.9.9-none does not exist"])
    }
}
