import Glibc
import HealCore

/// Makes the newest other installed kernel whose boot chain is intact (its kernel file,
/// an initrd readable with `/init` and the root's drivers, a loadable module index) the
/// GRUB default, leaving the broken kernel installed for a person to look at (the fallback
/// of `initramfs-*`, `kernel-modules-missing` and `kernel-panic`, docs/failure-catalogue.md).
///
/// GRUB's default is set where 00_header reads it: the literal `set default="…"` line of
/// grub.cfg and `GRUB_DEFAULT` in `/etc/default/grub` (kept by the next update-grub), or
/// `saved_entry` in grubenv (through the root's `grub-editenv`) when GRUB_DEFAULT=saved.
/// The entry is named by its ids (`submenu-id>entry-id`), which survive a regeneration
/// that adds or removes kernels. Recovery-mode entries are never chosen. For a kernel
/// panic the crash's records are marked handled (`HandledPanicRecords`): the crashing
/// kernel no longer boots.
public struct LastGoodKernelStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "default-last-good-kernel",
        title: "Make the newest other kernel with an intact boot chain the default",
        classes: [.initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver, .kernelModulesMissing, .kernelPanic],
        risk: 4,
        sideEffects: "the machine boots an older kernel: fixes and drivers of the broken one are missing until it is repaired; the broken kernel stays installed",
        priorEffectiveness: 0.7,
        estimatedSeconds: 10)

    public init() {}

    struct Choice {
        var configuration: BootConfiguration
        var configPath: String
        var grubConfig: GrubConfig
        var index: Int
        var entry: BootEntry
        var version: String
    }

    func choose(_ root: SystemRoot) -> Result<Choice, PlanErrorReason> {
        let configuration: BootConfiguration
        do {
            configuration = try BootConfiguration.load(root)
        } catch {
            return .failure(PlanErrorReason("cannot read the boot configuration: \(error)"))
        }
        guard case .grub(let configPath) = configuration.loader, let grubConfig = configuration.grubConfig else {
            return .failure(PlanErrorReason("the root does not boot through a grub.cfg"))
        }
        let current = configuration.defaultEntry?.kernelVersion
        var candidates: [(index: Int, entry: BootEntry, version: String)] = []
        for (index, entry) in configuration.entries.enumerated() {
            guard let version = entry.kernelVersion, version != current, let kernel = entry.kernel,
                  entry.origin == .grubMenu, !Self.isRecovery(entry),
                  let st = root.files.statusIfPresent(kernel, followLast: true), (st.st_mode & S_IFMT) == S_IFREG,
                  (try? InitramfsDetector.findings(for: entry, root: root))?.isEmpty == true,
                  (try? KernelModulesDetector.findings(for: entry, root: root))?.isEmpty == true
            else { continue }
            candidates.append((index, entry, version))
        }
        guard let best = candidates.max(by: { GrubConfig.compareVersions($0.version, $1.version) < 0 }) else {
            let installed = KernelInventory.scan(root).map(\.version)
            return .failure(PlanErrorReason("no other kernel with an intact boot chain has a menu entry (installed: \(installed.joined(separator: ", ")))"))
        }
        return .success(Choice(configuration: configuration, configPath: configPath, grubConfig: grubConfig,
                               index: best.index, entry: best.entry, version: best.version))
    }

    static func isRecovery(_ entry: BootEntry) -> Bool {
        entry.options.contains("single") || entry.options.contains("recovery") || entry.title.hasSuffix("(recovery mode)")
    }

    /// The GRUB name of entry `index`: its ids (or titles) through the submenus, `>`
    /// between levels, a literal `>` doubled.
    static func grubName(of index: Int, in choice: Choice) -> String {
        let path = choice.configuration.menuPaths[index]
        return (1...path.count).map { depth -> String in
            let item = choice.configuration.menu.item(at: Array(path.prefix(depth)))
            return (item.id ?? item.title).replacing(">", with: ">>")
        }.joined(separator: ">")
    }

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        if case .failure(let reason) = choose(context.root) { return reason.text }
        return nil
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let root = context.root
        func fail(_ reason: String) -> PlanError { PlanError(strategy: descriptor.id, reason: reason) }
        let choice = try choose(root).mapError { fail($0.text) }.get()
        let name = Self.grubName(of: choice.index, in: choice)
        guard let assignment = choice.grubConfig.assignments.last(where: { a in
            a.name == "default" && !a.value.parts.contains(.variable("next_entry")) && a.conditions.allSatisfy(\.negated)
        }) else {
            throw fail("\(choice.configPath) has no unconditional `set default=` to change")
        }

        var operations: [RepairOperation] = []
        if assignment.value.parts.contains(.variable("saved_entry")) {
            let environment = "/" + choice.configPath.split(separator: "/").dropLast().joined(separator: "/") + "/grubenv"
            operations.append(.runTool(arguments: ["grub-editenv", environment, "set", "saved_entry=\(name)"],
                                       mayChange: [environment]))
        } else {
            let text: String
            do { text = try root.files.text(choice.configPath, limit: 16 << 20) } catch { throw fail("\(error)") }
            let edited: String
            do { edited = try GrubDefaultEdit.settingDefault(name, grubConfig: text, line: assignment.line) } catch { throw fail("\(error)") }
            operations.append(.writeFile(path: choice.configPath, contents: Array(edited.utf8),
                                         mode: InitramfsAddDriverStrategy.mode(of: choice.configPath, in: root)))
            if let grubDefaults = try? root.files.text("/etc/default/grub") {
                operations.append(.writeFile(path: "/etc/default/grub",
                                             contents: Array(GrubDefaultEdit.settingDefault(name, defaultGrub: grubDefaults).utf8),
                                             mode: InitramfsAddDriverStrategy.mode(of: "/etc/default/grub", in: root)))
            }
        }
        if context.finding.failureClass == .kernelPanic {
            let crashes = KernelPanicDetector.read(PstoreArchive(root: root), logger: context.logger).crashes
                .filter { $0.signature.kernelVersion != choice.version }
            if let mark = ModuleBlacklistStrategy.handledOperation(crashes, root: root, strategy: descriptor.id) {
                operations.append(mark)
            }
        }
        return operations
    }
}
