import Glibc
import HealCore

/// Where a detector gets the boot entry it examines: the root's default entry, or nil
/// when the root has no boot configuration to read.
public typealias BootEntrySource = @Sendable (SystemRoot) throws -> BootEntry?

public enum BootEntrySources {
    /// The entry the root's boot loader starts by default (`BootConfiguration.load`).
    public static let configured: BootEntrySource = { root in
        try BootConfiguration.load(root).defaultEntry
    }

    /// Always `entry` (tests, or a caller that already chose the entry).
    public static func fixed(_ entry: BootEntry?) -> BootEntrySource {
        { _ in entry }
    }
}

extension BootEntry {
    /// The kernel version the entry boots: `version`, else the part of the kernel's file
    /// name after `vmlinuz-` (or `vmlinux-`, `linux-`).
    public var kernelVersion: String? {
        if let version, !version.isEmpty { return version }
        guard let kernel, let name = kernel.split(separator: "/").last else { return nil }
        for prefix in ["vmlinuz-", "vmlinux-", "linux-"] where name.hasPrefix(prefix) {
            return String(name.dropFirst(prefix.count))
        }
        return nil
    }
}

/// Reports `initramfs-missing`, `initramfs-corrupt` and `initramfs-missing-driver` for the
/// default entry's initrd.
///
/// Needed drivers, checked against the modules inside the image:
/// - the root file system's module: the entry's `rootfstype=`, else the type of `/` in
///   the root's fstab, looked up as a module and as the `fs-TYPE` alias;
/// - the storage driver, where it can be known: from the root device's name (`root=` of
///   the entry, else fstab's source of `/`): `/dev/vd*` → virtio_blk, `/dev/xvd*` →
///   xen_blkfront, `/dev/nvme*` → nvme, `/dev/mmcblk*` → mmc_block, `/dev/sd*` → sd_mod;
///   and on the live root, every driver bound to the device holding `/` and its parents
///   in sysfs (`/sys/dev/block/MAJ:MIN`, each `driver/module` link). Offline roots may be
///   mounted from a loop device or a VM disk, so their sysfs says nothing about the
///   machine that boots them; `UUID=`/`LABEL=` roots offline give no storage driver.
///
/// Each module is resolved with the root's own libkmod index; built-in modules
/// (`modules.builtin`) need nothing, module files need themselves and their hard
/// dependencies (`modules.dep`). Soft dependencies are optional at load time and are
/// not required. When the index itself is unusable, `KernelModulesDetector` reports it
/// and this check is skipped.
public struct InitramfsDetector: Detector {
    public let name = "initramfs"
    public let classes: [FailureClass] = [.initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver]
    private let defaultEntry: BootEntrySource

    public init(defaultEntry: @escaping BootEntrySource = BootEntrySources.configured) {
        self.defaultEntry = defaultEntry
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        guard let entry = try defaultEntry(context.root) else { return [] }
        return try Self.findings(for: entry, root: context.root)
    }

    /// Checks the initrd of `entry` in `root`.
    /// - Throws: when libkmod cannot be loaded, so the drivers could not be checked.
    public static func findings(for entry: BootEntry, root: SystemRoot) throws(SharedLibrary.LoadError) -> [Finding] {
        let entryEvidence = Evidence(source: "\(entry.source):\(entry.line)", detail: "default entry \"\(entry.title)\"")
        guard let initrd = entry.initrd else {
            // grub-mkconfig leaves the initrd line out when no image existed for the kernel.
            guard generatorInstalled(in: root) else { return [] }
            return [Finding(.initramfsMissing, summary: "the default entry \"\(entry.title)\" loads no initramfs",
                            evidence: [entryEvidence, Evidence(source: entry.source, detail: "no initrd line")])]
        }

        let resolution = root.resolveWithin(initrd)
        guard case .resolved(let resolved, _) = resolution else {
            return [Finding(.initramfsMissing, summary: "initramfs \(initrd) does not exist",
                            evidence: [entryEvidence, Evidence(source: initrd, detail: "does not exist")])]
        }

        let image: Initramfs
        let listing: Initramfs.Listing
        do throws(Initramfs.Error) {
            image = try Initramfs(root: root, path: resolved)
            listing = try image.list()
        } catch {
            let detail = error.description
            switch error {
            case .missing, .empty:
                return [Finding(.initramfsMissing, summary: "initramfs \(initrd) is \(error.isEmpty ? "empty" : "missing")",
                                evidence: [entryEvidence, Evidence(source: initrd, detail: detail)])]
            case .unreadable, .corrupt, .noSuchEntry:
                return [Finding(.initramfsCorrupt, summary: "initramfs \(initrd) cannot be unpacked",
                                evidence: [entryEvidence, Evidence(source: initrd, detail: detail)])]
            }
        }

        guard let initEntry = listing.entry(at: "init"), initEntry.kind == .file || initEntry.kind == .symlink else {
            return [Finding(.initramfsCorrupt, summary: "initramfs \(initrd) has no /init",
                            evidence: [entryEvidence, Evidence(source: initrd,
                                detail: "\(listing.entries.count) entries in \(listing.segments.count) segment(s), no /init")])]
        }

        return try missingDrivers(entry: entry, initrd: initrd, listing: listing, root: root)
            .map { [$0] } ?? []
    }

    /// One module the boot needs, and why.
    struct Need {
        var module: String
        var reason: Evidence
    }

    /// - Throws: when libkmod cannot be loaded (the check cannot be made); an unusable
    ///   module index is `kernel-modules-missing`'s finding, not this one's.
    static func missingDrivers(entry: BootEntry, initrd: String, listing: Initramfs.Listing,
                               root: SystemRoot) throws(SharedLibrary.LoadError) -> Finding? {
        guard let version = entry.kernelVersion else { return nil }
        let modules: KernelModules
        do {
            modules = try KernelModules(root: root, version: version)
            try modules.loadIndex()
        } catch .libraryUnavailable(let failure) {
            throw failure
        } catch {
            return nil
        }
        let needs = neededModules(entry: entry, root: root)
        guard !needs.isEmpty else { return nil }

        // Module files in the image, relative to its lib/modules/VERSION (initramfs-tools
        // puts them under usr/lib on merged-/usr systems, dracut under lib).
        let marker = "lib/modules/\(version)/"
        var present: Set<String> = []
        for item in listing.entries {
            guard let range = item.path.firstRange(of: marker) else { continue }
            present.insert(String(item.path[range.upperBound...]))
        }

        var missing: [String] = []
        var evidence: [Evidence] = []
        var reasons: [Evidence] = []
        for need in needs {
            guard let found = try? modules.lookup(need.module), !found.isEmpty else { continue }
            var wanted: [KernelModule] = []
            for module in found {
                wanted += ((try? modules.dependencies(of: module)) ?? []) + [module]
            }
            var lacking: [KernelModule] = []
            for module in wanted {
                guard let path = module.relativePath, !present.contains(path),
                      !missing.contains(module.name) else { continue }
                lacking.append(module)
            }
            guard !lacking.isEmpty else { continue }
            reasons.append(need.reason)
            for module in lacking {
                missing.append(module.name)
                let role = found.contains(module) ? "needed for \(need.module)" : "dependency of \(need.module)"
                evidence.append(Evidence(source: initrd,
                    detail: "lacks \(marker)\(module.relativePath ?? module.name) (\(role))"))
            }
        }
        guard !missing.isEmpty else { return nil }
        return Finding(.initramfsMissingDriver,
                       summary: "initramfs \(initrd) lacks \(missing.joined(separator: ", "))",
                       evidence: reasons + evidence)
    }

    /// The modules the default entry needs in its initramfs to reach the root file system.
    static func neededModules(entry: BootEntry, root: SystemRoot) -> [Need] {
        let fstabRoot = (try? Fstab.load(root: root))?.entries.last { $0.target == "/" }
        var needs: [Need] = []

        if let type = entry.option("rootfstype") {
            needs.append(Need(module: type, reason: Evidence(source: entry.source, detail: "rootfstype=\(type)")))
        } else if let fstabRoot, fstabRoot.fstype != "auto" {
            needs.append(Need(module: fstabRoot.fstype,
                              reason: Evidence(source: "/etc/fstab:\(fstabRoot.line)", detail: "/ is \(fstabRoot.fstype)")))
        }

        let device = entry.option("root") ?? fstabRoot?.source
        if let device, let driver = storageDriver(forDeviceName: device) {
            needs.append(Need(module: driver, reason: Evidence(source: entry.option("root") != nil ? entry.source : "/etc/fstab",
                                                               detail: "root device \(device) needs \(driver)")))
        }
        if root.isLive {
            for driver in liveStorageDrivers(of: root) where !needs.contains(where: { $0.module == driver }) {
                needs.append(Need(module: driver, reason: Evidence(source: "/sys/dev/block", detail: "/ is on a device driven by \(driver)")))
            }
        }
        return needs
    }

    /// The driver a kernel device name implies (`/dev/vda2` → `virtio_blk`).
    public static func storageDriver(forDeviceName device: String) -> String? {
        guard device.hasPrefix("/dev/") else { return nil }
        let name = device.dropFirst(5)
        let table: [(prefix: String, driver: String)] = [
            ("vd", "virtio_blk"), ("xvd", "xen_blkfront"), ("nvme", "nvme"),
            ("mmcblk", "mmc_block"), ("sd", "sd_mod"),
        ]
        return table.first { name.hasPrefix($0.prefix) }?.driver
    }

    /// Modules bound to the device holding the live `/` and its parents in sysfs.
    static func liveStorageDrivers(of root: SystemRoot) -> [String] {
        guard let st = FileReading.status(atPath: root.path, followLinks: true) else { return [] }
        guard let resolved = realpath("/sys/dev/block/" + DeviceNumber.sysfsName(UInt64(st.st_dev)), nil) else { return [] }
        var path = String(cString: resolved)
        free(resolved)
        var drivers: [String] = []
        while path.hasPrefix("/sys/devices/") {
            if let module = FileReading.linkTarget(atPath: path + "/driver/module")?.split(separator: "/").last {
                let name = String(module)
                if !drivers.contains(name) { drivers.append(name) }
            }
            guard let slash = path.lastIndex(of: "/") else { break }
            path = String(path[..<slash])
        }
        return drivers
    }

    /// Whether the root can build initramfs images (initramfs-tools or dracut).
    static func generatorInstalled(in root: SystemRoot) -> Bool {
        ["/usr/sbin/update-initramfs", "/usr/sbin/mkinitramfs", "/usr/bin/dracut", "/usr/sbin/dracut"]
            .contains { root.files.statusIfPresent($0) != nil }
    }
}

extension Initramfs.Error {
    var isEmpty: Bool {
        if case .empty = self { return true }
        return false
    }
}
