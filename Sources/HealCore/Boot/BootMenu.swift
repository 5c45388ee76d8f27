/// The menu a boot loader shows and the entry it starts by default, worked out from the
/// loader's configuration as it was read: text and values only, no file is opened here
/// (HealSystem's `BootConfiguration` reads the files and calls in).
///
/// GRUB picks its default in grub.cfg's 00_header section (grub-mkconfig's
/// util/grub.d/00_header.in):
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
///
/// systemd-boot lists BLS entries newest first, entries whose boot counter ran out last,
/// and starts the first whose id matches loader.conf's `default` glob (`BootMenu+Loader`).
public struct BootMenu: Sendable, Hashable {
    /// Whose rules a value naming an entry follows.
    public enum Naming: Sendable, Hashable {
        /// GRUB's: an index, a title or an id, `submenu>entry`.
        case grub
        /// systemd-boot's: an id or a title.
        case loaderEntries
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

        public init(source: Source, value: String, evidence: Evidence, entryIndex: Int?) {
            self.source = source
            self.value = value
            self.evidence = evidence
            self.entryIndex = entryIndex
        }

        /// Whether the value names an existing entry (an empty value names the first).
        public var isValid: Bool { entryIndex != nil }
    }

    /// A value meant to name the default entry that names none: the boot falls back to the
    /// first entry.
    public struct UnresolvedDefault: Sendable, Hashable {
        /// What holds the value: `next_entry`, `saved_entry`, `grub.cfg`, `loader.conf`,
        /// `GRUB_DEFAULT`.
        public var name: String
        public var value: String
        public var evidence: Evidence
    }

    /// Title and id of a menu item: an entry or a submenu.
    public struct Item: Sendable, Hashable {
        public var title: String
        public var id: String?

        public init(title: String, id: String?) {
            self.title = title
            self.id = id
        }
    }

    public var naming: Naming
    /// Every bootable entry, in menu order (submenus flattened; BLS entries in the order
    /// the loader shows them).
    public var entries: [BootEntry]
    /// The indices through the menu and submenus of each entry (`[1, 0]` = `1>0`).
    public var menuPaths: [[Int]]
    /// Every item by its path, submenus included (GRUB names those too).
    public var items: [[Int]: Item]
    public var defaultChoice: DefaultChoice
    /// The values that should name the default entry and name none, in the order the
    /// loader reads them (see `BootMenu.grub` and `BootMenu.loaderEntries`).
    public var unresolvedDefaults: [UnresolvedDefault]

    public init(naming: Naming, entries: [BootEntry], menuPaths: [[Int]], items: [[Int]: Item],
                defaultChoice: DefaultChoice, unresolvedDefaults: [UnresolvedDefault] = []) {
        self.naming = naming
        self.entries = entries
        self.menuPaths = menuPaths
        self.items = items
        self.defaultChoice = defaultChoice
        self.unresolvedDefaults = unresolvedDefaults
    }

    /// A loader with no menu at all.
    public static func empty(_ evidence: Evidence) -> BootMenu {
        BootMenu(naming: .loaderEntries, entries: [], menuPaths: [], items: [:],
                 defaultChoice: DefaultChoice(source: .firstEntry, value: "", evidence: evidence, entryIndex: nil))
    }

    /// The entry that boots: the one the default names, or the first entry when the value
    /// names nothing (what GRUB and systemd-boot do); nil when there are no entries.
    public var defaultEntry: BootEntry? {
        (defaultChoice.entryIndex ?? entryIndex(named: "")).map { entries[$0] }
    }

    /// The index into `entries` that a value names (`saved_entry`, `next_entry`,
    /// `GRUB_DEFAULT`, an id): for GRUB a top-level index, a title, an id, or
    /// `submenu>entry`; for BLS entries an id or a title. An empty value names the first
    /// entry. Nil when it names nothing.
    public func entryIndex(named value: String) -> Int? {
        switch naming {
        case .grub:
            return resolveGrub(value)
        case .loaderEntries:
            if value.isEmpty { return entries.isEmpty ? nil : 0 }
            return entries.firstIndex { $0.id == value || $0.title == value }
        }
    }

    /// Title and id of the item at `path` (an entry or a submenu); an empty title when the
    /// path leads nowhere.
    public func item(at path: [Int]) -> Item {
        items[path] ?? Item(title: "", id: nil)
    }

    /// `A>B>>C` as `["A", "B>C"]`: the components of a GRUB default, `>>` a literal `>`.
    static func grubComponents(_ value: String) -> [String] {
        var components: [String] = []
        var current = ""
        let chars = Array(value)
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
        return components
    }

    /// The index into `entries` that a GRUB `default` value names, following menu.c.
    func resolveGrub(_ value: String) -> Int? {
        guard !entries.isEmpty else { return nil }
        let components = value.isEmpty ? ["0"] : Self.grubComponents(value)
        var prefix: [Int] = []
        for (depth, component) in components.enumerated() {
            // The items at this level: distinct next indices among entry paths with this
            // prefix (a submenu without entries cannot be chosen).
            var indices: [Int] = []
            for path in menuPaths where path.count > depth && Array(path.prefix(depth)) == prefix
                && !indices.contains(path[depth]) {
                indices.append(path[depth])
            }
            let chosen: Int?
            if let number = Int(component), component.allSatisfy(\.isASCII), number >= 0 {
                chosen = number
            } else {
                chosen = indices.first { index in
                    let item = item(at: prefix + [index])
                    return item.title == component || (item.id != nil && item.id == component)
                }
            }
            guard let chosen, indices.contains(chosen) else { return nil }
            prefix.append(chosen)
        }
        // A submenu chosen as the last component opens it; its first entry boots.
        return menuPaths.firstIndex { $0.count >= prefix.count && Array($0.prefix(prefix.count)) == prefix }
    }
}
