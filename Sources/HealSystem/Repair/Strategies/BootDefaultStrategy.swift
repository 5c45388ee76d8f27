import Glibc
import HealCore

/// `bootloader-default-invalid`: the boot loader is pointed at the newest entry whose chain
/// is intact (kernel present, and its initrd when it names one), by fixing whichever
/// selector is wrong and only that one:
///
/// - grubenv `next_entry` naming nothing or a broken entry: unset (it was a one-time
///   choice; the normal default then applies);
/// - grubenv `saved_entry` (read through `set default="${saved_entry}"`): set to the target;
/// - a literal `set default=` in grub.cfg: set to the target;
/// - `GRUB_DEFAULT` in /etc/default/grub naming nothing: set to the target, so the next
///   update-grub keeps the fix.
///
/// When no entry is intact but a kernel with its initrd is installed that no entry boots
/// (a kernel replaced without update-grub), the entries that name the missing kernel are
/// pointed at that one instead: their `linux`/`initrd` paths change, titles stay. That is
/// the part of "regenerate the config" that can be done here: grub-mkconfig cannot run in
/// the sandbox (its grub-probe finds no real device behind the overlay).
struct BootDefaultRepointStrategy: PlanFirstStrategy {
    let descriptor = StrategyDescriptor(
        id: "boot-default-repoint",
        title: "Point the boot loader's default at the newest entry whose kernel and initrd exist",
        classes: [.bootloaderDefaultInvalid],
        risk: 3,
        sideEffects: "the machine boots another entry (possibly an older kernel) than the one chosen before; a pending one-time next_entry is dropped",
        priorEffectiveness: 0.75,
        estimatedSeconds: 10)

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let configuration: BootConfiguration
        do throws(BootConfiguration.Error) {
            configuration = try BootConfiguration.load(context.root)
        } catch {
            throw refuse("\(error); regenerating grub.cfg needs grub-mkconfig, which cannot run in the sandbox")
        }
        guard case .grub(let configPath) = configuration.loader, let config = configuration.grubConfig else {
            throw refuse("only GRUB's defaults are handled; this root boots with \(configuration.loader)")
        }
        let root = context.root
        func intact(_ index: Int) -> Bool {
            let entry = configuration.entries[index]
            guard let kernel = entry.kernel, Self.isNonEmptyFile(kernel, root) else { return false }
            return entry.initrd.map { Self.isNonEmptyFile($0, root) } ?? true
        }
        func broken(_ value: String) -> Bool {
            guard let index = configuration.entryIndex(named: value) else { return true }
            return !intact(index)
        }

        guard let target = Self.newestIntact(configuration, intact: intact) else {
            return try retarget(configuration, configPath: configPath, config: config, root: root)
        }
        let entry = configuration.entries[target]
        let value = Self.name(of: target, in: configuration)
        context.logger.info("boot default target", metadata: ["entry": "\(entry.title)", "value": "\(value)"])

        var operations: [RepairOperation] = []
        let defaults = config.assignments.filter { $0.name == "default" }
        let readsNext = defaults.contains { $0.value.parts.contains(.variable("next_entry")) }
        let literal = defaults.last { a in
            !a.value.parts.contains(.variable("next_entry")) && a.conditions.allSatisfy(\.negated)
        }
        let readsSaved = literal.map { $0.value.parts.contains(.variable("saved_entry")) } ?? false

        // grubenv: next_entry and saved_entry.
        if let environment = configuration.grubEnvironment {
            let next = environment.variables["next_entry"] ?? ""
            let saved = environment.variables["saved_entry"]
            let fixNext = readsNext && !next.isEmpty && broken(next)
            let fixSaved = readsSaved && broken(saved ?? "")
            if fixNext || fixSaved {
                guard var block = environment.block else {
                    throw refuse("\(environment.path) is corrupt: it is bootloader-env-corrupt's to rewrite first")
                }
                if fixNext { block.unset("next_entry") }
                if fixSaved { block.set("saved_entry", value) }
                do throws(GrubEnvBlock.Error) {
                    operations.append(.writeFile(path: environment.path, contents: try block.serialized(),
                                                 mode: Self.mode(of: environment.path, root)))
                } catch {
                    throw refuse("cannot rewrite \(environment.path): \(error)")
                }
            }
        } else if readsSaved, broken("") {
            // No grubenv: `${saved_entry}` is empty and GRUB boots the first entry.
            let block = GrubEnvBlock(lines: GrubEnvBlock().lines + [.variable(name: "saved_entry", value: value)])
            if let bytes = try? block.serialized() {
                operations.append(.writeFile(path: Self.directory(of: configPath) + "/grubenv", contents: bytes, mode: 0o644))
            }
        }

        // grub.cfg: the literal default 00_header wrote.
        if let literal, !readsSaved, broken(literal.value.expanded(configuration.grubEnvironment?.variables ?? [:])) {
            guard let bytes = try? root.files.read(configPath, limit: 16 << 20) else {
                throw refuse("cannot read \(configPath)")
            }
            do throws(BootConfigEdit.Error) {
                let edited = try BootConfigEdit.settingAssignment("default", to: value, line: literal.line, in: bytes)
                operations.append(.writeFile(path: configPath, contents: edited, mode: Self.mode(of: configPath, root)))
            } catch {
                throw refuse("\(error)")
            }
        }

        // /etc/default/grub: GRUB_DEFAULT that names nothing (`saved` is grubenv's business).
        if let grubDefault = configuration.defaultGrub?["GRUB_DEFAULT"], grubDefault != "saved",
           configuration.entryIndex(named: grubDefault) == nil {
            let (path, line) = try Self.lastAssignment("GRUB_DEFAULT", root: root)
            guard let bytes = try? root.files.read(path, limit: 1 << 20) else {
                throw refuse("cannot read \(path)")
            }
            do throws(BootConfigEdit.Error) {
                let edited = try BootConfigEdit.settingAssignment("GRUB_DEFAULT", to: value, line: line, in: bytes)
                operations.append(.writeFile(path: path, contents: edited, mode: Self.mode(of: path, root)))
            } catch {
                throw refuse("\(error)")
            }
        }

        guard !operations.isEmpty else {
            throw refuse(configuration.defaultEntry.map { "the default entry \"\($0.title)\" is intact and every default names an entry" }
                         ?? "no default to fix")
        }
        return operations
    }

    /// Entries that name a missing kernel, pointed at the newest installed kernel (with an
    /// initrd) that no entry boots.
    private func retarget(_ configuration: BootConfiguration, configPath: String,
                          config: GrubConfig, root: SystemRoot) throws(PlanError) -> [RepairOperation] {
        guard let entry = configuration.defaultEntry, let kernel = entry.kernel else {
            throw refuse("no entry has an intact kernel and initrd")
        }
        let booted = Set(configuration.entries.compactMap(\.kernel))
        guard let installed = KernelInventory.scan(root).first(where: { $0.initrd != nil && !booted.contains($0.kernel) }),
              let newInitrd = installed.initrd else {
            throw refuse("no entry has an intact kernel and initrd, and no other kernel with an initrd is installed")
        }
        // The paths as grub.cfg writes them: only the file name changes.
        guard !config.usesLoaderEntries,
              let menuEntry = config.flattenedEntries.first(where: { Self.sameEntry($0.entry, entry) })?.entry,
              let loaderKernel = menuEntry.linux.first?.literal else {
            throw refuse("the default entry's kernel path is not written literally in \(configPath)")
        }
        guard let bytes = try? root.files.read(configPath, limit: 16 << 20) else {
            throw refuse("cannot read \(configPath)")
        }
        var edited = BootConfigEdit.replacingBootPath(loaderKernel, with: Self.replacingFileName(loaderKernel, kernelFileName(installed.kernel)),
                                                      inGrubConfig: bytes).bytes
        if let loaderInitrd = menuEntry.initrds.first?.literal {
            edited = BootConfigEdit.replacingBootPath(loaderInitrd, with: Self.replacingFileName(loaderInitrd, kernelFileName(newInitrd)),
                                                      inGrubConfig: edited).bytes
        }
        guard edited != bytes else { throw refuse("\(kernel) is not written on a linux line of \(configPath)") }
        return [.writeFile(path: configPath, contents: edited, mode: Self.mode(of: configPath, root))]
    }

    private func kernelFileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func replacingFileName(_ path: String, _ name: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return name }
        return String(path[...slash]) + name
    }

    static func sameEntry(_ menuEntry: GrubConfig.MenuEntry, _ entry: BootEntry) -> Bool {
        menuEntry.title == entry.title && (menuEntry.linuxLine ?? menuEntry.line) == entry.line
    }

    /// The newest entry (by kernel version, menu order among equals) whose chain is intact;
    /// recovery-mode entries only when nothing else is.
    static func newestIntact(_ configuration: BootConfiguration, intact: (Int) -> Bool) -> Int? {
        let candidates = configuration.entries.indices.filter(intact)
        func isRecovery(_ index: Int) -> Bool {
            let entry = configuration.entries[index]
            return entry.title.contains("recovery mode") || entry.options.contains("single")
                || entry.options.contains("clarity.heal=recover")
        }
        let preferred = candidates.filter { !isRecovery($0) }
        let pool = preferred.isEmpty ? candidates : preferred
        return pool.min { a, b in
            let order = GrubConfig.compareVersions(configuration.entries[a].version ?? "", configuration.entries[b].version ?? "")
            return order != 0 ? order > 0 : a < b
        }
    }

    /// How GRUB's `default` names entry `index`: its id when no other entry has it; inside
    /// a submenu the path of ids (`gnulinux-advanced-…>gnulinux-6.1.0-…-advanced-…`, what
    /// the GRUB manual gives for GRUB_DEFAULT), which still names the entry after the menu
    /// is regenerated with another order; the `>`-joined indices only when an id is missing.
    static func name(of index: Int, in configuration: BootConfiguration) -> String {
        let entry = configuration.entries[index]
        if let id = entry.id, configuration.entries.filter({ $0.id == id }).count == 1,
           configuration.entryIndex(named: id) == index {
            return id
        }
        let path = configuration.menuPaths[index]
        let ids = path.indices.compactMap { depth in
            configuration.menu.item(at: Array(path[...depth])).id.map { $0.split(separator: ">", omittingEmptySubsequences: false).joined(separator: ">>") }
        }
        if ids.count == path.count, configuration.entryIndex(named: ids.joined(separator: ">")) == index {
            return ids.joined(separator: ">")
        }
        return path.map(String.init).joined(separator: ">")
    }

    /// The file and line of the last assignment of `name` among /etc/default/grub and
    /// grub.d/*.cfg, in the order grub-mkconfig sources them.
    static func lastAssignment(_ name: String, root: SystemRoot) throws(PlanError) -> (String, Int) {
        let files = ["/etc/default/grub"] + root.files.entriesIfPresent("/etc/default/grub.d")
            .filter { $0.hasSuffix(".cfg") }.map { "/etc/default/grub.d/" + $0 }
        var found: (String, Int)?
        for path in files {
            guard let text = try? root.files.text(path, limit: 1 << 20),
                  let parsed = try? DefaultGrub(parsing: text), let line = parsed.lines[name] else { continue }
            found = (path, line)
        }
        guard let found else {
            throw PlanError(strategy: "boot-default-repoint", reason: "\(name) is not assigned in /etc/default/grub")
        }
        return found
    }

    static func isNonEmptyFile(_ path: String, _ root: SystemRoot) -> Bool {
        BootloaderDefaultDetector.isNonEmptyFile(path, root)
    }

    static func directory(of path: String) -> String {
        String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
    }

    static func mode(of path: String, _ root: SystemRoot) -> UInt32 {
        root.files.statusIfPresent(path, followLast: true).map { UInt32($0.st_mode & 0o7777) } ?? 0o644
    }
}
