import HealCore
import Testing

/// The pure projection the exhaustion strategies check against the threshold.
@Suite("ResourceStrategies projection")
struct ResourceProjectionTests {
    typealias Removal = ResourceProjection.Removal

    static func file(_ path: String, inode: UInt64, links: UInt64 = 1, kib: UInt64) -> Removal {
        Removal(path: path, device: 1, inode: inode, links: links, allocatedBytes: kib * 1024, isDirectory: false)
    }

    @Test(arguments: [
        // Plain files: everything frees.
        ([file("/a", inode: 1, kib: 100), file("/b", inode: 2, kib: 50)], ResourceProjection.Freed(kib: 150, inodes: 2)),
        // A hard link kept elsewhere: nothing until the last link goes.
        ([file("/a", inode: 1, links: 2, kib: 100), file("/b", inode: 2, kib: 50)], ResourceProjection.Freed(kib: 50, inodes: 1)),
        // Both links removed: freed once.
        ([file("/a", inode: 1, links: 2, kib: 100), file("/c", inode: 1, links: 2, kib: 100)], ResourceProjection.Freed(kib: 100, inodes: 1)),
        // The same path twice counts once (and once is not every link).
        ([file("/a", inode: 1, links: 2, kib: 100), file("/a", inode: 1, links: 2, kib: 100)], ResourceProjection.Freed()),
        // A directory frees its own blocks and inode whatever its link count.
        ([Removal(path: "/d", device: 1, inode: 9, links: 3, allocatedBytes: 4096, isDirectory: true)], ResourceProjection.Freed(kib: 4, inodes: 1)),
        // Same inode number on another device is another file.
        ([file("/a", inode: 1, kib: 8), Removal(path: "/b", device: 2, inode: 1, links: 1, allocatedBytes: 8192, isDirectory: false)],
         ResourceProjection.Freed(kib: 16, inodes: 2)),
        ([], ResourceProjection.Freed()),
    ])
    func freed(_ removals: [Removal], _ expected: ResourceProjection.Freed) {
        #expect(ResourceProjection.freed(by: removals) == expected)
    }

    @Test(arguments: [
        // (used, available, freed KiB, projected %, below 95?)
        (970, 30, 0, 97, false),
        (970, 30, 20, 95, false),   // 950/1000 is 95 %: the detector still reports it
        (970, 30, 21, 95, false),   // 949/1000 rounds up to 95 %
        (970, 30, 30, 94, true),
        (970, 30, 2000, 0, true),   // never below zero
        (0, 0, 0, -1, true),        // no blocks: never exhausted
    ])
    func blocks(_ used: UInt64, _ available: UInt64, _ freed: UInt64, _ percent: Int, _ below: Bool) {
        let usage = ResourceProjection.Usage(usedKiB: used, availableKiB: available, usedInodes: 0, totalInodes: 0)
        let projected = ResourceProjection.project(usage, freeing: .init(kib: freed, inodes: 0))
        #expect((projected.blockPercent ?? -1) == percent)
        #expect(projected.usedKiB + projected.availableKiB == used + available)
        #expect(ResourceProjection.isBelow(projected, .blocks, threshold: 95) == below)
    }

    @Test(arguments: [
        (100, 100, 0, 100, false),
        (100, 100, 5, 95, false),
        (100, 100, 6, 94, true),
        (10, 100, 50, 0, true),
    ])
    func inodes(_ used: UInt64, _ total: UInt64, _ freed: UInt64, _ percent: Int, _ below: Bool) {
        let usage = ResourceProjection.Usage(usedKiB: 0, availableKiB: 0, usedInodes: used, totalInodes: total)
        let projected = ResourceProjection.project(usage, freeing: .init(kib: 0, inodes: freed))
        #expect(projected.inodePercent == percent)
        #expect(ResourceProjection.isBelow(projected, .inodes, threshold: 95) == below)
    }

    @Test func evidenceInTheDetectorsWords() throws {
        let blocks = try #require(ResourceProjection.usage(fromEvidence: "used 29812 KiB, available 1044 KiB, use 97%"))
        #expect(blocks.0 == .init(usedKiB: 29812, availableKiB: 1044, usedInodes: 0, totalInodes: 0))
        #expect(blocks.1 == .blocks)
        let inodes = try #require(ResourceProjection.usage(fromEvidence: "inodes used 2010 of 2048, use 99%"))
        #expect(inodes.0 == .init(usedKiB: 0, availableKiB: 0, usedInodes: 2010, totalInodes: 2048))
        #expect(inodes.1 == .inodes)
        #expect(ResourceProjection.usage(fromEvidence: "something else") == nil)
    }

    @Test(arguments: [
        ("/var/cache/apt/archives/a.deb", "/", ["/", "/boot"], true),
        ("/var/cache/apt/archives/a.deb", "/", ["/", "/var"], false),
        ("/var/cache/apt/archives/a.deb", "/var", ["/", "/var"], true),
        ("/boot/vmlinuz-6.1", "/", ["/", "/boot"], false),
        ("/boot/vmlinuz-6.1", "/boot", ["/", "/boot"], true),
        ("/boot/vmlinuz-6.1", "/", ["/"], true),
        ("/bootstrap/x", "/", ["/", "/boot"], true),
    ])
    func filesystemOfAPath(_ path: String, _ place: String, _ mounts: [String], _ isOn: Bool) {
        #expect(ResourceProjection.path(path, isOn: place, mountPoints: mounts) == isOn)
    }

    @Test func mountPointsOfAnFstab() {
        let fstab = "# comment\nUUID=1 / ext4 defaults 0 1\nUUID=2 /boot/ ext4 defaults 0 2\nUUID=3 none swap sw 0 0\n/dev/sdb1 /srv/my\\040data ext4 defaults 0 2\n"
        #expect(ResourceProjection.mountPoints(fstab: fstab) == ["/", "/boot", "/srv/my data"])
    }
}
