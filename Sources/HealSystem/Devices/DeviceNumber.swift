import CLinux

/// A block device's number (`st_rdev`, `st_dev`) and its name under `/sys/dev/block`,
/// `MAJOR:MINOR`, through glibc's own dev_t macros (<sys/sysmacros.h>).
public enum DeviceNumber {
    /// `MAJOR:MINOR` of a device number.
    public static func sysfsName(_ number: UInt64) -> String {
        "\(gnu_dev_major(dev_t(number))):\(gnu_dev_minor(dev_t(number)))"
    }

    /// The device number a `MAJOR:MINOR` name stands for; nil for any other name.
    public static func parse(sysfsName name: String) -> UInt64? {
        let parts = name.split(separator: ":").compactMap { UInt32($0) }
        guard parts.count == 2 else { return nil }
        return UInt64(gnu_dev_makedev(parts[0], parts[1]))
    }
}
