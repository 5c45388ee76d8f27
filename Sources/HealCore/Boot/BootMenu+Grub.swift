extension BootMenu {
    /// GRUB's menu and default from a parsed grub.cfg and what it reads.
    /// - Parameters:
    ///   - config: grub.cfg, parsed.
    ///   - configPath: where grub.cfg is, as the root sees it (for evidence).
    ///   - grubenv: the variables GRUB reads from the grubenv next to grub.cfg (`load_env`).
    ///   - grubenvPath: that grubenv's path as the root sees it.
    ///   - defaultGrub: /etc/default/grub with its drop-ins, when present: what the next
    ///     grub-mkconfig makes the default (`GRUB_DEFAULT`).
    ///   - loaderEntries: the BLS entries and the directory each was read from, which
    ///     grub.cfg lists first when it calls `blscfg`.
    ///   - paths: how the loader's paths map onto the root.
    public static func grub(_ config: GrubConfig, configPath: String, grubenv: [String: String], grubenvPath: String,
                            defaultGrub: DefaultGrub?, loaderEntries: [(directory: String, entry: LoaderEntry)],
                            paths: LoaderPaths) -> BootMenu {
        // Variables the entries see: grubenv, then grub.cfg's own unconditional `set`s.
        var variables = grubenv
        for assignment in config.assignments where assignment.conditions.isEmpty && assignment.name != "default" {
            variables[assignment.name] = assignment.value.expanded(variables)
        }
        let partition = paths.bootPartition

        // The menu GRUB shows: with `blscfg`, the BLS entries (newest first) come first, and
        // grub.cfg's own items keep their places after them.
        var menu: [(path: [Int], entry: BootEntry)] = []
        var items: [[Int]: Item] = [:]
        var offset = 0
        if config.usesLoaderEntries {
            let bls = orderedLoaderEntries(loaderEntries, partitionMount: partition, variables: variables, paths: paths)
            for (index, entry) in bls.enumerated() { menu.append(([index], entry)) }
            offset = bls.count
        }
        for (path, entry) in config.flattenedEntries {
            menu.append(([path[0] + offset] + path.dropFirst(),
                         grubBootEntry(entry, configPath: configPath, variables: variables, partition: partition, paths: paths)))
        }
        for (path, entry) in menu { items[path] = Item(title: entry.title, id: entry.id) }
        func addSubmenus(_ level: [GrubConfig.MenuItem], _ prefix: [Int]) {
            for (index, item) in level.enumerated() {
                guard case .submenu(let title, let id, let children, _) = item else { continue }
                let path = prefix.isEmpty ? [index + offset] : prefix + [index]
                items[path] = Item(title: title, id: id)
                addSubmenus(children, path)
            }
        }
        addSubmenus(config.menu, [])

        var result = BootMenu(naming: .grub, entries: menu.map(\.entry), menuPaths: menu.map(\.path), items: items,
                              defaultChoice: DefaultChoice(source: .firstEntry, value: "",
                                                           evidence: Evidence(source: configPath, detail: "no set default"),
                                                           entryIndex: nil))

        // 00_header: next_entry first, then the unconditional `set default=`.
        let defaults = config.assignments.filter { $0.name == "default" }
        let readsNextEntry = defaults.contains { $0.value.parts.contains(.variable("next_entry")) }
        if readsNextEntry, let next = grubenv["next_entry"], !next.isEmpty {
            result.defaultChoice = DefaultChoice(source: .nextEntry, value: next,
                                                 evidence: Evidence(source: grubenvPath, detail: "next_entry=\(next)"),
                                                 entryIndex: nil)
        } else if let assignment = defaults.last(where: { a in
            !a.value.parts.contains(.variable("next_entry")) && a.conditions.allSatisfy(\.negated)
        }) {
            let value = assignment.value.expanded(variables)
            let source: DefaultChoice.Source = assignment.value.parts.contains(.variable("saved_entry")) ? .savedEntry : .grubConfig
            let evidence = source == .savedEntry
                ? Evidence(source: grubenvPath, detail: grubenv["saved_entry"].map { "saved_entry=\($0)" }
                           ?? "saved_entry is unset (grub.cfg line \(assignment.line): set default=\"\(assignment.value)\")")
                : Evidence(source: configPath, detail: "line \(assignment.line): set default=\"\(assignment.value)\"")
            result.defaultChoice = DefaultChoice(source: source, value: value, evidence: evidence, entryIndex: nil)
        }
        result.defaultChoice.entryIndex = result.resolveGrub(result.defaultChoice.value)
        result.unresolvedDefaults = result.unresolvedGrubDefaults(defaults, grubenv: grubenv, grubenvPath: grubenvPath,
                                                                  defaultGrub: defaultGrub, configPath: configPath)
        return result
    }

    /// The values that name no entry, in the order they matter: the one that chose this
    /// boot's default; `saved_entry` when grub.cfg reads it and something else chose (it
    /// chooses again after a one-time `next_entry`); `GRUB_DEFAULT` unless it is `saved`
    /// (what the next grub-mkconfig writes), when grub.cfg does not already say it.
    func unresolvedGrubDefaults(_ defaults: [GrubConfig.Assignment], grubenv: [String: String], grubenvPath: String,
                                defaultGrub: DefaultGrub?, configPath: String) -> [UnresolvedDefault] {
        var unresolved: [UnresolvedDefault] = []
        let choice = defaultChoice
        if !choice.isValid && !choice.value.isEmpty {
            unresolved.append(UnresolvedDefault(name: choice.source.rawValue, value: choice.value, evidence: choice.evidence))
        }
        if choice.source != .savedEntry,
           defaults.contains(where: { $0.value.parts.contains(.variable("saved_entry")) }),
           let saved = grubenv["saved_entry"], !saved.isEmpty, entryIndex(named: saved) == nil {
            unresolved.append(UnresolvedDefault(name: "saved_entry", value: saved,
                                                evidence: Evidence(source: grubenvPath, detail: "saved_entry=\(saved)")))
        }
        if let grubDefault = defaultGrub?["GRUB_DEFAULT"], grubDefault != "saved",
           entryIndex(named: grubDefault) == nil,
           !(choice.source == .grubConfig && choice.value == grubDefault) {
            let line = defaultGrub?.lines["GRUB_DEFAULT"].map { "line \($0): " } ?? ""
            unresolved.append(UnresolvedDefault(
                name: "GRUB_DEFAULT", value: grubDefault,
                evidence: Evidence(source: "/etc/default/grub", detail: "\(line)GRUB_DEFAULT=\(grubDefault) (menu in \(configPath))")))
        }
        return unresolved
    }

    static func grubBootEntry(_ entry: GrubConfig.MenuEntry, configPath: String, variables: [String: String],
                              partition: String?, paths: LoaderPaths) -> BootEntry {
        let linux = entry.linux.map { $0.expanded(variables) }
        // A variable can expand to several arguments (`$kernelopts`): split at blanks.
        let arguments = linux.dropFirst().flatMap { $0.split(separator: " ").map(String.init) }
        let kernel = linux.first.map { paths.rootPath($0, partitionMount: partition) }
        let initrd = entry.initrds.first.map { paths.rootPath($0.expanded(variables), partitionMount: partition) }
        return BootEntry(origin: .grubMenu, title: entry.title, id: entry.id, kernel: kernel, initrd: initrd,
                         options: arguments, version: kernel.flatMap(LoaderPaths.kernelVersion),
                         source: configPath, line: entry.linuxLine ?? entry.line)
    }
}
