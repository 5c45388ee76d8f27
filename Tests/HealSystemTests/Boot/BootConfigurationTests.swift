import Foundation
import HealCore
@testable import HealSystem
import Testing
import TestSupport

@Suite struct BootConfigurationTests {
    @Test func theTestRootBootsItsCloudKernel() throws {
        let configuration = try BootConfiguration.load(SystemRoot(TestRoot.root))
        let kernel = TestRoot.kernelVersion
        #expect(configuration.loader == .grub(config: "/boot/grub/grub.cfg"))
        #expect(configuration.entries.count == 3)
        #expect(configuration.menuPaths == [[0], [1, 0], [1, 1]])
        #expect(configuration.defaultChoice.source == .grubConfig)
        #expect(configuration.defaultChoice.value == "0")
        #expect(configuration.defaultChoice.entryIndex == 0)
        let entry = try #require(configuration.defaultEntry)
        #expect(entry.title == "Debian GNU/Linux")
        #expect(entry.id == "gnulinux-simple-\(TestRoot.rootUUID)")
        #expect(entry.kernel == "/boot/vmlinuz-\(kernel)")
        #expect(entry.initrd == "/boot/initrd.img-\(kernel)")
        #expect(entry.version == kernel)
        #expect(entry.options == ["root=UUID=\(TestRoot.rootUUID)", "ro", "console=ttyS0", "quiet"])
        #expect(entry.option("root") == "UUID=\(TestRoot.rootUUID)")
        #expect(entry.source == "/boot/grub/grub.cfg")
        #expect(configuration.entries[2].title.hasSuffix("(recovery mode)"))
        #expect(configuration.entries[2].options.contains("single"))
        let env = try #require(configuration.grubEnvironment)
        #expect(env.block != nil && env.error == nil && env.variables.isEmpty)
        #expect(configuration.defaultGrub?["GRUB_CMDLINE_LINUX"] == "console=ttyS0")
    }
}
