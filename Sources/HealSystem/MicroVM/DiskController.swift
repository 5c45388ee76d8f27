import HealCore

/// The disk controller a guest gets: one the root's own initramfs has drivers for.
///
/// The initramfs was built for the real machine; with initramfs-tools' `MODULES=dep` or
/// dracut's host-only mode it carries only the drivers of that machine's controller. The
/// guest's controller is chosen from what the initramfs (or the kernel itself) can drive,
/// in this order of preference: virtio-blk, AHCI (SATA), NVMe.
public enum DiskController: String, Sendable, Hashable, Codable, CaseIterable {
    case virtio, ahci, nvme

    /// The modules that must be present (in the initramfs or built in) for the guest to
    /// see its disk on this controller.
    var modules: [String] {
        switch self {
        case .virtio: ["virtio_pci", "virtio_blk"]
        case .ahci: ["ahci", "libahci", "sd_mod"]
        case .nvme: ["nvme", "nvme_core"]
        }
    }

    /// QEMU's options attaching drive `drive` on this controller.
    func devices(drive: String) -> [String] {
        switch self {
        case .virtio: ["-device", "virtio-blk-pci,drive=\(drive)"]
        case .ahci: ["-device", "ahci,id=ahci", "-device", "ide-hd,drive=\(drive),bus=ahci.0"]
        case .nvme: ["-device", "nvme,serial=clarity-heal,drive=\(drive)"]
        }
    }

    /// The first controller whose modules are all available.
    /// - Parameters:
    ///   - initramfs: the paths in the initramfs (`usr/lib/modules/V/kernel/…/virtio_blk.ko.xz`).
    ///   - builtin: the kernel's `modules.builtin` (`kernel/drivers/block/virtio_blk.ko`).
    public static func choose(initramfs: [String], builtin: String) -> DiskController? {
        var available = Set<String>()
        for path in initramfs where path.contains("/modules/") {
            available.insert(moduleName(path))
        }
        for line in builtin.split(separator: "\n") {
            available.insert(moduleName(String(line)))
        }
        return allCases.first { $0.modules.allSatisfy(available.contains) }
    }

    /// `…/virtio_blk.ko.xz` → `virtio_blk` (a dash and an underscore are the same to kmod).
    static func moduleName(_ path: String) -> String {
        var name = Substring(path.split(separator: "/").last ?? "")
        for suffix in [".xz", ".zst", ".gz"] where name.hasSuffix(suffix) { name = name.dropLast(suffix.count) }
        guard name.hasSuffix(".ko") else { return "" }
        return name.dropLast(3).replacingDashes
    }
}

extension Substring {
    fileprivate var replacingDashes: String { String(map { $0 == "-" ? "_" : $0 }) }
}
