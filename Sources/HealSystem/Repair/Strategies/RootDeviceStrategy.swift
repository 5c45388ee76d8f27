import Glibc
import HealCore

/// `root-device-mismatch`: `root=` is fixed where it is written — `GRUB_CMDLINE_LINUX[_DEFAULT]`
/// in /etc/default/grub (and grub.d/*.cfg), the kernel lines of grub.cfg (every entry with
/// the same bad value), BLS `options` lines, Fedora's `kernelopts` in grubenv — to
/// `UUID=` of the filesystem fstab mounts on `/`.
///
/// grub.cfg is edited in place rather than regenerated: `grub-mkconfig` starts with
/// `grub-probe --target=device /`, which in the sandbox finds an overlay mount and a /dev
/// without disks ("failed to get canonical path of `overlay'") and exits 1. The edit
/// changes only the `root=` words, so grub.cfg is what grub-mkconfig would write from the
/// fixed /etc/default/grub, and the next update-grub on the machine agrees with it.
struct RootDeviceCommandLineStrategy: PlanFirstStrategy {
    let descriptor = StrategyDescriptor(
        id: "root-device-fix-cmdline",
        title: "Point root= at the UUID of the root filesystem where it is written",
        classes: [.rootDeviceMismatch],
        risk: 2,
        sideEffects: "every boot entry with the same bad root= changes with the default one; grub.cfg is edited, not regenerated",
        priorEffectiveness: 0.85,
        estimatedSeconds: 10)

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let configuration: BootConfiguration
        do throws(BootConfiguration.Error) {
            configuration = try BootConfiguration.load(context.root)
        } catch {
            throw refuse("\(error)")
        }
        let devices = BlockDevices(extraImages: context.extraDevices)
        guard let rootSpec = RootDeviceDetector.fstabRootSource(context.root) else {
            throw refuse("/etc/fstab has no line for /: which filesystem is the root cannot be told")
        }
        let matches = BlockDevices.onceEach(devices.matches(rootSpec))
        guard matches.count == 1, let rootDevice = matches.first else {
            throw refuse(matches.isEmpty ? "the / line of /etc/fstab (\(rootSpec)) names no device either"
                         : "\(rootSpec) names \(matches.count) devices: \(matches.map(\.path).joined(separator: ", "))")
        }
        guard let uuid = rootDevice.info.uuid else { throw refuse("the root filesystem on \(rootDevice.path) has no UUID") }
        let good = "UUID=" + uuid

        // Every root= the boot could read that names nothing.
        var written = configuration.entries.compactMap { $0.option("root") }
        if let grub = configuration.defaultGrub {
            for name in ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"] {
                for word in (grub[name] ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }) where word.hasPrefix("root=") {
                    written.append(String(word.dropFirst(5)))
                }
            }
        }
        var bad: [String] = []
        for spec in written where !bad.contains(spec) && spec != good {
            guard spec.contains("=") || spec.hasPrefix("/dev/"), devices.resolve(spec) == nil else { continue }
            bad.append(spec)
        }
        guard !bad.isEmpty else { throw refuse("every root= written names an existing device") }

        var operations: [RepairOperation] = []
        func edit(_ path: String, _ transform: ([UInt8], String) -> BootConfigEdit.Result) {
            guard var bytes = try? context.root.files.read(path, limit: 16 << 20) else { return }
            let original = bytes
            for spec in bad { bytes = transform(bytes, spec).bytes }
            guard bytes != original else { return }
            operations.append(.writeFile(path: path, contents: bytes, mode: Self.mode(of: path, context.root)))
        }
        for path in ["/etc/default/grub"] + context.root.files.entriesIfPresent("/etc/default/grub.d")
            .filter({ $0.hasSuffix(".cfg") }).sorted().map({ "/etc/default/grub.d/" + $0 }) {
            edit(path) { BootConfigEdit.replacingKernelArgument("root", value: $1, with: good, inDefaultGrub: $0) }
        }
        if case .grub(let config) = configuration.loader {
            edit(config) { BootConfigEdit.replacingKernelArgument("root", value: $1, with: good, inGrubConfig: $0) }
        }
        for (directory, entry) in configuration.loaderEntries {
            edit(directory + "/entries/" + entry.fileName.description) {
                BootConfigEdit.replacingKernelArgument("root", value: $1, with: good, inLoaderEntry: $0)
            }
        }
        // Fedora's BLS entries say `options $kernelopts`, kept in grubenv.
        if let environment = configuration.grubEnvironment, var block = environment.block,
           let options = block["kernelopts"] {
            var fixed = options
            for spec in bad {
                fixed = String(decoding: BootConfigEdit.replacingKernelArgument(
                    "root", value: spec, with: good, inLoaderEntry: Array(("options " + fixed).utf8)).bytes.dropFirst(8), as: UTF8.self)
            }
            if fixed != options {
                block.set("kernelopts", fixed)
                if let bytes = try? block.serialized() {
                    operations.append(.writeFile(path: environment.path, contents: bytes, mode: Self.mode(of: environment.path, context.root)))
                }
            }
        }
        guard !operations.isEmpty else {
            throw refuse("root=\(bad.joined(separator: ", ")) is not written in /etc/default/grub, grub.cfg, BLS entries or grubenv")
        }
        return operations
    }

    static func mode(of path: String, _ root: SystemRoot) -> UInt32 {
        root.files.statusIfPresent(path, followLast: true).map { UInt32($0.st_mode & 0o7777) } ?? 0o644
    }
}
