import Glibc
import HealCore

/// What the boot loader of a root will start: its menu entries and the default among
/// them, worked out the way GRUB (or systemd-boot, for BLS-only roots) does.
///
/// GRUB picks its default in grub.cfg's 00_header section (GRUB's util/grub.d/00_header.in):
///
/// ```
/// load_env                                   # grubenv: saved_entry, next_entry, …
/// if [ "${next_entry}" ]; then set default="${next_entry}"     # grub-reboot, one boot
/// else set default="<GRUB_DEFAULT>"; fi      # a literal, or "${saved_entry}" for saved
/// ```
///
/// then matches `default` against the menu as grub-core/normal/menu.c does: a number is a
/// top-level index, anything else a title or `--id`; `A>B` descends into submenu A
/// (`>>` is a literal `>`). A value that names nothing makes GRUB boot the first entry.
public struct BootConfiguration: Sendable {
    /// Which loader configuration was read.
    public enum Loader: Sendable, Hashable {
        /// grub.cfg at this path (as the root sees it); `loaderEntries` when it calls `blscfg`.
        case grub(config: String)
        /// BLS entries only (systemd-boot): the default comes from loader.conf.
        case loaderEntries(directory: String)
        /// Neither grub.cfg nor BLS entries exist.
        case none
    }

    /// How the default was chosen and what it named.
    public struct DefaultChoice: Sendable, Hashable {
        public enum Source: String, Sendable, Hashable {
            /// grubenv `next_entry` (grub-reboot), taken by 00_header before anything else.
            case nextEntry = "next_entry"
            /// grubenv `saved_entry` through `set default="${saved_entry}"` (GRUB_DEFAULT=saved).
            case savedEntry = "saved_entry"
            /// A literal `set default=…` in grub.cfg (GRUB_DEFAULT=N or a title/id).
            case grubConfig = "grub.cfg"
            /// `default` in loader.conf (systemd-boot).
            case loaderConf = "loader.conf"
            /// Nothing chose: the first entry (GRUB's and systemd-boot's fallback).
            case firstEntry = "first entry"
        }

        public var source: Source
        /// The value as it names the entry (`0`, `gnulinux-…`, `Advanced options…>…`, a glob);
        /// empty when nothing was set.
        public var value: String
        /// Where the value was read, for evidence.
        public var evidence: Evidence
        /// Index into `entries` of the entry the value names; nil when it names none (or a
        /// submenu without entries).
        public var entryIndex: Int?

        /// Whether the value names an existing entry (an empty value names the first).
        public var isValid: Bool { entryIndex != nil }
    }

    public var loader: Loader
    /// Every bootable entry, in menu order (submenus flattened; BLS entries in the order
    /// the loader shows them).
    public var entries: [BootEntry]
    /// For GRUB entries, the indices through the menu and submenus (`[1, 0]` = `1>0`).
    public var menuPaths: [[Int]]
    public var defaultChoice: DefaultChoice
    /// The entry that boots: the one the default names, or the first entry when the value
    /// names nothing (what GRUB does); nil when there are no entries.
    public var defaultEntry: BootEntry?
    /// The grubenv read (path as the root sees it), when one exists.
    public var grubEnvironment: GrubEnvironment?
    /// /etc/default/grub with /etc/default/grub.d/*.cfg applied, when present.
    public var defaultGrub: DefaultGrub?
    /// The parsed grub.cfg, when the loader is GRUB.
    public var grubConfig: GrubConfig?
    /// BLS entries found (for counters), with the directory they were read from.
    public var loaderEntries: [(directory: String, entry: LoaderEntry)]
    /// BLS files that could not be read or parsed.
    public var unreadableLoaderEntries: [Evidence]

    /// A grubenv file: its bytes and what GRUB would read from it.
    public struct GrubEnvironment: Sendable {
        /// The path as the root sees it (`/boot/grub/grubenv`).
        public var path: String
        public var bytes: [UInt8]
        /// The strict parse: nil with `error` set when the block is corrupt.
        public var block: GrubEnvBlock?
        public var error: GrubEnvBlock.Error?
        /// The variables GRUB still reads (every parsable key, first one wins).
        public var variables: [String: String]
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        case unreadable(FileError)
        case grubConfig(path: String, GrubConfig.Error)
        case defaultGrub(path: String, DefaultGrub.Error)

        public var description: String {
            switch self {
            case .unreadable(let error): "\(error)"
            case .grubConfig(let path, let error):
                "\(error)".replacing("grub.cfg", with: path, maxReplacements: 1)
            case .defaultGrub(let path, let error):
                "\(error)".replacing("/etc/default/grub", with: path, maxReplacements: 1)
            }
        }
    }

    /// Where GRUB keeps its files, Debian's name first, Fedora's second.
    public static let grubDirectories = ["/boot/grub", "/boot/grub2"]
    /// Where BLS entries live: /boot (XBOOTLDR or the root's /boot), then the ESP mounts.
    public static let loaderDirectories = ["/boot/loader", "/efi/loader", "/boot/efi/loader"]

    /// Reads the boot configuration of `root`.
    /// - Throws: `BootConfiguration.Error` when grub.cfg or /etc/default/grub exist but
    ///   cannot be read or parsed. A missing or corrupt grubenv and broken BLS files do not
    ///   throw: they are recorded (GRUB boots without a grubenv, and skips bad entries).
    public static func load(_ root: SystemRoot) throws(BootConfiguration.Error) -> BootConfiguration {
        let defaultGrub = try loadDefaultGrub(root)
        let bootIsSeparate = Self.bootIsSeparate(root)

        // BLS entries, from the first directory that has any.
        var loaderEntries: [(directory: String, entry: LoaderEntry)] = []
        var unreadable: [Evidence] = []
        var loaderDirectory: String?
        for directory in loaderDirectories {
            let entriesDirectory = directory + "/entries"
            let names = FileReading.directoryEntries(atPath: root.host(entriesDirectory)).filter { $0.hasSuffix(".conf") }
            guard !names.isEmpty else { continue }
            loaderDirectory = directory
            for name in names {
                let path = entriesDirectory + "/" + name
                do {
                    let text = try FileReading.text(atPath: root.host(path), limit: 1 << 20)
                    loaderEntries.append((directory, try LoaderEntry(fileName: name, parsing: text)))
                } catch {
                    unreadable.append(Evidence(source: path, detail: "\(error)"))
                }
            }
            break
        }

        // GRUB: grub.cfg and the grubenv next to it ($prefix/grubenv).
        for directory in grubDirectories {
            let configPath = directory + "/grub.cfg"
            let text: String
            do {
                text = try FileReading.text(atPath: root.host(configPath), limit: 16 << 20)
            } catch .missing {
                continue
            } catch {
                throw .unreadable(error)
            }
            let config: GrubConfig
            do {
                config = try GrubConfig(parsing: text)
            } catch {
                throw .grubConfig(path: configPath, error)
            }
            let environment = readGrubEnvironment(root, path: directory + "/grubenv")
            var configuration = BootConfiguration(
                loader: .grub(config: configPath), entries: [], menuPaths: [],
                defaultChoice: DefaultChoice(source: .firstEntry, value: "",
                                             evidence: Evidence(source: configPath, detail: "no default set"),
                                             entryIndex: nil),
                defaultEntry: nil, grubEnvironment: environment, defaultGrub: defaultGrub,
                grubConfig: config, loaderEntries: loaderEntries, unreadableLoaderEntries: unreadable)
            configuration.buildGrubMenu(root, config: config, configPath: configPath,
                                        variables: environment?.variables ?? [:], bootIsSeparate: bootIsSeparate)
            return configuration
        }

        if let loaderDirectory {
            var configuration = BootConfiguration(
                loader: .loaderEntries(directory: loaderDirectory + "/entries"), entries: [], menuPaths: [],
                defaultChoice: DefaultChoice(source: .firstEntry, value: "",
                                             evidence: Evidence(source: loaderDirectory + "/loader.conf", detail: "no default set"),
                                             entryIndex: nil),
                defaultEntry: nil, grubEnvironment: nil, defaultGrub: defaultGrub, grubConfig: nil,
                loaderEntries: loaderEntries, unreadableLoaderEntries: unreadable)
            configuration.buildLoaderMenu(root, directory: loaderDirectory, bootIsSeparate: bootIsSeparate)
            return configuration
        }

        return BootConfiguration(
            loader: .none, entries: [], menuPaths: [],
            defaultChoice: DefaultChoice(source: .firstEntry, value: "",
                                         evidence: Evidence(source: "/boot", detail: "no grub.cfg and no loader entries"),
                                         entryIndex: nil),
            defaultEntry: nil, grubEnvironment: readGrubEnvironment(root, path: "/boot/grub/grubenv"),
            defaultGrub: defaultGrub, grubConfig: nil, loaderEntries: [], unreadableLoaderEntries: unreadable)
    }

    /// Reads a grubenv strictly, falling back to what GRUB can still read from it.
    /// Returns nil when the file does not exist or cannot be read.
    public static func readGrubEnvironment(_ root: SystemRoot, path: String) -> GrubEnvironment? {
        // A grubenv is 1024 bytes; allow a damaged larger one to be looked at, bounded.
        guard let bytes = try? FileReading.bytes(atPath: root.host(path), limit: 1 << 20) else { return nil }
        let strict = Result { () throws(GrubEnvBlock.Error) in try GrubEnvBlock(parsing: bytes) }
        let salvaged = GrubEnvBlock.salvage(bytes).block
        var variables: [String: String] = [:]
        for (name, value) in salvaged.variables where variables[name] == nil { variables[name] = value }
        switch strict {
        case .success(let block):
            return GrubEnvironment(path: path, bytes: bytes, block: block, error: nil, variables: variables)
        case .failure(let error):
            return GrubEnvironment(path: path, bytes: bytes, block: nil, error: error, variables: variables)
        }
    }

    static func loadDefaultGrub(_ root: SystemRoot) throws(BootConfiguration.Error) -> DefaultGrub? {
        var files = ["/etc/default/grub"]
        files += FileReading.directoryEntries(atPath: root.host("/etc/default/grub.d"))
            .filter { $0.hasSuffix(".cfg") }.map { "/etc/default/grub.d/" + $0 }
        var result: DefaultGrub?
        for path in files {
            let text: String
            do {
                text = try FileReading.text(atPath: root.host(path), limit: 1 << 20)
            } catch .missing {
                continue
            } catch {
                throw .unreadable(error)
            }
            do {
                result = try DefaultGrub(parsing: text, inheriting: result ?? DefaultGrub())
            } catch {
                throw .defaultGrub(path: path, error)
            }
        }
        return result
    }

    /// Whether /etc/fstab mounts a separate /boot: then loader paths without `/boot` are
    /// relative to that partition.
    static func bootIsSeparate(_ root: SystemRoot) -> Bool {
        guard let text = try? FileReading.text(atPath: root.host("/etc/fstab"), limit: 1 << 20) else { return false }
        return text.split(separator: "\n").contains { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return fields.count >= 2 && !fields[0].hasPrefix("#") && (fields[1] == "/boot" || fields[1] == "/boot/")
        }
    }

    /// The path as the root sees it of a path the loader reads from `partitionMount`
    /// (`/boot` when /boot is separate, `/` otherwise). A `(hd0,gpt2)` device prefix is
    /// dropped.
    static func rootPath(_ loaderPath: String, root: SystemRoot, partitionMount: String?) -> String {
        var path = Substring(loaderPath)
        if path.hasPrefix("("), let close = path.firstIndex(of: ")") { path = path[path.index(after: close)...] }
        if !path.hasPrefix("/") { path = "/" + path }
        if let partitionMount, partitionMount != "/" { return partitionMount + path }
        if path.hasPrefix("/boot/") { return String(path) }
        // /boot on the root filesystem with paths written relative to it, as on a machine
        // whose /boot was separate once: prefer the file that exists.
        if FileReading.status(atPath: root.host("/boot" + path)) != nil && FileReading.status(atPath: root.host(String(path))) == nil {
            return "/boot" + path
        }
        return String(path)
    }

    /// `6.1.0-50-cloud-amd64` from `/boot/vmlinuz-6.1.0-50-cloud-amd64`.
    static func kernelVersion(_ path: String) -> String? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        for prefix in ["vmlinuz-", "vmlinux-", "kernel-", "bzImage-"] where name.hasPrefix(prefix) && name.count > prefix.count {
            return String(name.dropFirst(prefix.count))
        }
        return nil
    }
}

// MARK: - GRUB

extension BootConfiguration {
    mutating func buildGrubMenu(_ root: SystemRoot, config: GrubConfig, configPath: String,
                                variables grubenv: [String: String], bootIsSeparate: Bool) {
        // Variables the entries see: grubenv, then grub.cfg's own unconditional `set`s.
        var variables = grubenv
        for assignment in config.assignments where assignment.conditions.isEmpty && assignment.name != "default" {
            variables[assignment.name] = assignment.value.expanded(variables)
        }
        let partition: String? = bootIsSeparate ? "/boot" : nil

        // The menu GRUB shows: with `blscfg`, the BLS entries (newest first) come first.
        var menu: [(path: [Int], entry: BootEntry)] = []
        if config.usesLoaderEntries {
            let bls = orderedLoaderEntries(root, partitionMount: partition, variables: variables)
            for (index, entry) in bls.enumerated() { menu.append(([index], entry)) }
            // Keep the index space of the real menu: BLS entries, then grub.cfg's own items.
            for (path, entry) in config.flattenedEntries {
                menu.append(([path[0] + bls.count] + path.dropFirst(),
                             grubBootEntry(entry, root: root, configPath: configPath, variables: variables, partition: partition)))
            }
        } else {
            for (path, entry) in config.flattenedEntries {
                menu.append((path, grubBootEntry(entry, root: root, configPath: configPath, variables: variables, partition: partition)))
            }
        }
        entries = menu.map(\.entry)
        menuPaths = menu.map(\.path)

        // 00_header: next_entry first, then the unconditional `set default=`.
        let defaults = config.assignments.filter { $0.name == "default" }
        let readsNextEntry = defaults.contains { $0.value.parts.contains(.variable("next_entry")) }
        let envPath = grubEnvironment?.path ?? "/" + configPath.split(separator: "/").dropLast().joined(separator: "/") + "/grubenv"
        if readsNextEntry, let next = grubenv["next_entry"], !next.isEmpty {
            defaultChoice = DefaultChoice(source: .nextEntry, value: next,
                                          evidence: Evidence(source: envPath, detail: "next_entry=\(next)"),
                                          entryIndex: nil)
        } else if let assignment = defaults.last(where: { a in
            !a.value.parts.contains(.variable("next_entry")) && a.conditions.allSatisfy(\.negated)
        }) {
            let value = assignment.value.expanded(variables)
            let source: DefaultChoice.Source = assignment.value.parts.contains(.variable("saved_entry")) ? .savedEntry : .grubConfig
            let evidence = source == .savedEntry
                ? Evidence(source: envPath, detail: grubenv["saved_entry"].map { "saved_entry=\($0)" }
                           ?? "saved_entry is unset (grub.cfg line \(assignment.line): set default=\"\(assignment.value)\")")
                : Evidence(source: configPath, detail: "line \(assignment.line): set default=\"\(assignment.value)\"")
            defaultChoice = DefaultChoice(source: source, value: value, evidence: evidence, entryIndex: nil)
        } else {
            defaultChoice = DefaultChoice(source: .firstEntry, value: "",
                                          evidence: Evidence(source: configPath, detail: "no set default"), entryIndex: nil)
        }
        defaultChoice.entryIndex = resolveGrubDefault(defaultChoice.value, config: config)
        let booted = defaultChoice.entryIndex ?? resolveGrubDefault("", config: config)
        defaultEntry = booted.map { entries[$0] }
    }

    /// The index into `entries` that a GRUB `default` value (`saved_entry`, `next_entry`,
    /// `GRUB_DEFAULT`) names: a top-level index, a title, an id, or `submenu>entry`. An
    /// empty value names the first entry. Nil when it names nothing (GRUB then boots the
    /// first entry).
    public func entryIndex(named value: String) -> Int? {
        if let grubConfig { return resolveGrubDefault(value, config: grubConfig) }
        if value.isEmpty { return entries.isEmpty ? nil : 0 }
        return entries.firstIndex { $0.id == value || $0.title == value }
    }

    /// The index into `entries` that a GRUB `default` value names, following menu.c.
    func resolveGrubDefault(_ value: String, config: GrubConfig) -> Int? {
        guard !entries.isEmpty else { return nil }
        // Components separated by '>' ('>>' is a literal '>').
        var components: [String] = []
        var current = ""
        var chars = Array(value)
        var i = 0
        while i < chars.count {
            if chars[i] == ">" {
                if i + 1 < chars.count && chars[i + 1] == ">" { current.append(">"); i += 2; continue }
                components.append(current)
                current = ""
            } else {
                current.append(chars[i])
            }
            i += 1
        }
        components.append(current)
        chars = []
        if value.isEmpty { components = ["0"] }

        // The menu as GRUB sees it, titles and ids per level, read from `entries`/`menuPaths`.
        var prefix: [Int] = []
        for (depth, component) in components.enumerated() {
            // The items at this level: distinct next indices among paths with this prefix.
            let level = menuPaths.enumerated().filter { $0.element.count > depth && Array($0.element.prefix(depth)) == prefix }
            var indices: [Int] = []
            for (_, path) in level where !indices.contains(path[depth]) { indices.append(path[depth]) }
            var chosen: Int?
            if let number = Int(component), component.allSatisfy(\.isASCII), number >= 0 {
                chosen = number
            } else {
                chosen = indices.first { index in
                    let item = itemIdentity(prefix + [index], config: config)
                    return item.title == component || (item.id != nil && item.id == component)
                }
            }
            guard let chosen, indices.contains(chosen) else { return nil }
            prefix.append(chosen)
        }
        // A submenu chosen as the last component opens it; its first entry boots.
        return menuPaths.firstIndex { $0.count >= prefix.count && Array($0.prefix(prefix.count)) == prefix }
    }

    /// Title and id of the menu item at `path` (an entry or a submenu).
    func itemIdentity(_ path: [Int], config: GrubConfig) -> (title: String, id: String?) {
        if let index = menuPaths.firstIndex(of: path) {
            return (entries[index].title, entries[index].id)
        }
        // A submenu: find it in the parsed tree (BLS entries never form submenus).
        let offset = config.usesLoaderEntries ? entries.count - config.flattenedEntries.count : 0
        var items = config.menu
        var result: (String, String?) = ("", nil)
        for (depth, rawIndex) in path.enumerated() {
            let index = depth == 0 ? rawIndex - offset : rawIndex
            guard index >= 0, index < items.count else { return ("", nil) }
            result = (items[index].title, items[index].id)
            if case .submenu(_, _, let children, _) = items[index] { items = children }
        }
        return result
    }

    func grubBootEntry(_ entry: GrubConfig.MenuEntry, root: SystemRoot, configPath: String,
                       variables: [String: String], partition: String?) -> BootEntry {
        let linux = entry.linux.map { $0.expanded(variables) }
        // A variable can expand to several arguments (`$kernelopts`): split at blanks.
        let arguments = linux.dropFirst().flatMap { $0.split(separator: " ").map(String.init) }
        let kernel = linux.first.map { Self.rootPath($0, root: root, partitionMount: partition) }
        let initrd = entry.initrds.first.map { Self.rootPath($0.expanded(variables), root: root, partitionMount: partition) }
        return BootEntry(origin: .grubMenu, title: entry.title, id: entry.id, kernel: kernel, initrd: initrd,
                         options: arguments, version: kernel.flatMap(Self.kernelVersion),
                         source: configPath, line: entry.linuxLine ?? entry.line)
    }
}

// MARK: - BLS

extension BootConfiguration {
    /// BLS entries as BootEntry values, newest version first (GRUB's blscfg and
    /// systemd-boot both list the newest first); entries assessed bad go last, as
    /// systemd-boot deprioritises them.
    func orderedLoaderEntries(_ root: SystemRoot, partitionMount: String?, variables: [String: String]) -> [BootEntry] {
        let sorted = loaderEntries.sorted { a, b in
            let badA = a.entry.fileName.assessment == .bad, badB = b.entry.fileName.assessment == .bad
            if badA != badB { return !badA }
            let order = GrubConfig.compareVersions(a.entry.version ?? a.entry.fileName.id, b.entry.version ?? b.entry.fileName.id)
            if order != 0 { return order > 0 }
            return a.entry.fileName.id > b.entry.fileName.id
        }
        return sorted.map { directory, entry in
            // Entries under the ESP read paths from the ESP's mount point.
            let mount: String? = directory == "/boot/loader" ? partitionMount : String(directory.dropLast("/loader".count))
            let kernel = (entry.linux ?? entry.efi).map { Self.rootPath($0, root: root, partitionMount: mount) }
            // Fedora writes `options $kernelopts`, expanded from grubenv by blscfg.
            let options = entry.options.flatMap { option -> [String] in
                guard option.hasPrefix("$") else { return [option] }
                let name = option.dropFirst().trimmingCharacters(in: "{}")
                return (variables[name] ?? "").split(separator: " ").map(String.init)
            }
            return BootEntry(origin: .loaderEntry, title: entry.title ?? entry.fileName.id, id: entry.fileName.id,
                             kernel: kernel, initrd: entry.initrds.first.map { Self.rootPath($0, root: root, partitionMount: mount) },
                             options: options, version: entry.version ?? kernel.flatMap(Self.kernelVersion),
                             source: directory + "/entries/" + entry.fileName.description, line: entry.linuxLine ?? 1)
        }
    }

    mutating func buildLoaderMenu(_ root: SystemRoot, directory: String, bootIsSeparate: Bool) {
        entries = orderedLoaderEntries(root, partitionMount: bootIsSeparate ? "/boot" : nil, variables: [:])
        menuPaths = entries.indices.map { [$0] }
        let confPath = directory + "/loader.conf"
        var pattern: String?
        var line = 0
        if let text = try? FileReading.text(atPath: root.host(confPath), limit: 1 << 20) {
            for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if fields.count >= 2, fields[0] == "default" {
                    pattern = String(fields[1])
                    line = index + 1
                }
            }
        }
        if let pattern {
            defaultChoice = DefaultChoice(source: .loaderConf, value: pattern,
                                          evidence: Evidence(source: confPath, detail: "line \(line): default \(pattern)"),
                                          entryIndex: nil)
            // systemd-boot matches the glob against the entry id with and without `.conf`.
            defaultChoice.entryIndex = entries.firstIndex { entry in
                let id = entry.id ?? ""
                return fnmatch(pattern, id, 0) == 0 || fnmatch(pattern, id + ".conf", 0) == 0
                    || fnmatch(pattern, (entry.source.split(separator: "/").last).map(String.init) ?? "", 0) == 0
            }
        } else {
            defaultChoice = DefaultChoice(source: .firstEntry, value: "",
                                          evidence: Evidence(source: confPath, detail: "no default"),
                                          entryIndex: entries.isEmpty ? nil : 0)
        }
        defaultEntry = (defaultChoice.entryIndex ?? (entries.isEmpty ? nil : 0)).map { entries[$0] }
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
