import HealCore

/// Makes sure the boot loader's filesystem is there to be examined: a root is examined as
/// its booted system sees it, with the filesystems its fstab mounts for the boot in place.
///
/// When /etc/fstab mounts /boot from a filesystem of its own, the root's `/boot` is an
/// empty folder until that filesystem is mounted on it: grub.cfg, grubenv, the kernels and
/// their initramfs images are all on the other filesystem. Examined so, every boot-chain
/// detector would look at nothing and find nothing, and the root would be called healthy
/// unseen. The same holds for an EFI system partition (`/boot/efi`, `/efi`) when no boot
/// loader configuration is found anywhere else: systemd-boot's entries live there.
///
/// This detector reports no finding; it throws when such a filesystem is not mounted, so
/// the run says it could not look (`detect` exits 3), naming the fstab line and, when one
/// of the devices holds that filesystem, the device to mount. Lines with `noauto` are left
/// out (the booted system does not mount them either).
public struct BootFilesystemsDetector: Detector {
    public let name = "boot-filesystems"
    /// The classes whose detectors read the boot loader's filesystem: none of them can
    /// look while it is missing (a `--class` run of any of them runs this check too).
    public let classes: [FailureClass] = [
        .bootloaderDefaultInvalid, .bootloaderEnvCorrupt, .rootDeviceMismatch, .kernelModulesMissing,
        .initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver,
    ]

    public init() {}

    /// A boot filesystem fstab mounts that is not mounted under the root.
    public struct NotMounted: Swift.Error, CustomStringConvertible {
        /// The mount point, as the root sees it (`/boot`).
        public var mountPoint: String
        /// The fstab line's number, and its text with blanks folded.
        public var line: Int
        public var text: String
        /// The root's host path, for the message.
        public var root: String
        /// The device or image holding that filesystem, when one was found.
        public var device: String?

        public var description: String {
            let holder = device.map { " (found on \($0))" } ?? " (no device holding it was found)"
            let place = root == "/" ? mountPoint : root + mountPoint
            return "\(mountPoint) is a filesystem of its own (/etc/fstab line \(line): \(text))\(holder), not mounted at"
                + " \(place): the boot loader files, kernels and initramfs images on it cannot be examined;"
                + " mount it there (read-only is enough) and run again"
        }
    }

    /// Where the boot loader's files, the kernels and initramfs images are when /boot is a
    /// filesystem of its own.
    static let bootMountPoint = "/boot"
    /// Where an EFI system partition is mounted; it matters only when no loader
    /// configuration was found elsewhere (GRUB keeps grub.cfg on /boot or /).
    static let systemPartitionMountPoints = ["/boot/efi", "/efi"]

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let root = context.root
        guard let fstab = try? Fstab.load(root: root) else { return [] }
        let unmounted = fstab.unmountedMountPoints(in: root)
        if let (entry, target) = unmounted.first(where: { $0.mountPoint == Self.bootMountPoint }) {
            throw Self.notMounted(entry, target, context)
        }
        for (entry, target) in unmounted where Self.systemPartitionMountPoints.contains(target) {
            // An empty ESP mount point hides nothing the detectors read while grub.cfg or
            // BLS entries were found elsewhere.
            guard let configuration = try? BootConfiguration.load(root), case .none = configuration.loader else { continue }
            throw Self.notMounted(entry, target, context)
        }
        return []
    }

    static func notMounted(_ entry: Fstab.Entry, _ target: String, _ context: DetectionContext) -> NotMounted {
        let device = FstabDetector.resolve(entry.source, devices: BlockDevices(extraImages: context.extraDevices),
                                           root: context.root)
        let text = entry.text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        return NotMounted(mountPoint: target, line: entry.line, text: text, root: context.root.path, device: device?.path)
    }
}
