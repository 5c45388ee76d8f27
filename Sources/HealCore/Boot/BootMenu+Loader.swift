extension BootMenu {
    /// systemd-boot's menu from BLS entries alone, and its default from loader.conf.
    /// - Parameters:
    ///   - loaderEntries: the entries and the directory each was read from
    ///     (`/boot/loader`, `/efi/loader`, …).
    ///   - directory: the loader directory holding loader.conf, as the root sees it.
    ///   - loaderConf: loader.conf's text; nil when there is none.
    ///   - paths: how the loader's paths map onto the root.
    public static func loaderEntries(_ loaderEntries: [(directory: String, entry: LoaderEntry)], directory: String,
                                     loaderConf: String?, paths: LoaderPaths) -> BootMenu {
        let entries = orderedLoaderEntries(loaderEntries, partitionMount: paths.bootPartition, variables: [:], paths: paths)
        var items: [[Int]: Item] = [:]
        for (index, entry) in entries.enumerated() { items[[index]] = Item(title: entry.title, id: entry.id) }
        let confPath = directory + "/loader.conf"
        var menu = BootMenu(naming: .loaderEntries, entries: entries, menuPaths: entries.indices.map { [$0] }, items: items,
                            defaultChoice: DefaultChoice(source: .firstEntry, value: "",
                                                         evidence: Evidence(source: confPath, detail: "no default"),
                                                         entryIndex: entries.isEmpty ? nil : 0))
        if let found = loaderConf.flatMap(defaultPattern) {
            let pattern = found.pattern
            // systemd-boot matches the glob against the entry id with and without `.conf`;
            // the file name with its counter matches too.
            let index = entries.firstIndex { entry in
                let id = entry.id ?? ""
                let file = entry.source.split(separator: "/").last.map(String.init) ?? ""
                return Fnmatch.matches(pattern, id) || Fnmatch.matches(pattern, id + ".conf") || Fnmatch.matches(pattern, file)
            }
            menu.defaultChoice = DefaultChoice(source: .loaderConf, value: pattern,
                                               evidence: Evidence(source: confPath, detail: "line \(found.line): default \(pattern)"),
                                               entryIndex: index)
        }
        if !menu.defaultChoice.isValid && !menu.defaultChoice.value.isEmpty {
            menu.unresolvedDefaults = [UnresolvedDefault(name: menu.defaultChoice.source.rawValue,
                                                         value: menu.defaultChoice.value,
                                                         evidence: menu.defaultChoice.evidence)]
        }
        return menu
    }

    /// loader.conf's `default` glob and its 1-based line: the last `default` line wins.
    static func defaultPattern(_ text: String) -> (pattern: String, line: Int)? {
        var found: (String, Int)?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, fields[0] == "default" { found = (String(fields[1]), index + 1) }
        }
        return found
    }

    /// BLS entries as `BootEntry` values, newest version first (GRUB's blscfg and
    /// systemd-boot both list the newest first); entries whose boot counter ran out
    /// (`+0-DONE`, assessed bad) go last, as systemd-boot deprioritises them.
    /// - Parameters:
    ///   - partitionMount: where /boot's entries read their paths from (`/boot` when it
    ///     is separate); entries under an ESP read from that ESP's mount point.
    ///   - variables: grubenv's, for `options $kernelopts` (Fedora, expanded by blscfg).
    public static func orderedLoaderEntries(_ loaderEntries: [(directory: String, entry: LoaderEntry)],
                                            partitionMount: String?, variables: [String: String],
                                            paths: LoaderPaths) -> [BootEntry] {
        let sorted = loaderEntries.sorted { a, b in
            let badA = a.entry.fileName.assessment == .bad, badB = b.entry.fileName.assessment == .bad
            if badA != badB { return !badA }
            let order = GrubConfig.compareVersions(a.entry.version ?? a.entry.fileName.id, b.entry.version ?? b.entry.fileName.id)
            if order != 0 { return order > 0 }
            return a.entry.fileName.id > b.entry.fileName.id
        }
        return sorted.map { directory, entry in
            let mount: String? = directory == "/boot/loader" ? partitionMount : String(directory.dropLast("/loader".count))
            let kernel = (entry.linux ?? entry.efi).map { paths.rootPath($0, partitionMount: mount) }
            let options = entry.options.flatMap { option -> [String] in
                guard option.hasPrefix("$") else { return [option] }
                let braces: Set<Character> = ["{", "}"]
                let name = String(option.dropFirst().drop { braces.contains($0) }.reversed().drop { braces.contains($0) }.reversed())
                return (variables[name] ?? "").split(separator: " ").map(String.init)
            }
            return BootEntry(origin: .loaderEntry, title: entry.title ?? entry.fileName.id, id: entry.fileName.id,
                             kernel: kernel, initrd: entry.initrds.first.map { paths.rootPath($0, partitionMount: mount) },
                             options: options, version: entry.version ?? kernel.flatMap(LoaderPaths.kernelVersion),
                             source: directory + "/entries/" + entry.fileName.description, line: entry.linuxLine ?? 1)
        }
    }
}
