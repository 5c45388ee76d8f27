import Foundation
import HealSystem
import Testing
import TestSupport

/// libblkid through `BlockProbe`, checked value by value against `blkid -p -o export`.
@Suite("BlockProbe interop with blkid -p")
struct BlockProbeTests {
    /// How each image is made, with the real mkfs tools.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case ext4, ext2, vfat, swap, gpt
        var testDescription: String { rawValue }

        func make(in directory: TemporaryDirectory) throws -> String {
            let image = try DeviceFixture.blankImage(directory, rawValue + ".img")
            switch self {
            case .ext4:
                try DeviceFixture.run("mkfs.ext4", ["-q", "-F", "-L", "data-fs", "-U", DeviceFixture.uuid(), image])
            case .ext2:
                try DeviceFixture.run("mkfs.ext2", ["-q", "-F", "-L", "old fs", image])
            case .vfat:
                try DeviceFixture.run("mkfs.vfat", ["-n", "ESP", image])
            case .swap:
                try DeviceFixture.run("mkswap", ["-L", "swap-1", "-U", DeviceFixture.uuid(), image])
            case .gpt:
                try DeviceFixture.run("sfdisk", ["-q", image],
                                      input: "label: gpt\nsize=32M, type=L, name=alpha\ntype=S, name=beta\n")
            }
            return image
        }
    }

    @Test("every value equals blkid -p", arguments: Kind.allCases)
    func matchesBlkid(kind: Kind) throws {
        let directory = try TemporaryDirectory(prefix: "probe")
        let image = try kind.make(in: directory)
        let expected = try DeviceFixture.blkidExport(image)
        #expect(expected.status == 0)
        let info = try #require(try BlockProbe.identify(image))
        #expect(info.values == expected.values)
        if kind != .gpt {
            #expect(info.type == expected.values["TYPE"])
            #expect(info.uuid == expected.values["UUID"])
            #expect(info.label == expected.values["LABEL"])
            #expect(info.usage == (kind == .swap ? "other" : "filesystem"))
        } else {
            #expect(info.type == nil)
            #expect(info.partitionTableType == "gpt")
        }
    }

    @Test("the cached test root's image")
    func testRootImage() throws {
        let info = try #require(try BlockProbe.identify(TestRoot.image))
        #expect(info.values == (try DeviceFixture.blkidExport(TestRoot.image)).values)
        #expect(info.type == "ext4")
        #expect(info.label == "clarity-root")
        #expect(info.uuid == TestRoot.rootUUID)
    }

    @Test("a device node probes like an image: a loop device over ext4")
    func loopDevice() throws {
        let directory = try TemporaryDirectory(prefix: "probe")
        let image = try Kind.ext4.make(in: directory)
        let loop = try AttachedLoop(image: image)
        let info = try #require(try BlockProbe.identify(loop.path))
        #expect(info.values == (try DeviceFixture.blkidExport(loop.path)).values)
        #expect(info.uuid == (try BlockProbe.identify(image))?.uuid)
    }

    @Test("two signatures are ambivalent (-2), as blkid says")
    func ambivalent() throws {
        let directory = try TemporaryDirectory(prefix: "probe")
        let ext4 = try Kind.ext4.make(in: directory)
        let vfat = try Kind.vfat.make(in: directory)
        // A FAT boot sector at offset 0 next to the ext4 superblock at 1024.
        try DeviceFixture.run("dd", ["if=\(vfat)", "of=\(ext4)", "bs=512", "count=1", "conv=notrunc", "status=none"])
        let blkid = try Tool.run("blkid", ["-p", ext4])
        #expect(blkid.status == 8)
        #expect(blkid.stderr.contains("ambivalent"))
        #expect(throws: BlockProbe.Error.ambivalent(path: ext4)) { try BlockProbe.identify(ext4) }
        #expect(BlockProbe.Error.ambivalent(path: ext4).description.hasPrefix("cannot probe \(ext4): ambivalent"))
    }

    @Test("an image of zeros has no signature; blkid exits 2")
    func blank() throws {
        let directory = try TemporaryDirectory(prefix: "probe")
        let image = try DeviceFixture.blankImage(directory, "zero.img", megabytes: 8)
        #expect(try DeviceFixture.blkidExport(image).status == 2)
        #expect(try BlockProbe.identify(image) == nil)
    }

    @Test("a missing file cannot be opened, with errno's reason")
    func missing() throws {
        let error = #expect(throws: BlockProbe.Error.self) { try BlockProbe.identify("/nonexistent/disk.img") }
        #expect(error?.description == "cannot probe /nonexistent/disk.img: No such file or directory")
    }
}
