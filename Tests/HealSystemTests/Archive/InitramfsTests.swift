import Foundation
import HealSystem
import Testing
import TestSupport

/// The initramfs reader against lsinitramfs / unmkinitramfs on real and hand-made images.
@Suite("Initramfs", .serialized)
struct InitramfsTests {
    static var realImage: String { TestRoot.root + "/boot/initrd.img-" + TestRoot.kernelVersion }

    /// `lsinitramfs IMAGE`, one path per line.
    static func lsinitramfs(_ path: String) throws -> [String] {
        let result = try Tool.run("/usr/bin/lsinitramfs", [path])
        #expect(result.status == 0, "lsinitramfs failed: \(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// Runs a shell pipeline (cpio and compressors) in `directory`.
    static func shell(_ script: String, in directory: String) throws {
        let result = try Tool.run("/bin/sh", ["-c", "cd '\(directory)' && \(script)"])
        guard result.status == 0 else { throw Tool.Failure(message: "\(script): \(result.stderr)") }
    }

    @Test func realImageListsAsLsinitramfs() throws {
        let image = try Initramfs(path: Self.realImage)
        let listing = try image.list()
        #expect(listing.entries.map(\.path) == (try Self.lsinitramfs(Self.realImage)))
        #expect(listing.segments.count == 1)
        #expect(listing.segments.first?.compression != nil)
        #expect(listing.segments.first.map { $0.offset + $0.length } == image.size)
        let initEntry = try #require(listing.entry(at: "/init"))
        #expect(initEntry.kind == .file)
        #expect(initEntry.permissions & 0o111 != 0)
        #expect(listing.entry(at: "bin")?.kind == .symlink)
        #expect(listing.entry(at: "bin")?.linkTarget == "usr/bin")
    }

    @Test func realImageFileBytesMatchUnmkinitramfs() throws {
        let out = try TemporaryDirectory(prefix: "unmk")
        let result = try Tool.run("/usr/bin/unmkinitramfs", [Self.realImage, out.path + "/x"])
        #expect(result.status == 0)
        let image = try Initramfs(path: Self.realImage)
        for path in ["init", "conf/initramfs.conf", "scripts/functions"] {
            let expected = try Data(contentsOf: URL(fileURLWithPath: out.path + "/x/" + path))
            #expect(Data(try image.contents(of: path)) == expected, "\(path)")
        }
        #expect(throws: Initramfs.Error.noSuchEntry(path: Self.realImage, entry: "no/such/file")) {
            try image.contents(of: "/no/such/file")
        }
    }

    /// Kernel compressions and the flags the kernel's decompressors need (lz4: legacy).
    static let compressors: [(name: String, command: String, filter: String)] = [
        ("gzip", "gzip -9 -n", "gzip"),
        ("zstd", "zstd -q -19", "zstd"),
        ("xz", "xz --check=crc32", "xz"),
        ("lz4", "lz4 -l -q", "lz4"),
        // libbz2 and liblzma are opened on first use (CLazyLibraries): these two show the
        // forwarders reach them.
        ("bzip2", "bzip2 -9", "bzip2"),
        ("lzma", "lzma -9", "lzma"),
    ]

    @Test("early cpio + compressed main part", arguments: [0, 1, 2, 3, 4, 5])
    func multiSegmentImage(index: Int) throws {
        let (name, command, filter) = Self.compressors[index]
        let work = try TemporaryDirectory(prefix: "initrd-\(name)")
        // The early part as mkinitramfs makes it for microcode: plain newc.
        try work.write("early/kernel/x86/microcode/GenuineIntel.bin", Data(repeating: 0xa5, count: 3000))
        try work.write("early2/kernel/x86/microcode/AuthenticAMD.bin", Data(repeating: 0x5a, count: 700))
        let initScript = "#!/bin/sh\necho hello from \(name)\n"
        try work.write("main/init", initScript)
        try work.write("main/conf/initramfs.conf", "MODULES=most\n")
        try work.write("main/usr/lib/modules/v/kernel/drivers/block/virtio_blk.ko", Data(repeating: 7, count: 12345))
        try Self.shell("chmod 755 main/init && ln -s usr/bin main/bin && mkdir -p main/usr/bin main/dev && mknod main/dev/console c 5 1", in: work.path)
        try Self.shell("(cd early && find . | LC_ALL=C sort | cpio --quiet -o -H newc) > early.cpio", in: work.path)
        try Self.shell("(cd early2 && find . | LC_ALL=C sort | cpio --quiet -o -H newc) > early2.cpio", in: work.path)
        try Self.shell("(cd main && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | \(command) > main.cpio.c", in: work.path)
        try Self.shell("cat early.cpio early2.cpio main.cpio.c > initrd.img", in: work.path)

        let path = work.path + "/initrd.img"
        let image = try Initramfs(path: path)
        let listing = try image.list()
        #expect(listing.entries.map(\.path) == (try Self.lsinitramfs(path)))
        #expect(listing.segments.map(\.compression) == [nil, nil, filter])
        #expect(listing.segments.last.map { $0.offset + $0.length } == image.size)
        #expect(String(decoding: try image.contents(of: "init"), as: UTF8.self) == initScript)
        #expect(try image.contents(of: "kernel/x86/microcode/AuthenticAMD.bin") == [UInt8](repeating: 0x5a, count: 700))
        #expect(listing.entry(at: "bin")?.linkTarget == "usr/bin")
        #expect(listing.entry(at: "dev/console")?.kind == .characterDevice)
        #expect(listing.entry(at: "usr/lib/modules/v/kernel/drivers/block/virtio_blk.ko")?.size == 12345)
    }

    @Test func truncatedImageIsCorrupt() throws {
        let work = try TemporaryDirectory(prefix: "trunc")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.realImage))
        let path = try work.write("initrd.img", bytes.prefix(bytes.count / 2))
        let image = try Initramfs(path: path)
        do {
            _ = try image.list()
            Issue.record("a truncated image listed")
        } catch {
            guard case .corrupt(_, let offset, let reason) = error else { Issue.record("\(error)"); return }
            #expect(offset == 0)
            #expect(reason.lowercased().contains("truncated"), "\(reason)")
        }
    }

    @Test func garbageIsCorrupt() throws {
        let work = try TemporaryDirectory(prefix: "garbage")
        var generator = SystemRandomNumberGenerator()
        let path = try work.write("initrd.img", Data((0..<65536).map { _ in UInt8.random(in: 1...255, using: &generator) }))
        #expect(throws: Initramfs.Error.corrupt(path: path, offset: 0, reason: "no cpio header and no known compression")) {
            try Initramfs(path: path).list()
        }
    }

    @Test func garbageAfterCpioIsCorruptAtItsOffset() throws {
        let work = try TemporaryDirectory(prefix: "junk")
        try work.write("early/a", "a\n")
        try Self.shell("(cd early && find . | cpio --quiet -o -H newc) > initrd.img && printf 'JUNKJUNK' >> initrd.img", in: work.path)
        let size = try #require(FileManager.default.attributesOfItem(atPath: work.path + "/initrd.img")[.size] as? Int)
        #expect(throws: Initramfs.Error.corrupt(path: work.path + "/initrd.img", offset: size - 8,
                                                reason: "no cpio header and no known compression")) {
            try Initramfs(path: work.path + "/initrd.img").list()
        }
    }

    @Test func emptyAndMissingImages() throws {
        let work = try TemporaryDirectory(prefix: "empty")
        let path = try work.write("initrd.img", "")
        #expect(throws: Initramfs.Error.empty(path: path)) { try Initramfs(path: path) }
        #expect(throws: Initramfs.Error.missing(path: work.path + "/nope")) { try Initramfs(path: work.path + "/nope") }
        #expect(Initramfs.Error.empty(path: path).description == "initramfs \(path) is empty")
    }
}
