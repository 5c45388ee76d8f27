import Glibc
import HealCore

/// `kernel-panic` whose trace names a faulting module: keeps the module from loading
/// (docs/failure-catalogue.md) —
///
/// - `/etc/modprobe.d/clarity-heal-blacklist.conf`: `blacklist M` and `install M /bin/false`;
/// - `module_blacklist=M` on the kernel command line: in `GRUB_CMDLINE_LINUX` of
///   `/etc/default/grub` (kept by the next update-grub) and on the default entry's `linux`
///   line of grub.cfg (effective at the next boot without regenerating it);
/// - the default kernel's initramfs rebuilt, so its copy of modprobe.d has the blacklist;
/// - the crash's records listed in `HandledPanicRecords`, so the detector stops reporting
///   a crash whose cause is now kept out.
///
/// Refused when the module is one the root needs to boot (its file system or storage
/// driver, or a dependency of one): blacklisting it would trade a panic for no root.
public struct ModuleBlacklistStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "module-blacklist",
        title: "Blacklist the module that crashed the kernel",
        classes: [.kernelPanic],
        risk: 4,
        sideEffects: "the module (and the hardware or feature it drives) stays unavailable until a person removes the blacklist; the command line and the initramfs change",
        priorEffectiveness: 0.8,
        estimatedSeconds: 45)

    public init() {}

    /// The crashes of the finding that name a faulting module, with the archive read, and
    /// those a boot of the disk showed on its console (they have no record).
    func crashes(_ context: RepairContext) -> [KernelPanicDetector.Crash] {
        let withModule = Self.crashesWithModule(context)
        // The crash this finding reports, when it can be told apart; else every crash
        // that names a module.
        let matching = withModule.filter { KernelPanicDetector.finding(for: $0, notes: []).summary == context.finding.summary }
        return matching.isEmpty ? withModule : matching
    }

    /// Every crash read (pstore, a boot's console) that names a faulting module.
    static func crashesWithModule(_ context: RepairContext) -> [KernelPanicDetector.Crash] {
        let reading = KernelPanicDetector.read(PstoreArchive(root: context.root), logger: context.logger)
        let booted = context.bootCrashes.map { KernelPanicDetector.Crash(signature: $0, records: []) }
        return (reading.crashes + booted).filter { $0.signature.faultingModule != nil }
    }

    /// The crashes a blacklist of `modules` deals with: every one naming one of them. An
    /// Oops and the panic it led to are two records of one event (ramoops keeps both),
    /// and a record left unhandled would be detected again on the repaired root.
    static func crashes(naming modules: [String], _ context: RepairContext) -> [KernelPanicDetector.Crash] {
        crashesWithModule(context).filter { crash in
            crash.signature.faultingModule.map { modules.contains(ModuleBlacklistConfig.normalized($0)) } ?? false
        }
    }

    /// Modules the root needs to reach its root file system, with their dependencies.
    static func bootModules(_ root: SystemRoot, entry: BootEntry) -> Set<String> {
        guard let version = entry.kernelVersion, let kmod = try? KernelModules(root: root, version: version) else { return [] }
        var names: Set<String> = []
        for need in InitramfsDetector.neededModules(entry: entry, root: root) {
            for module in (try? kmod.lookup(need.module)) ?? [] {
                names.insert(ModuleBlacklistConfig.normalized(module.name))
                for dependency in (try? kmod.dependencies(of: module)) ?? [] {
                    names.insert(ModuleBlacklistConfig.normalized(dependency.name))
                }
            }
        }
        return names
    }

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        let found = crashes(context)
        guard !found.isEmpty else { return "no crash in pstore or on a boot's console names a faulting module" }
        if let entry = try? BootConfiguration.load(context.root).defaultEntry {
            let needed = Self.bootModules(context.root, entry: entry)
            let modules = found.compactMap(\.signature.faultingModule).map(ModuleBlacklistConfig.normalized)
            if let vital = modules.first(where: needed.contains) {
                return "\(vital) is needed to reach the root file system; blacklisting it would leave the machine without its root"
            }
        }
        return nil
    }

    /// The faulting modules of `found`, each once, in the order met.
    static func modules(_ found: [KernelPanicDetector.Crash]) -> [String] {
        var modules: [String] = []
        for name in found.compactMap(\.signature.faultingModule).map(ModuleBlacklistConfig.normalized) where !modules.contains(name) {
            modules.append(name)
        }
        return modules
    }

    /// `blacklist M` and `install M /bin/false` in the root's modprobe.d file, kept with
    /// what it lists already.
    static func modprobeOperation(_ modules: [String], root: SystemRoot) -> RepairOperation {
        let existing = try? root.files.text(ModuleBlacklistConfig.path)
        return .writeFile(path: ModuleBlacklistConfig.path,
                          contents: Array(ModuleBlacklistConfig.text(existing: existing, adding: modules).utf8),
                          mode: 0o644)
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let root = context.root
        func fail(_ reason: String) -> PlanError { PlanError(strategy: descriptor.id, reason: reason) }
        let found = crashes(context)
        let modules = Self.modules(found)
        guard !modules.isEmpty else { throw fail("no crash in pstore or on a boot's console names a faulting module") }

        var operations = [Self.modprobeOperation(modules, root: root)]

        let configuration = try? BootConfiguration.load(root)
        if root.files.statusIfPresent("/etc/default/grub") != nil {
            let text: String
            do { text = try root.files.text("/etc/default/grub") } catch { throw fail("\(error)") }
            let edited = KernelCommandLineEdit.adding(modules, toParameter: ModuleBlacklistConfig.parameter, defaultGrub: text)
            if edited != text {
                operations.append(.writeFile(path: "/etc/default/grub", contents: Array(edited.utf8),
                                             mode: InitramfsAddDriverStrategy.mode(of: "/etc/default/grub", in: root)))
            }
        }
        if let configuration, case .grub(let configPath) = configuration.loader, let entry = configuration.defaultEntry,
           entry.origin == .grubMenu {
            let text: String
            do { text = try root.files.text(configPath, limit: 16 << 20) } catch { throw fail("\(error)") }
            let edited: String
            do {
                edited = try KernelCommandLineEdit.adding(modules, toParameter: ModuleBlacklistConfig.parameter,
                                                         grubConfig: text, linuxLine: entry.line, source: configPath)
            } catch {
                throw fail("\(error)")
            }
            if edited != text {
                operations.append(.writeFile(path: configPath, contents: Array(edited.utf8),
                                             mode: InitramfsAddDriverStrategy.mode(of: configPath, in: root)))
            }
        }

        // The initramfs carries its own copy of modprobe.d: rebuild it when there is one.
        if case .success(let target) = InitramfsTarget.load(root), target.imageExists {
            operations.append(target.generator.build(version: target.version, exists: true))
        }

        if let mark = Self.handledOperation(Self.crashes(naming: modules, context), root: root, strategy: descriptor.id) {
            operations.append(mark)
        }
        return operations
    }

    /// Writes the records of `crashes` into `HandledPanicRecords`, keeping what the file
    /// lists already; nil when no record could be read.
    static func handledOperation(_ crashes: [KernelPanicDetector.Crash], root: SystemRoot, strategy: String) -> RepairOperation? {
        let handled = crashes.flatMap { crash in
            crash.records.compactMap { record -> HandledPanicRecords.Entry? in
                guard let digest = record.sha256 else { return nil }
                return HandledPanicRecords.Entry(sha256: digest, module: crash.signature.faultingModule,
                                                 written: KernelPanicDetector.utc(record.modified).replacing(" UTC", with: "Z").replacing(" ", with: "T"),
                                                 strategy: strategy, path: record.path)
            }
        }
        guard !handled.isEmpty else { return nil }
        let existing = try? root.files.text(HandledPanicRecords.path)
        return .writeFile(path: HandledPanicRecords.path,
                          contents: Array(HandledPanicRecords.text(existing: existing, adding: handled).utf8),
                          mode: 0o644)
    }
}

/// `kernel-panic`, the least change that can be enough: the module blacklisted in
/// `/etc/modprobe.d` alone — no command line change, no initramfs rebuild. Enough when the
/// module is loaded from the root filesystem (modules-load.d, udev); not when the
/// initramfs loads its own copy before the root is mounted. Only a boot tells the two
/// apart, so it is tried only where the environment boots what it validates (the
/// microVM); elsewhere `module-blacklist` does the whole job.
public struct ModuleBlacklistModprobeStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "module-blacklist-modprobe",
        title: "Blacklist the module that crashed the kernel in modprobe.d only",
        classes: [.kernelPanic],
        risk: 2,
        sideEffects: "the module stays unavailable once the root filesystem is mounted; a copy in the initramfs still loads",
        priorEffectiveness: 0.8,
        estimatedSeconds: 5)

    public init() {}

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        guard context.canBoot else {
            return "only a boot shows whether the initramfs still loads the module; without the microVM the whole blacklist is used"
        }
        return ModuleBlacklistStrategy().unmetPrecondition(context)
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let found = ModuleBlacklistStrategy().crashes(context)
        let modules = ModuleBlacklistStrategy.modules(found)
        guard !modules.isEmpty else {
            throw PlanError(strategy: descriptor.id, reason: "no crash in pstore or on a boot's console names a faulting module")
        }
        return [ModuleBlacklistStrategy.modprobeOperation(modules, root: context.root)]
            + [ModuleBlacklistStrategy.handledOperation(ModuleBlacklistStrategy.crashes(naming: modules, context),
                                                        root: context.root, strategy: descriptor.id)].compactMap { $0 }
    }
}
