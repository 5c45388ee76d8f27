import Foundation
import HealCore
import Testing
import TestSupport
@testable import HealSystem

@Suite struct DiskControllerTests {
    @Test func theTestRootsInitramfsDrivesVirtio() throws {
        let listing = try Initramfs(path: TestRoot.root + "/boot/initrd.img-" + TestRoot.kernelVersion).entries().map(\.path)
        let builtin = try String(contentsOfFile: TestRoot.root + "/lib/modules/\(TestRoot.kernelVersion)/modules.builtin", encoding: .utf8)
        #expect(DiskController.choose(initramfs: listing, builtin: builtin) == .virtio)
    }

    @Test func theFirstControllerWithEveryDriverIsChosen() {
        let modules = "usr/lib/modules/6.1.0-50-cloud-amd64/kernel/drivers/"
        // virtio_blk without virtio_pci does not see the PCI disk.
        #expect(DiskController.choose(initramfs: [modules + "block/virtio_blk.ko", modules + "ata/ahci.ko.xz",
                                                  modules + "ata/libahci.ko.xz", modules + "scsi/sd_mod.ko"],
                                      builtin: "") == .ahci)
        #expect(DiskController.choose(initramfs: [modules + "nvme/host/nvme.ko.zst"],
                                      builtin: "kernel/drivers/nvme/host/nvme-core.ko\n") == .nvme)
        #expect(DiskController.choose(initramfs: [modules + "block/virtio_blk.ko"],
                                      builtin: "kernel/drivers/virtio/virtio_pci.ko\n") == .virtio)
        #expect(DiskController.choose(initramfs: [modules + "net/e1000.ko", "etc/modprobe.d/x.conf"], builtin: "") == nil)
    }
}
