import Foundation
import HealSystem
import Testing
import TestSupport

/// `LoopDevice` against real read-only loop devices, and against what `losetup` lists.
@Suite("LoopDevice against losetup")
struct LoopDeviceTests {
    let directory: TemporaryDirectory
    let image: String

    init() throws {
        directory = try TemporaryDirectory(prefix: "loop")
        image = try DeviceFixture.blankImage(directory, "disk.img", megabytes: 8)
    }

    /// `file` attached read-only, detached when the result is released.
    func attach(_ file: String, offset: UInt64 = 0, sizeLimit: UInt64 = 0) throws -> AttachedLoop {
        try AttachedLoop(image: file, readOnly: true, offset: offset, sizeLimit: sizeLimit)
    }

    @Test("a loop device's node and number name its backing file, as losetup lists it")
    func readsTheBackingFile() throws {
        let attached = try attach(image)
        let loop = try #require(LoopDevice(node: attached.path))
        #expect(loop.backingFile == image)
        #expect(loop.coversWholeFile)
        let listed = try DeviceFixture.run("losetup", ["--noheadings", "--output", "BACK-FILE,MAJ:MIN", attached.path])
            .split(whereSeparator: \.isWhitespace).map(String.init)
        #expect(listed == [image, loop.sysfsName])
        #expect(loop.backingFileSource == "/sys/dev/block/\(loop.sysfsName)/loop/backing_file")
        #expect(LoopDevice(number: loop.number) == loop)
    }

    @Test("an offset or a size limit shows part of the file")
    func partOfTheFile() throws {
        let offset = try attach(image, offset: 1 << 20)
        let limited = try attach(image, sizeLimit: 1 << 20)
        for attached in [offset, limited] {
            let loop = try #require(LoopDevice(node: attached.path))
            #expect(!loop.coversWholeFile, "\(attached.path)")
        }
    }

    @Test("the loop devices reading a file are found by inode, through another path to it")
    func devicesReadingAFile() throws {
        let link = directory.path + "/link.img"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: image)
        var attached = [try attach(image), try attach(image)]
        let expected = Set(try attached.map { try #require(LoopDevice(node: $0.path)).number })
        #expect(expected.count == 2)
        #expect(Set(LoopDevice.reading(link).map(\.number)) == expected)
        attached.removeAll()
        #expect(LoopDevice.reading(image).isEmpty, "detached devices read nothing")
    }

    @Test("no loop device: another file, a character device, a deleted backing file")
    func notALoopDevice() throws {
        #expect(LoopDevice(node: "/dev/null") == nil)
        #expect(LoopDevice(node: directory.path + "/missing") == nil)
        #expect(LoopDevice(node: image) == nil)
        let doomed = try DeviceFixture.blankImage(directory, "doomed.img", megabytes: 1)
        let attached = try attach(doomed)
        #expect(LoopDevice(node: attached.path) != nil)
        try FileManager.default.removeItem(atPath: doomed)
        #expect(LoopDevice(node: attached.path) == nil, "the kernel says \"(deleted)\": the device names nothing")
    }
}

/// Device numbers and their `MAJOR:MINOR` names, as `mountpoint -d` prints them.
@Suite("DeviceNumber against mountpoint -d")
struct DeviceNumberTests {
    @Test("the device of a mounted folder has the name mountpoint -d gives it", arguments: ["/", "/proc", "/sys"])
    func nameOfAMountedDevice(folder: String) throws {
        var st = stat()
        #expect(stat(folder, &st) == 0)
        let expected = try DeviceFixture.run("mountpoint", ["-d", folder]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(DeviceNumber.sysfsName(UInt64(st.st_dev)) == expected)
        #expect(DeviceNumber.parse(sysfsName: expected) == UInt64(st.st_dev))
    }

    @Test("numbers beyond the old 8-bit minor and 12-bit major round-trip; other names are not numbers")
    func roundTrip() {
        for name in ["7:3", "259:1048577", "4095:255", "4096:256"] {
            #expect(DeviceNumber.parse(sysfsName: name).map(DeviceNumber.sysfsName) == name)
        }
        for name in ["7", "loop0", "7:3:1", ":3", "7:x"] {
            #expect(DeviceNumber.parse(sysfsName: name) == nil, "\(name)")
        }
    }
}
