import Glibc
import HealCore

/// The initramfs generator a root uses, and the command that (re)builds one kernel's image
/// inside the clone.
public enum InitramfsGenerator: Equatable, Sendable {
    /// Debian's initramfs-tools: `/boot/initrd.img-VER`, `update-initramfs`.
    case initramfsTools
    /// dracut: `/boot/initramfs-VER.img`.
    case dracut

    public static func installed(in root: SystemRoot) -> InitramfsGenerator? {
        if root.files.statusIfPresent("/usr/sbin/update-initramfs", followLast: true) != nil { return .initramfsTools }
        if ["/usr/bin/dracut", "/usr/sbin/dracut"].contains(where: { root.files.statusIfPresent($0, followLast: true) != nil }) {
            return .dracut
        }
        return nil
    }

    func imagePath(version: String) -> String {
        switch self {
        case .initramfsTools: "/boot/initrd.img-\(version)"
        case .dracut: "/boot/initramfs-\(version).img"
        }
    }

    /// Builds the image of `version`: `update-initramfs -c` when there is none yet, `-u`
    /// over an existing one (update-initramfs refuses `-u` without an image, and `-c` keeps
    /// nothing of a damaged one anyway); `dracut --force` for dracut.
    ///
    /// Declared changes: the image, the `.bak` update-initramfs keeps when
    /// `backup_initramfs=yes`, and its checksum state file.
    func build(version: String, exists: Bool) -> RepairOperation {
        let image = imagePath(version: version)
        switch self {
        case .initramfsTools:
            return .runTool(arguments: ["update-initramfs", exists ? "-u" : "-c", "-k", version],
                            mayChange: [image, image + ".bak", "/var/lib/initramfs-tools/\(version)"])
        case .dracut:
            return .runTool(arguments: ["dracut", "--force", image, version], mayChange: [image])
        }
    }
}

/// What every initramfs strategy needs to know about the default entry.
struct InitramfsTarget {
    var entry: BootEntry
    var version: String
    var generator: InitramfsGenerator
    var image: String
    var imageExists: Bool

    /// The default entry's kernel, generator and image; the reason when it cannot be rebuilt.
    static func load(_ root: SystemRoot) -> Result<InitramfsTarget, PlanErrorReason> {
        let entry: BootEntry
        do {
            guard let found = try BootConfiguration.load(root).defaultEntry else {
                return .failure(PlanErrorReason("the boot configuration has no default entry"))
            }
            entry = found
        } catch {
            return .failure(PlanErrorReason("cannot read the boot configuration: \(error)"))
        }
        guard let version = entry.kernelVersion else {
            return .failure(PlanErrorReason("the default entry \"\(entry.title)\" names no kernel version"))
        }
        guard let generator = InitramfsGenerator.installed(in: root) else {
            return .failure(PlanErrorReason("neither initramfs-tools nor dracut is installed"))
        }
        let image = generator.imagePath(version: version)
        if let initrd = entry.initrd, root.canonical(initrd) != root.canonical(image) {
            return .failure(PlanErrorReason("the default entry loads \(initrd), not \(image) that the generator writes"))
        }
        // mkinitramfs and dracut copy modules through the index: it must load first.
        do throws(KernelModules.Error) {
            try KernelModules(root: root, version: version).loadIndex()
        } catch {
            return .failure(PlanErrorReason("the module index of \(version) is unusable (repair kernel-modules-missing first): \(error)"))
        }
        let exists = root.files.statusIfPresent(image) != nil
        return .success(InitramfsTarget(entry: entry, version: version, generator: generator, image: image, imageExists: exists))
    }
}

/// A reason a strategy cannot run, as a value (`Result` needs an `Error`).
struct PlanErrorReason: Error {
    var text: String
    init(_ text: String) { self.text = text }
}

/// `initramfs-missing` / `initramfs-corrupt`: rebuilds the default kernel's image with the
/// root's own generator, chrooted in the clone.
public struct InitramfsRegenerateStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "initramfs-regenerate",
        title: "Rebuild the default kernel's initramfs with the root's generator",
        classes: [.initramfsMissing, .initramfsCorrupt],
        risk: 2,
        sideEffects: "replaces the image with one built from the root's current configuration, hooks and modules (changes made since the old image was built come in too)",
        priorEffectiveness: 0.9,
        estimatedSeconds: 40)

    public init() {}

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        switch InitramfsTarget.load(context.root) {
        case .failure(let reason): return reason.text
        case .success(let target):
            // grub-mkconfig leaves the initrd line out when no image existed: building one
            // does not make the entry load it; the boot configuration must be regenerated.
            return target.entry.initrd == nil
                ? "the default entry \"\(target.entry.title)\" loads no initramfs; an image would not be used until the boot configuration is regenerated"
                : nil
        }
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let target = try InitramfsTarget.load(context.root).mapError { PlanError(strategy: descriptor.id, reason: $0.text) }.get()
        return [target.generator.build(version: target.version, exists: target.imageExists)]
    }
}

/// `initramfs-missing-driver`: forces the modules the root needs into the image
/// (initramfs-tools' `modules` file, a dracut `add_drivers` drop-in) and rebuilds it. The
/// modules are recomputed from the clone as the detector does: the root file system's
/// module and the storage driver the root device's name implies, resolved with libkmod;
/// built-in ones need nothing.
public struct InitramfsAddDriverStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "initramfs-add-driver",
        title: "Force the root's missing drivers into the initramfs and rebuild it",
        classes: [.initramfsMissingDriver],
        risk: 2,
        sideEffects: "adds module names to the generator's configuration (every later image includes them) and rebuilds the default kernel's image",
        priorEffectiveness: 0.85,
        estimatedSeconds: 45)

    public init() {}

    func modules(_ target: InitramfsTarget, root: SystemRoot) -> [String] {
        guard let kmod = try? KernelModules(root: root, version: target.version) else { return [] }
        var names: [String] = []
        for need in InitramfsDetector.neededModules(entry: target.entry, root: root) {
            for module in (try? kmod.lookup(need.module)) ?? [] where !module.isBuiltin && !names.contains(module.name) {
                names.append(module.name)
            }
        }
        return names
    }

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        switch InitramfsTarget.load(context.root) {
        case .failure(let reason): return reason.text
        case .success(let target):
            return modules(target, root: context.root).isEmpty ? "the root needs no loadable module in its initramfs" : nil
        }
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let target = try InitramfsTarget.load(context.root).mapError { PlanError(strategy: descriptor.id, reason: $0.text) }.get()
        let names = modules(target, root: context.root)
        guard !names.isEmpty else { throw PlanError(strategy: descriptor.id, reason: "the root needs no loadable module in its initramfs") }
        let configuration: RepairOperation
        switch target.generator {
        case .initramfsTools:
            let path = InitramfsModuleLists.initramfsToolsPath
            let text = (try? context.root.files.text(path)) ?? ""
            configuration = .writeFile(path: path, contents: Array(InitramfsModuleLists.initramfsTools(text, adding: names).utf8),
                                       mode: Self.mode(of: path, in: context.root))
        case .dracut:
            let path = InitramfsModuleLists.dracutPath
            let text = try? context.root.files.text(path)
            configuration = .writeFile(path: path, contents: Array(InitramfsModuleLists.dracut(text, adding: names).utf8), mode: 0o644)
        }
        return [configuration, target.generator.build(version: target.version, exists: target.imageExists)]
    }

    /// The permission bits of an existing file, 0644 for a new one.
    static func mode(of path: String, in root: SystemRoot) -> UInt32 {
        root.files.statusIfPresent(path, followLast: true).map { UInt32($0.st_mode) & 0o7777 } ?? 0o644
    }
}

/// `kernel-modules-missing`: rebuilds the module index of the default kernel with the
/// root's `depmod`, when its modules are there.
public struct ModuleIndexRebuildStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "module-index-rebuild",
        title: "Rebuild the default kernel's module index with depmod",
        classes: [.kernelModulesMissing],
        risk: 1,
        sideEffects: "rewrites only the modules.* index files of that kernel",
        priorEffectiveness: 0.9,
        estimatedSeconds: 5)

    /// What depmod (kmod 30) writes into /lib/modules/VER.
    static let indexFiles = ["modules.dep", "modules.dep.bin", "modules.alias", "modules.alias.bin",
                             "modules.softdep", "modules.symbols", "modules.symbols.bin", "modules.builtin.bin",
                             "modules.builtin.alias.bin", "modules.devname", "modules.weakdep"]

    public init() {}

    func version(_ root: SystemRoot) -> Result<String, PlanErrorReason> {
        guard let entry = try? BootConfiguration.load(root).defaultEntry, let version = entry.kernelVersion else {
            return .failure(PlanErrorReason("no default entry with a kernel version"))
        }
        let directory = "/lib/modules/\(version)"
        guard root.files.statusIfPresent(directory + "/kernel", followLast: true) != nil else {
            return .failure(PlanErrorReason("\(directory)/kernel does not exist: the modules themselves are gone, depmod cannot help"))
        }
        guard root.files.statusIfPresent(directory + "/modules.order", followLast: true) != nil
            || root.files.statusIfPresent(directory + "/modules.builtin", followLast: true) != nil else {
            return .failure(PlanErrorReason("\(directory) has neither modules.order nor modules.builtin from the kernel package"))
        }
        guard root.files.statusIfPresent("/usr/sbin/depmod", followLast: true) != nil
            || root.files.statusIfPresent("/sbin/depmod", followLast: true) != nil else {
            return .failure(PlanErrorReason("the root has no depmod"))
        }
        return .success(version)
    }

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        if case .failure(let reason) = version(context.root) { return reason.text }
        return nil
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let version = try version(context.root).mapError { PlanError(strategy: descriptor.id, reason: $0.text) }.get()
        return [.runTool(arguments: ["depmod", version],
                         mayChange: Self.indexFiles.map { "/lib/modules/\(version)/\($0)" })]
    }
}
