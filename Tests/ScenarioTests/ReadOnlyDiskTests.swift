import Foundation
import HealSystem
import Testing
import TestSupport

/// `ReadOnlyDisk` on a really corrupted ext4 (an inode cleared under its directory entry):
/// reading the broken file makes ext4 record an error, yet the image's bytes never change,
/// even with a read-write loop device already attached to it (the one `mount -o loop`
/// would reuse). Its own read-only loop device is gone once it is released, also when the
/// mount fails.
@Suite(.serialized)
struct ReadOnlyDiskTests {
    static func sha256(_ path: String) throws -> String {
        try ScenarioDisk.run("sha256sum", [path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }

    /// The loop devices attached to `file` (`losetup -j`), by name.
    static func loops(of file: String) throws -> [String] {
        try ScenarioDisk.run("losetup", ["-j", file]).stdout.split(separator: "\n")
            .compactMap { $0.split(separator: ":").first.map(String.init) }
    }

    static func sysfs(_ device: String, _ attribute: String) -> String? {
        let name = device.split(separator: "/").last.map(String.init) ?? ""
        return (try? String(contentsOfFile: "/sys/class/block/\(name)/\(attribute)", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Opens `source` with ReadOnlyDisk, reads the tree's files (the cleared one fails, and
    /// ext4 counts the error), releases it; returns the disk's loop device.
    static func readThrough(_ source: String, scratch: TemporaryDirectory) throws -> String {
        let disk = try ReadOnlyDisk(image: source, scratch: scratch.path)
        defer { disk.release() }
        #expect(disk.device.hasPrefix("/dev/loop"))
        #expect(sysfs(disk.device, "ro") == "1")
        let mount = try ScenarioDisk.run("findmnt", ["-n", "-o", "SOURCE,OPTIONS", "--mountpoint", disk.root.path]).stdout
        #expect(mount.hasPrefix(disk.device + " ro,"), "\(mount)")
        #expect(try String(contentsOfFile: disk.root.path + "/data/a", encoding: .utf8) == "alpha\n")
        #expect(try String(contentsOfFile: disk.root.path + "/etc/hostname", encoding: .utf8) == "scenario\n")
        // ext4 meets the deleted inode: EFSCORRUPTED (EUCLEAN) from ext4_error(), the
        // error it writes to the superblock when the device below lets it.
        let fd = open(disk.root.path + "/data/b", O_RDONLY)
        let openError = errno
        if fd >= 0 { close(fd) }
        #expect(fd == -1 && openError == EUCLEAN, "open /data/b: \(fd) errno \(openError)")
        return disk.device
    }

    @Test func aCorruptedImageIsReadAndKeepsItsBytesEvenWithAWritableLoopAttached() throws {
        let directory = try TemporaryDirectory(prefix: "rodisk")
        let image = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: ScenarioDisk.uuid())
        let before = try Self.sha256(image)
        let writable = try AttachedLoop(image: image)
        #expect(Self.sysfs(writable.path, "ro") == "0")
        let scratch = try TemporaryDirectory(prefix: "rodisk-scratch")

        let device = try Self.readThrough(image, scratch: scratch)

        #expect(device != writable.path, "reused the read-write loop device")
        #expect(try Self.sha256(image) == before, "the image was written")
        #expect(!(try ScenarioDisk.run("dumpe2fs", ["-h", image]).stdout.contains("FS Error count")))
        #expect(try Self.loops(of: image) == [writable.path], "the read-only loop device is still attached")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
        #expect(KernelState.mounts(below: scratch.path).isEmpty)
    }

    @Test func aBlockDeviceGivenDirectlyIsReadThroughAReadOnlyLoopOverIt() throws {
        let directory = try TemporaryDirectory(prefix: "rodisk")
        let image = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: ScenarioDisk.uuid())
        let before = try Self.sha256(image)
        let writable = try AttachedLoop(image: image)
        let scratch = try TemporaryDirectory(prefix: "rodisk-scratch")

        let device = try Self.readThrough(writable.path, scratch: scratch)

        #expect(device != writable.path)
        #expect(try Self.sha256(image) == before, "the device was written")
        #expect(try Self.loops(of: writable.path) == [], "the loop device over \(writable.path) is still attached")
        #expect(try Self.loops(of: image) == [writable.path])
    }

    /// `repair --disk … --scratch .cache/x` gives a scratch folder relative to the working
    /// folder; it must be made there, not under /.
    @Test func aRelativeScratchFolderIsMadeWhereItSays() throws {
        let directory = try TemporaryDirectory(prefix: "rodisk")
        let image = try ScenarioDisk.ext4(in: directory, "plain.img", megabytes: 16, ["-d", try ScenarioDisk.tree(in: directory)])
        let relative = ".cache/tmp/relative-scratch-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: relative) }
        let disk = try ReadOnlyDisk(image: image, scratch: relative)
        defer { disk.release() }
        #expect(disk.root.path.hasPrefix(FileManager.default.currentDirectoryPath + "/" + relative)
                || disk.root.path.hasPrefix(relative), "\(disk.root.path)")
        #expect(try String(contentsOfFile: disk.root.path + "/etc/hostname", encoding: .utf8) == "scenario\n")
        #expect(!FileManager.default.fileExists(atPath: "/" + relative))
    }

    @Test func aDiskThatCannotBeMountedLeavesNothingAttached() throws {
        let directory = try TemporaryDirectory(prefix: "rodisk")
        let blank = directory.path + "/blank.img"
        try ScenarioDisk.run("truncate", ["-s", "4M", blank])
        let scratch = try TemporaryDirectory(prefix: "rodisk-scratch")

        let error = try #require(throws: ReadOnlyDisk.Error.self) {
            try ReadOnlyDisk(image: blank, scratch: scratch.path)
        }
        #expect(error.description.hasPrefix("cannot mount \(blank) read-only: "), "\(error)")
        #expect(try Self.loops(of: blank) == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])

        let folder = try #require(throws: ReadOnlyDisk.Error.self) {
            try ReadOnlyDisk(image: directory.path, scratch: scratch.path)
        }
        #expect(folder.description == "cannot attach \(directory.path) to a read-only loop device: neither a block device nor an image file")
    }

    /// Disks that cannot be examined: `repair --disk` and `diagnose --disk` say what the
    /// disk is and what a person can do, exit 3, and leave its bytes as they were.
    @Test(arguments: [
        ("blank", "it holds no filesystem or partition table that libblkid knows"),
        ("partitioned", "it holds a dos partition table, not a filesystem: give the partition that holds the root"),
        ("luks", "it is encrypted (LUKS): clarity-heal cannot read it without its key"),
    ])
    func aDiskThatCannotBeMountedIsNamedForWhatItIs(kind: String, message: String) throws {
        let directory = try TemporaryDirectory(prefix: "baddisk")
        let image = directory.path + "/disk.img"
        try ScenarioDisk.run("truncate", ["-s", "32M", image])
        switch kind {
        case "partitioned":
            let table = directory.path + "/table"
            try "label: dos\n,,L\n".write(toFile: table, atomically: false, encoding: .utf8)
            try ScenarioDisk.run("sh", ["-c", "sfdisk -q \(image) < \(table)"])
        case "luks":
            let key = directory.path + "/key"
            try "not a real secret".write(toFile: key, atomically: false, encoding: .utf8)
            try ScenarioDisk.run("cryptsetup", ["luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
                                                "--pbkdf-force-iterations", "1000", "--key-file", key, image])
        default:
            break
        }
        let before = try Self.sha256(image)
        for command in ["repair", "diagnose"] {
            let result = try Tool.run(Tool.clarityHeal, [command, "--disk", image, "--scratch", directory.path + "/scratch", "--json"])
            #expect(result.status == 3, "\(command): \(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains(message), "\(command): \(result.stdout)")
        }
        #expect(try Self.sha256(image) == before)
        #expect(try Self.loops(of: image).isEmpty)
    }
}
