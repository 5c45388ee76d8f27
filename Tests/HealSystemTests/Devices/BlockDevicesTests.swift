import Foundation
import HealSystem
import Testing
import TestSupport

/// Resolution of fstab and `root=` sources against the inventory.
@Suite("BlockDevices resolution")
struct BlockDevicesTests {
    let directory: TemporaryDirectory
    let ext4: String
    let swap: String
    let ext4UUID = DeviceFixture.uuid()
    let swapUUID = DeviceFixture.uuid()

    init() throws {
        directory = try TemporaryDirectory(prefix: "devices")
        ext4 = try DeviceFixture.blankImage(directory, "data.img")
        try DeviceFixture.run("mkfs.ext4", ["-q", "-F", "-L", "my data", "-U", ext4UUID, ext4])
        swap = try DeviceFixture.blankImage(directory, "swap.img")
        try DeviceFixture.run("mkswap", ["-L", "swap-1", "-U", swapUUID, swap])
    }

    var inventory: BlockDevices {
        BlockDevices(extraImages: [TestRoot.image, ext4, swap], scanningHost: false)
    }

    @Test("tags, quoted tags, udev links and paths resolve to the image that carries them",
          arguments: [
              ("UUID=5f1b3a52-8c1e-4c53-9a36-2b7b2c1d0e01", "root"),
              ("LABEL=clarity-root", "root"),
              ("UUID=\"5f1b3a52-8c1e-4c53-9a36-2b7b2c1d0e01\"", "root"),
              ("LABEL='clarity-root'", "root"),
              ("/dev/disk/by-uuid/5f1b3a52-8c1e-4c53-9a36-2b7b2c1d0e01", "root"),
              ("/dev/disk/by-label/clarity-root", "root"),
              ("LABEL=\"my data\"", "data"),
              ("/dev/disk/by-label/my\\x20data", "data"),
              ("LABEL=swap-1", "swap"),
          ])
    func resolves(spec: String, which: String) throws {
        let expected = ["root": TestRoot.image, "data": ext4, "swap": swap][which]
        #expect(inventory.resolve(spec)?.path == expected)
    }

    @Test("UUID= of the made images, and a plain image path")
    func generatedUUIDs() throws {
        let devices = inventory
        #expect(devices.resolve("UUID=\(ext4UUID)")?.path == ext4)
        #expect(devices.resolve("UUID=\(ext4UUID)")?.info.type == "ext4")
        #expect(devices.resolve("UUID=\(swapUUID)")?.info.type == "swap")
        #expect(devices.resolve(ext4)?.info.uuid == ext4UUID)
    }

    @Test("specs that name nothing resolve to nil",
          arguments: [
              "UUID=00000000-0000-0000-0000-000000000000",
              "LABEL=clarity-roo",           // a typo
              "LABEL=CLARITY-ROOT",          // labels are case-sensitive, as udev's links
              "PARTUUID=5f1b3a52-8c1e-4c53-9a36-2b7b2c1d0e01",  // a filesystem UUID is no partition UUID
              "FOO=bar",
              "ID=ata-QEMU_HARDDISK_QM00099",
              "/dev/disk/by-uuid/00000000-0000-0000-0000-000000000000",
              "/nonexistent/disk.img",
              "none",
              "",
          ])
    func unresolvable(spec: String) {
        #expect(inventory.resolve(spec) == nil)
    }

    @Test("PARTUUID= and PARTLABEL= compare the partition entry blkid reports")
    func partitionTags() throws {
        // Loop devices here get no partition nodes (no part scan), so the partition entry
        // values come from sfdisk's own answer for a real GPT image.
        let disk = try DeviceFixture.blankImage(directory, "disk.img")
        try DeviceFixture.run("sfdisk", ["-q", disk], input: "label: gpt\nsize=32M, type=L, name=alpha\n")
        let partUUID = try DeviceFixture.run("sfdisk", ["--part-uuid", disk, "1"])
            .trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let partition = ResolvedDevice(path: "/dev/vdz1",
            info: BlockInfo(values: ["PART_ENTRY_UUID": partUUID, "PART_ENTRY_NAME": "alpha", "TYPE": "ext4"]),
            isExtra: false)
        let devices = BlockDevices(devices: inventory.devices + [partition])
        #expect(devices.resolve("PARTUUID=\(partUUID)")?.path == "/dev/vdz1")
        #expect(devices.resolve("PARTLABEL=alpha")?.path == "/dev/vdz1")
        #expect(devices.resolve("/dev/disk/by-partuuid/\(partUUID)")?.path == "/dev/vdz1")
        #expect(devices.resolve("PARTLABEL=beta") == nil)
    }

    @Test("duplicates are all listed; resolve takes the first")
    func duplicates() throws {
        let copy = directory.path + "/copy.img"
        try FileManager.default.copyItem(atPath: ext4, toPath: copy)
        let devices = BlockDevices(extraImages: [ext4, copy], scanningHost: false)
        #expect(devices.matches("UUID=\(ext4UUID)").map(\.path) == [ext4, copy])
        #expect(devices.resolve("UUID=\(ext4UUID)")?.path == ext4)
    }

    @Test("filesystems(label:type:) finds filesystems, not swap")
    func filesystemsLookup() {
        let devices = inventory
        #expect(devices.filesystems(label: "clarity-root").map(\.path) == [TestRoot.image])
        #expect(devices.filesystems(type: "ext4").map(\.path) == [TestRoot.image, ext4])
        #expect(devices.filesystems(type: "swap").isEmpty)
        #expect(devices.filesystems(label: "my data", type: "vfat").isEmpty)
    }

    @Test("an unreadable extra image is kept with its problem and resolves to nothing by tag")
    func unreadableExtra() {
        let devices = BlockDevices(extraImages: ["/nonexistent/disk.img"], scanningHost: false)
        #expect(devices.devices.count == 1)
        #expect(devices.devices.first?.problem == .cannotOpen(path: "/nonexistent/disk.img", reason: "No such file or directory"))
        #expect(devices.resolve("LABEL=clarity-root") == nil)
    }

    @Test("the machine's devices: a loop device attached here is found by UUID, as blkid -U finds it")
    func hostScan() throws {
        let loop = try AttachedLoop(image: ext4)
        let devices = BlockDevices()
        let resolved = try #require(devices.resolve("UUID=\(ext4UUID)"))
        #expect(resolved.path == loop.path)
        #expect(resolved.isExtra == false)
        #expect(resolved.info.label == "my data")
        // blkid -U answers from its cache, which may predate the loop device: give it a
        // cache file of its own so it scans the devices afresh.
        let blkid = try Tool.run("/usr/bin/env", ["BLKID_FILE=\(directory.path)/blkid.tab", "blkid", "-U", ext4UUID])
        #expect(blkid.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == loop.path)
        // The node by path gives the same device.
        #expect(devices.resolve(loop.path)?.info.uuid == ext4UUID)
    }
}
