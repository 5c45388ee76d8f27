import Glibc
import HealCore

extension StrategyCatalogue {
    /// The strategies of `boot-failures`.
    public static var bootFailures: [any RepairStrategy] {
        [BootFallbackStrategy()]
    }
}

/// `boot-failures` by itself: the boot counters say the default entry keeps failing, so the
/// default is pointed at the entry that last booted (`BootFallback` says how that entry is
/// found and explains the choice) and the counters are restarted, so the next boot is
/// counted afresh instead of being reported failed again.
///
/// - The default is set where GRUB reads it: grubenv `saved_entry` when grub.cfg reads
///   `${saved_entry}` (GRUB_DEFAULT=saved), otherwise the literal `set default=` of grub.cfg
///   and `GRUB_DEFAULT` in /etc/default/grub, so the next update-grub keeps the fallback
///   until a person or a later repair changes it. A pending `next_entry` is dropped: it
///   would override the fallback for one more boot.
/// - The counters: `clarity_heal_attempts=0`; Fedora's spent `boot_counter=-1` (with
///   `boot_success=0`) is unset, ending that counting round; BLS entries whose counter
///   shows failed tries are renamed with the counter restarted (`+0-3` → `+3`).
///
/// grubenv is rewritten as a whole 1024-byte block (`GrubEnvBlock`), never edited in place.
/// Only GRUB roots are handled; a systemd-boot root (loader.conf) is refused.
public struct BootFallbackStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "boot-fallback-last-booted",
        title: "Make the entry that last booted the default and restart the boot counters",
        classes: [.bootFailures],
        risk: 3,
        sideEffects: "the machine boots another entry (often an older kernel) until a person changes the default; the failed-boot counters restart at zero",
        priorEffectiveness: 0.6,
        estimatedSeconds: 5)

    public init() {}

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        do {
            _ = try decide(context)
            return nil
        } catch {
            return error.reason
        }
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        try decide(context)
    }

    func refuse(_ reason: String) -> PlanError {
        PlanError(strategy: descriptor.id, reason: reason)
    }

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let root = context.root
        let configuration: BootConfiguration
        do throws(BootConfiguration.Error) {
            configuration = try BootConfiguration.load(root)
        } catch {
            throw refuse("cannot read the boot configuration: \(error)")
        }
        guard case .grub(let configPath) = configuration.loader, let grubConfig = configuration.grubConfig else {
            throw refuse("only GRUB's default is handled; this root boots with \(configuration.loader)")
        }

        // The failing entry is the one the default boots (GRUB boots the first when the
        // default names nothing).
        let failing = configuration.defaultChoice.entryIndex ?? configuration.entryIndex(named: "")
        let failingKernel = failing.flatMap { configuration.entries[$0].kernel }
        let candidates = configuration.entries.enumerated().map { index, entry in
            BootFallback.Candidate(
                index: index, title: entry.title, version: entry.version,
                assessment: entry.origin == .loaderEntry
                    ? configuration.loaderEntries.first { $0.entry.fileName.id == entry.id }?.entry.fileName.assessment
                    : nil,
                intact: Self.chainIntact(entry, root),
                isRecovery: LastGoodKernelStrategy.isRecovery(entry),
                sameKernelAsFailing: index != failing && failingKernel != nil && entry.kernel == failingKernel)
        }
        let defaults = configuration.defaultGrub
        let savesDefault = defaults?["GRUB_DEFAULT"] == "saved" && defaults?["GRUB_SAVEDEFAULT"] == "true"
        let savedEntry = savesDefault
            ? configuration.grubEnvironment?.variables["saved_entry"].flatMap(configuration.entryIndex(named:))
            : nil
        guard let choice = BootFallback.choose(candidates, failing: failing, savedEntry: savedEntry) else {
            let installed = KernelInventory.scan(root).map(\.version)
            throw refuse("no other entry has an intact kernel chain to fall back to (installed: \(installed.joined(separator: ", ")))")
        }
        // Named by ids through the submenus (`gnulinux-advanced-…>gnulinux-…`), which survive
        // a regeneration that adds or removes kernels; a numeric path would not.
        let entry = configuration.entries[choice.index]
        let name = LastGoodKernelStrategy.grubName(of: choice.index, in: LastGoodKernelStrategy.Choice(
            configuration: configuration, configPath: configPath, grubConfig: grubConfig,
            index: choice.index, entry: entry, version: entry.version ?? ""))
        context.logger.info("boot fallback", metadata: [
            "entry": "\(entry.title)", "value": "\(name)",
            "source": "\(choice.source.rawValue)", "reason": "\(choice.reason)",
        ])

        var operations: [RepairOperation] = []
        guard let assignment = grubConfig.assignments.last(where: { a in
            a.name == "default" && !a.value.parts.contains(.variable("next_entry")) && a.conditions.allSatisfy(\.negated)
        }) else {
            throw refuse("\(configPath) has no unconditional `set default=` to change")
        }
        let readsSaved = assignment.value.parts.contains(.variable("saved_entry"))

        // grubenv: the counters, saved_entry, next_entry — one whole-block write.
        let environmentPath = configuration.grubEnvironment?.path ?? BootDefaultRepointStrategy.directory(of: configPath) + "/grubenv"
        var block: GrubEnvBlock
        if let environment = configuration.grubEnvironment {
            guard let parsed = environment.block else {
                throw refuse("\(environment.path) is corrupt: it is bootloader-env-corrupt's to rewrite first")
            }
            block = parsed
        } else {
            block = GrubEnvBlock()
        }
        let original = block
        if block[BootFailuresDetector.attemptsVariable] != nil { block.set(BootFailuresDetector.attemptsVariable, "0") }
        if block["boot_success"] == "0", block["boot_counter"] == "-1" { block.unset("boot_counter") }
        if let next = block["next_entry"], !next.isEmpty { block.unset("next_entry") }
        if readsSaved { block.set("saved_entry", name) }
        if block != original {
            do throws(GrubEnvBlock.Error) {
                operations.append(.writeFile(path: environmentPath, contents: try block.serialized(),
                                             mode: BootDefaultRepointStrategy.mode(of: environmentPath, root)))
            } catch {
                throw refuse("cannot rewrite \(environmentPath): \(error)")
            }
        }

        // grub.cfg and /etc/default/grub: the literal default.
        if !readsSaved {
            do {
                let text = try root.files.text(configPath, limit: 16 << 20)
                let edited = try GrubDefaultEdit.settingDefault(name, grubConfig: text, line: assignment.line)
                operations.append(.writeFile(path: configPath, contents: Array(edited.utf8),
                                             mode: BootDefaultRepointStrategy.mode(of: configPath, root)))
            } catch {
                throw refuse("cannot set the default in \(configPath): \(error)")
            }
            if let grubDefaults = try? root.files.text("/etc/default/grub", limit: 1 << 20) {
                operations.append(.writeFile(path: "/etc/default/grub",
                                             contents: Array(GrubDefaultEdit.settingDefault(name, defaultGrub: grubDefaults).utf8),
                                             mode: BootDefaultRepointStrategy.mode(of: "/etc/default/grub", root)))
            }
        }

        // BLS counters showing failed tries: restarted under a new name, same contents.
        for (directory, entry) in configuration.loaderEntries where entry.fileName.triesLeft != nil && entry.fileName.triesDone > 0
            || entry.fileName.assessment == .bad {
            let from = directory + "/entries/" + entry.fileName.description
            let to = directory + "/entries/" + BootFallback.restartingCounter(entry.fileName).description
            guard from != to else { continue }
            guard let bytes = try? root.files.read(from, limit: 1 << 20) else {
                throw refuse("cannot read \(from)")
            }
            operations.append(.writeFile(path: to, contents: bytes, mode: BootDefaultRepointStrategy.mode(of: from, root)))
            operations.append(.removeFile(path: from))
        }
        return operations
    }

    /// The kernel file is a regular file, and the initrd and module index detectors find
    /// nothing wrong with the entry (the checks `default-last-good-kernel` makes).
    static func chainIntact(_ entry: BootEntry, _ root: SystemRoot) -> Bool {
        guard let kernel = entry.kernel,
              let st = root.files.statusIfPresent(kernel, followLast: true), (st.st_mode & S_IFMT) == S_IFREG
        else { return false }
        // A chain that could not be checked (no libkmod) does not count as intact.
        return (try? InitramfsDetector.findings(for: entry, root: root))?.isEmpty == true
            && (try? KernelModulesDetector.findings(for: entry, root: root))?.isEmpty == true
    }
}
