import Glibc

/// A loop device and the file it reads, as the kernel lists it by device number:
///
/// ```
///  /sys/dev/block/7:3/loop/
///  ├── backing_file   "/srv/disk.img\n" ("… (deleted)" once unlinked)
///  ├── offset         "0\n"   bytes into the file where the device starts
///  └── sizelimit      "0\n"   0: up to the end of the file
/// ```
///
/// The filesystem-errors detector and strategy name a filesystem by the image a loop device
/// reads; apply and the detector must see a mount of an image through any loop device.
public struct LoopDevice: Equatable, Sendable {
    /// Its device number (`st_rdev`).
    public var number: UInt64
    /// The file it reads, as the path given when it was attached.
    public var backingFile: String
    /// Whether it shows the whole file: no offset and no size limit.
    public var coversWholeFile: Bool

    static let sysDevBlock = "/sys/dev/block"

    /// Its name under `/sys/dev/block`: `MAJOR:MINOR`.
    public var sysfsName: String { DeviceNumber.sysfsName(number) }

    /// Where the kernel says which file this device reads.
    public var backingFileSource: String { "\(Self.sysDevBlock)/\(sysfsName)/loop/backing_file" }

    /// The loop device with this number; nil for any other block device, and for a loop
    /// device whose file is gone (deleted, or no longer at its path), which names nothing.
    public init?(number: UInt64) {
        let folder = "\(Self.sysDevBlock)/\(DeviceNumber.sysfsName(number))/loop"
        func value(_ attribute: String) -> String? {
            (try? FileReading.text(atPath: folder + "/" + attribute, limit: 4096)).map { String($0.prefix { $0 != "\n" }) }
        }
        guard let backing = value("backing_file"), !backing.hasSuffix(" (deleted)"),
              FileReading.status(atPath: backing, followLinks: true) != nil else { return nil }
        self.number = number
        self.backingFile = backing
        coversWholeFile = value("offset") == "0" && value("sizelimit") == "0"
    }

    /// The loop device at a device node; nil when `path` is not one (see `init(number:)`).
    public init?(node path: String) {
        guard let st = FileReading.status(atPath: path, followLinks: true),
              (st.st_mode & S_IFMT) == S_IFBLK else { return nil }
        self.init(number: UInt64(st.st_rdev))
    }

    /// Every loop device that reads the file at `path`: the same inode, whatever path
    /// spelled it when the device was attached.
    public static func reading(_ path: String) -> [LoopDevice] {
        guard let file = FileReading.status(atPath: path, followLinks: true),
              (file.st_mode & S_IFMT) == S_IFREG else { return [] }
        return FileReading.directoryEntries(atPath: sysDevBlock).compactMap { name -> LoopDevice? in
            guard let number = DeviceNumber.parse(sysfsName: name),
                  let loop = LoopDevice(number: number),
                  let other = FileReading.status(atPath: loop.backingFile, followLinks: true),
                  other.st_dev == file.st_dev, other.st_ino == file.st_ino else { return nil }
            return loop
        }
    }
}
