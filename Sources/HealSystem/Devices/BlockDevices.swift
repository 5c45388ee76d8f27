import CBlkid
import Glibc

/// A block device or image file of the inventory, with what libblkid read from it.
public struct ResolvedDevice: Sendable, Hashable {
    /// The device node (`/dev/vda2`) or image file, as given or found.
    public var path: String
    /// The probe's values; empty when the device carries no known signature.
    public var info: BlockInfo
    /// Why the probe gave no identity (an ambivalent device, an unreadable one), if it did not.
    public var problem: BlockProbe.Error?
    /// True for an image file or node given in `extraImages`, false for a device found on
    /// this machine.
    public var isExtra: Bool

    public init(path: String, info: BlockInfo, problem: BlockProbe.Error? = nil, isExtra: Bool) {
        self.path = path
        self.info = info
        self.problem = problem
        self.isExtra = isExtra
    }
}

/// The block devices the examined system can see: those present on this machine (from
/// sysfs) plus image files or device nodes that belong to it (the clone's disks, the test
/// root's image), each probed once with libblkid when the inventory is made.
///
/// `resolve(_:)` answers what the boot would: which device an fstab source or a `root=`
/// names.
public struct BlockDevices: Sendable {
    /// Every device, the machine's first (in sysfs order), then the extra images in the
    /// order given.
    public private(set) var devices: [ResolvedDevice]

    /// Probes the machine's block devices and `extraImages`.
    /// - Parameters:
    ///   - extraImages: image files or device nodes to probe directly; ones that cannot
    ///     be opened are kept with their `problem` so a caller can report them.
    ///   - scanningHost: false leaves the machine's own devices out (a test that needs an
    ///     inventory of exactly its images).
    ///   - sysBlockDirectory: where the kernel lists block devices.
    ///   - deviceDirectory: where their nodes are.
    public init(extraImages: [String] = [], scanningHost: Bool = true,
                sysBlockDirectory: String = "/sys/class/block", deviceDirectory: String = "/dev") {
        var devices: [ResolvedDevice] = []
        if scanningHost {
            for name in FileReading.directoryEntries(atPath: sysBlockDirectory) {
                // An empty device (an unattached loop, a zram without disksize) has nothing to
                // probe and opening some of them logs kernel errors.
                let size = (try? FileReading.text(atPath: sysBlockDirectory + "/" + name + "/size", limit: 64))
                    .flatMap { UInt64($0.trimmingWhitespace()) } ?? 0
                guard size > 0 else { continue }
                // sysfs spells a `/` in a device name as `!` (cciss!c0d0 is /dev/cciss/c0d0).
                let node = deviceDirectory + "/" + name.replacingAll("!", with: "/")
                guard FileReading.status(atPath: node, followLinks: true) != nil else { continue }
                devices.append(Self.probe(node, isExtra: false))
            }
        }
        for image in extraImages {
            devices.append(Self.probe(image, isExtra: true))
        }
        self.devices = devices
    }

    /// Makes an inventory of already probed devices (for callers that keep one).
    public init(devices: [ResolvedDevice]) {
        self.devices = devices
    }

    private static func probe(_ path: String, isExtra: Bool) -> ResolvedDevice {
        do throws(BlockProbe.Error) {
            let info = try BlockProbe.identify(path) ?? BlockInfo(values: [:])
            return ResolvedDevice(path: path, info: info, isExtra: isExtra)
        } catch {
            return ResolvedDevice(path: path, info: BlockInfo(values: [:]), problem: error, isExtra: isExtra)
        }
    }

    /// The device a mount source or `root=` names, as the boot would find it.
    ///
    /// Understands `UUID=`, `LABEL=`, `PARTUUID=`, `PARTLABEL=` (quoted or not, parsed with
    /// `blkid_parse_tag_string`), `ID=` (a /dev/disk/by-id link), `/dev/disk/by-{uuid,label,partuuid,partlabel}/…` (looked
    /// up by the tag they encode when udev made no link here) and plain paths of device
    /// nodes or image files.
    /// - Returns: the first match, the machine's devices before the extra images; nil when
    ///   nothing matches.
    public func resolve(_ spec: String) -> ResolvedDevice? {
        matches(spec).first
    }

    /// Every device `spec` names: more than one means duplicate UUIDs or labels.
    public func matches(_ spec: String) -> [ResolvedDevice] {
        // libmount also accepts ID=, the name of a /dev/disk/by-id link: no probe value
        // carries it, so only the link can answer.
        if spec.hasPrefix("ID="), let tag = Self.parseTag(spec), tag.name == "ID" {
            return tag.value.isEmpty || tag.value.contains("/") ? [] : matches("/dev/disk/by-id/" + tag.value)
        }
        if let tag = Self.tag(of: spec) {
            return devices.filter { $0.problem == nil && $0.info.values[tag.key] == tag.value }
        }
        guard spec.hasPrefix("/") else { return [] }
        let real = Self.canonicalPath(spec)
        let known = devices.filter { Self.canonicalPath($0.path) == real }
        if !known.isEmpty { return known }
        if let tag = Self.tag(ofUdevLink: spec) {
            let tagged = devices.filter { $0.problem == nil && $0.info.values[tag.key] == tag.value }
            if !tagged.isEmpty { return tagged }
        }
        // A node or image outside the inventory (a /dev/mapper name whose sysfs entry is
        // dm-N resolved above through realpath; anything else that exists is probed here).
        guard let st = FileReading.status(atPath: spec, followLinks: true) else { return [] }
        let format = st.st_mode & S_IFMT
        guard format == S_IFBLK || format == S_IFREG else { return [] }
        return [Self.probe(spec, isExtra: false)]
    }

    /// `matches` without the loop devices that show the whole of another match's image
    /// file: one filesystem, not a duplicate UUID (`repair --disk` mounts the disk through
    /// such a loop device and gives the disk as an extra image).
    public static func onceEach(_ matches: [ResolvedDevice]) -> [ResolvedDevice] {
        guard matches.count > 1 else { return matches }
        let images = matches.compactMap { FileReading.status(atPath: $0.path, followLinks: true) }
            .filter { ($0.st_mode & S_IFMT) == S_IFREG }
        guard !images.isEmpty else { return matches }
        return matches.filter { device in
            guard let loop = LoopDevice(node: device.path), loop.coversWholeFile,
                  let backing = FileReading.status(atPath: loop.backingFile, followLinks: true) else { return true }
            return !images.contains { $0.st_dev == backing.st_dev && $0.st_ino == backing.st_ino }
        }
    }

    /// Filesystems with the given label and/or type, for repairs that re-point a source.
    public func filesystems(label: String? = nil, type: String? = nil) -> [ResolvedDevice] {
        devices.filter { device in
            device.problem == nil && device.info.usage == "filesystem"
                && (label == nil || device.info.label == label)
                && (type == nil || device.info.type == type)
        }
    }

    /// The probe value a tag spec compares (`UUID`, `LABEL`, `PART_ENTRY_UUID`,
    /// `PART_ENTRY_NAME`) and the wanted value, or nil when `spec` is no supported tag.
    /// Quotes are removed as `blkid_parse_tag_string` removes them.
    public static func tag(of spec: String) -> (key: String, value: String)? {
        guard let tag = parseTag(spec), let key = probeKey(forTag: tag.name) else { return nil }
        return (key, tag.value)
    }

    /// `blkid_parse_tag_string`: NAME=value with quotes removed, any NAME.
    static func parseTag(_ spec: String) -> (name: String, value: String)? {
        var name: UnsafeMutablePointer<CChar>?
        var value: UnsafeMutablePointer<CChar>?
        defer { free(name); free(value) }
        guard blkid_parse_tag_string(spec, &name, &value) == 0, let name, let value else { return nil }
        return (String(cString: name), String(cString: value))
    }

    private static func probeKey(forTag name: String) -> String? {
        switch name {
        case "UUID": "UUID"
        case "LABEL": "LABEL"
        case "PARTUUID": "PART_ENTRY_UUID"
        case "PARTLABEL": "PART_ENTRY_NAME"
        default: nil
        }
    }

    /// The tag a udev link under /dev/disk encodes (`/dev/disk/by-label/my\x20disk` is
    /// LABEL=my disk), so a source can be judged where udev does not run.
    static func tag(ofUdevLink path: String) -> (key: String, value: String)? {
        let kinds = ["by-uuid/": "UUID", "by-label/": "LABEL", "by-partuuid/": "PART_ENTRY_UUID",
                     "by-partlabel/": "PART_ENTRY_NAME"]
        guard path.hasPrefix("/dev/disk/") else { return nil }
        let rest = path.dropFirst("/dev/disk/".count)
        for (prefix, key) in kinds where rest.hasPrefix(prefix) {
            let encoded = rest.dropFirst(prefix.count)
            guard !encoded.isEmpty, !encoded.contains("/") else { return nil }
            return (key, unescapeUdev(String(encoded)))
        }
        return nil
    }

    /// Undoes udev's `\xHH` escaping of link names (blkid_encode_string).
    static func unescapeUdev(_ text: String) -> String {
        var bytes: [UInt8] = []
        let source = Array(text.utf8)
        var i = 0
        while i < source.count {
            if source[i] == UInt8(ascii: "\\"), i + 3 < source.count, source[i + 1] == UInt8(ascii: "x"),
               let byte = UInt8(String(decoding: source[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                bytes.append(byte)
                i += 4
            } else {
                bytes.append(source[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// realpath(3), or the path itself when it does not exist.
    static func canonicalPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let scalars = unicodeScalars.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        var result = String(String.UnicodeScalarView(scalars))
        while let last = result.unicodeScalars.last, last == " " || last == "\n" || last == "\t" || last == "\r" {
            result.unicodeScalars.removeLast()
        }
        return result
    }

    fileprivate func replacingAll(_ character: Character, with replacement: String) -> String {
        split(separator: character, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
