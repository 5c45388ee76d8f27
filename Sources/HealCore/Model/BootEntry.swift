/// One way the boot loader can start the system: a GRUB menu entry or a BLS entry.
public struct BootEntry: Sendable, Hashable, Codable {
    public enum Origin: String, Sendable, Hashable, Codable {
        /// A `menuentry` in grub.cfg.
        case grubMenu
        /// A Boot Loader Specification file under /boot/loader/entries.
        case loaderEntry
    }

    public var origin: Origin
    /// The menu title (`menuentry 'TITLE'`) or the BLS `title`.
    public var title: String
    /// `$menuentry_id_option 'ID'`, or the BLS file name without `.conf` and counters.
    public var id: String?
    /// Path of the kernel as the root sees it (`/boot/vmlinuz-…`), nil when the entry has none.
    public var kernel: String?
    /// Path of the first initrd as the root sees it, nil when the entry has none.
    public var initrd: String?
    /// The kernel command line of the entry (`root=UUID=… ro quiet`).
    public var options: [String]
    /// The kernel version the entry boots, when it can be told (from the kernel's file name
    /// or the BLS `version`).
    public var version: String?
    /// Where the entry was read: file and 1-based line.
    public var source: String
    public var line: Int

    public init(origin: Origin, title: String, id: String?, kernel: String?, initrd: String?,
                options: [String], version: String?, source: String, line: Int) {
        self.origin = origin
        self.title = title
        self.id = id
        self.kernel = kernel
        self.initrd = initrd
        self.options = options
        self.version = version
        self.source = source
        self.line = line
    }

    /// The value of `name=` on the command line (the last one wins, as in the kernel).
    public func option(_ name: String) -> String? {
        options.last { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }
}
