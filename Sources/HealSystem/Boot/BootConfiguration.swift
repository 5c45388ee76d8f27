import HealCore

/// What the boot loader of a root will start: its menu entries and the default among
/// them, worked out the way GRUB (or systemd-boot, for BLS-only roots) does.
///
/// This type reads the files — grub.cfg, grubenv, /etc/default/grub, BLS entries,
/// loader.conf, fstab — and hands their text to `BootMenu` (HealCore), which works out the
/// menu and the default without touching the disk. Every file access is in the
/// "Reading" functions at the end.
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
    public typealias DefaultChoice = BootMenu.DefaultChoice

    public var loader: Loader
    /// The menu, its default and the values that name no entry, as `BootMenu` works them
    /// out from the files below.
    public var menu: BootMenu
    /// Every bootable entry, in menu order (submenus flattened; BLS entries in the order
    /// the loader shows them).
    public var entries: [BootEntry] { menu.entries }
    /// For GRUB entries, the indices through the menu and submenus (`[1, 0]` = `1>0`).
    public var menuPaths: [[Int]] { menu.menuPaths }
    public var defaultChoice: DefaultChoice { menu.defaultChoice }
    /// The entry that boots: the one the default names, or the first entry when the value
    /// names nothing (what GRUB does); nil when there are no entries.
    public var defaultEntry: BootEntry? { menu.defaultEntry }
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
        let fstab = readText(root, "/etc/fstab")
        let paths = LoaderPaths(bootIsSeparate: fstab.map { LoaderPaths.bootIsSeparate(fstab: $0) } ?? false,
                                bootSubvolume: fstab.flatMap { LoaderPaths.bootSubvolume(fstab: $0) },
                                exists: { Self.exists(root, $0) })

        // BLS entries, from the first directory that has any.
        var loaderEntries: [(directory: String, entry: LoaderEntry)] = []
        var unreadable: [Evidence] = []
        var loaderDirectory: String?
        for directory in loaderDirectories {
            let entriesDirectory = directory + "/entries"
            let names = list(root, entriesDirectory).filter { $0.hasSuffix(".conf") }
            guard !names.isEmpty else { continue }
            loaderDirectory = directory
            for name in names {
                let path = entriesDirectory + "/" + name
                do {
                    let text = try readText(root, path, limit: 1 << 20)
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
                text = try readText(root, configPath, limit: 16 << 20)
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
            let menu = BootMenu.grub(config, configPath: configPath, grubenv: environment?.variables ?? [:],
                                     grubenvPath: directory + "/grubenv", defaultGrub: defaultGrub,
                                     loaderEntries: loaderEntries, paths: paths)
            return BootConfiguration(loader: .grub(config: configPath), menu: menu, grubEnvironment: environment,
                                     defaultGrub: defaultGrub, grubConfig: config, loaderEntries: loaderEntries,
                                     unreadableLoaderEntries: unreadable)
        }

        if let loaderDirectory {
            let menu = BootMenu.loaderEntries(loaderEntries, directory: loaderDirectory,
                                              loaderConf: readText(root, loaderDirectory + "/loader.conf"), paths: paths)
            return BootConfiguration(loader: .loaderEntries(directory: loaderDirectory + "/entries"), menu: menu,
                                     grubEnvironment: nil, defaultGrub: defaultGrub, grubConfig: nil,
                                     loaderEntries: loaderEntries, unreadableLoaderEntries: unreadable)
        }

        return BootConfiguration(
            loader: .none, menu: .empty(Evidence(source: "/boot", detail: "no grub.cfg and no loader entries")),
            grubEnvironment: readGrubEnvironment(root, path: "/boot/grub/grubenv"),
            defaultGrub: defaultGrub, grubConfig: nil, loaderEntries: [], unreadableLoaderEntries: unreadable)
    }

    /// The index into `entries` that a value (`saved_entry`, `next_entry`, `GRUB_DEFAULT`)
    /// names; see `BootMenu.entryIndex(named:)`.
    public func entryIndex(named value: String) -> Int? {
        menu.entryIndex(named: value)
    }

    /// Reads a grubenv strictly, falling back to what GRUB can still read from it.
    /// Returns nil when the file does not exist or cannot be read.
    public static func readGrubEnvironment(_ root: SystemRoot, path: String) -> GrubEnvironment? {
        // A grubenv is 1024 bytes; allow a damaged larger one to be looked at, bounded.
        guard let bytes = readBytes(root, path, limit: 1 << 20) else { return nil }
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
        files += list(root, "/etc/default/grub.d").filter { $0.hasSuffix(".cfg") }.map { "/etc/default/grub.d/" + $0 }
        var result: DefaultGrub?
        for path in files {
            let text: String
            do {
                text = try readText(root, path, limit: 1 << 20)
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
}

// MARK: - Reading

// Every file the boot configuration looks at is opened by one of these, with a path as the
// root sees it, inside the root (`ConfinedDirectory`): a link is followed as the booted
// system would follow it, a FIFO or device is never opened, every read is bounded.
extension BootConfiguration {
    /// A text file of at most `limit` bytes.
    static func readText(_ root: SystemRoot, _ path: String, limit: Int) throws(FileError) -> String {
        try root.files.text(path, limit: limit)
    }

    /// A text file of at most 1 MiB, nil when it cannot be read.
    static func readText(_ root: SystemRoot, _ path: String) -> String? {
        try? readText(root, path, limit: 1 << 20)
    }

    /// A file's bytes, at most `limit`; nil when it cannot be read.
    static func readBytes(_ root: SystemRoot, _ path: String, limit: Int) -> [UInt8]? {
        try? root.files.read(path, limit: limit)
    }

    /// The names in a directory; none when it cannot be read.
    static func list(_ root: SystemRoot, _ directory: String) -> [String] {
        root.files.entriesIfPresent(directory)
    }

    /// Whether anything (a link included, not followed) is at `path`.
    static func exists(_ root: SystemRoot, _ path: String) -> Bool {
        root.files.exists(path)
    }
}
