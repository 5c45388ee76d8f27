import Glibc
import HealCore
import Testing

/// The boot menu and its default from plain strings: grub.cfg text, grubenv values,
/// /etc/default/grub text, BLS entry names and contents, loader.conf text.
@Suite("BootMenu")
struct BootMenuTests {
    /// A Debian grub.cfg as grub-mkconfig writes it, `set default=` given: one entry, an
    /// "Advanced options" submenu of three, an empty submenu, the firmware entry.
    static func grubCfg(default value: String, blscfg: Bool = false) -> String {
        """
        if [ -s $prefix/grubenv ]; then
          set have_grubenv=true
          load_env
        fi
        if [ "${next_entry}" ] ; then
           set default="${next_entry}"
           set next_entry=
           save_env next_entry
           set boot_once=true
        else
           set default="\(value)"
        fi
        \(blscfg ? "insmod blscfg\nblscfg\n" : "")menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-U' {
        \tlinux\t/boot/vmlinuz-6.1.0-50-amd64 root=UUID=U ro quiet
        \tinitrd\t/boot/initrd.img-6.1.0-50-amd64
        }
        submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-U' {
        \tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-50-amd64' $menuentry_id_option 'gnulinux-6.1.0-50-amd64-advanced-U' {
        \t\tlinux\t/boot/vmlinuz-6.1.0-50-amd64 root=UUID=U ro quiet
        \t}
        \tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-40-amd64' $menuentry_id_option 'gnulinux-6.1.0-40-amd64-advanced-U' {
        \t\tlinux\t/boot/vmlinuz-6.1.0-40-amd64 root=UUID=U ro quiet
        \t}
        \tmenuentry 'Kernel 1>2' --id=odd {
        \t\tlinux\t/vmlinuz-odd root=UUID=U ro
        \t}
        }
        submenu 'Nothing here' {
        }
        menuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' {
        \tfwsetup
        }

        """
    }

    static let titles = ["Debian GNU/Linux", "Debian GNU/Linux, with Linux 6.1.0-50-amd64",
                         "Debian GNU/Linux, with Linux 6.1.0-40-amd64", "Kernel 1>2", "UEFI Firmware Settings"]

    static func grub(_ cfg: String, grubenv: [String: String] = [:], defaultGrub: String? = nil,
                     loaderEntries: [(directory: String, entry: LoaderEntry)] = [],
                     existing: Set<String> = []) throws -> BootMenu {
        let config = try GrubConfig(parsing: cfg)
        let parsed = try defaultGrub.map { try DefaultGrub(parsing: $0) }
        return BootMenu.grub(config, configPath: "/boot/grub/grub.cfg", grubenv: grubenv,
                             grubenvPath: "/boot/grub/grubenv", defaultGrub: parsed, loaderEntries: loaderEntries,
                             paths: LoaderPaths(bootIsSeparate: false, exists: { existing.contains($0) }))
    }

    struct GrubCase: Sendable, CustomTestStringConvertible {
        var name: String
        /// The value of grub.cfg's `set default=` (GRUB_DEFAULT as grub-mkconfig wrote it).
        var setDefault: String
        var grubenv: [String: String] = [:]
        var defaultGrub: String? = nil
        var source: BootMenu.DefaultChoice.Source
        var value: String
        /// The entry the value names; nil when it names none.
        var named: Int?
        /// The title of the entry that boots.
        var boots: String
        /// The values that name nothing, by what holds them.
        var unresolved: [String] = []
        var testDescription: String { name }
    }

    static let grubCases: [GrubCase] = [
        GrubCase(name: "GRUB_DEFAULT=0", setDefault: "0", source: .grubConfig, value: "0", named: 0,
                 boots: "Debian GNU/Linux"),
        GrubCase(name: "a top-level title", setDefault: "Debian GNU/Linux", source: .grubConfig,
                 value: "Debian GNU/Linux", named: 0, boots: "Debian GNU/Linux"),
        GrubCase(name: "saved_entry by id through the submenu", setDefault: "${saved_entry}",
                 grubenv: ["saved_entry": "gnulinux-advanced-U>gnulinux-6.1.0-40-amd64-advanced-U"],
                 source: .savedEntry, value: "gnulinux-advanced-U>gnulinux-6.1.0-40-amd64-advanced-U", named: 2,
                 boots: "Debian GNU/Linux, with Linux 6.1.0-40-amd64"),
        GrubCase(name: "saved_entry by title through the submenu", setDefault: "${saved_entry}",
                 grubenv: ["saved_entry": "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-40-amd64"],
                 source: .savedEntry, value: "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-40-amd64",
                 named: 2, boots: "Debian GNU/Linux, with Linux 6.1.0-40-amd64"),
        GrubCase(name: "saved_entry by index, submenu>entry", setDefault: "${saved_entry}", grubenv: ["saved_entry": "1>1"],
                 source: .savedEntry, value: "1>1", named: 2, boots: "Debian GNU/Linux, with Linux 6.1.0-40-amd64"),
        GrubCase(name: "index and id mixed", setDefault: "${saved_entry}",
                 grubenv: ["saved_entry": "1>gnulinux-6.1.0-40-amd64-advanced-U"], source: .savedEntry,
                 value: "1>gnulinux-6.1.0-40-amd64-advanced-U", named: 2, boots: "Debian GNU/Linux, with Linux 6.1.0-40-amd64"),
        GrubCase(name: "a nested entry's id without its submenu names nothing", setDefault: "${saved_entry}",
                 grubenv: ["saved_entry": "gnulinux-6.1.0-40-amd64-advanced-U"], source: .savedEntry,
                 value: "gnulinux-6.1.0-40-amd64-advanced-U", named: nil, boots: "Debian GNU/Linux", unresolved: ["saved_entry"]),
        GrubCase(name: "a submenu alone opens its first entry", setDefault: "1", source: .grubConfig, value: "1", named: 1,
                 boots: "Debian GNU/Linux, with Linux 6.1.0-50-amd64"),
        GrubCase(name: ">> is a literal >", setDefault: "1>Kernel 1>>2", source: .grubConfig, value: "1>Kernel 1>>2",
                 named: 3, boots: "Kernel 1>2"),
        GrubCase(name: "a submenu without entries names nothing", setDefault: "2", source: .grubConfig, value: "2",
                 named: nil, boots: "Debian GNU/Linux", unresolved: ["grub.cfg"]),
        GrubCase(name: "an index past the menu", setDefault: "9", source: .grubConfig, value: "9", named: nil,
                 boots: "Debian GNU/Linux", unresolved: ["grub.cfg"]),
        GrubCase(name: "the item after the empty submenu keeps its index", setDefault: "3", source: .grubConfig, value: "3",
                 named: 4, boots: "UEFI Firmware Settings"),
        GrubCase(name: "next_entry over saved_entry", setDefault: "${saved_entry}",
                 grubenv: ["next_entry": "1>1", "saved_entry": "0"], source: .nextEntry, value: "1>1", named: 2,
                 boots: "Debian GNU/Linux, with Linux 6.1.0-40-amd64"),
        GrubCase(name: "next_entry over a literal default", setDefault: "0", grubenv: ["next_entry": "gnulinux-advanced-U>odd"],
                 source: .nextEntry, value: "gnulinux-advanced-U>odd", named: 3, boots: "Kernel 1>2"),
        GrubCase(name: "an empty next_entry is no choice", setDefault: "${saved_entry}",
                 grubenv: ["next_entry": "", "saved_entry": "1>0"], source: .savedEntry, value: "1>0", named: 1,
                 boots: "Debian GNU/Linux, with Linux 6.1.0-50-amd64"),
        GrubCase(name: "next_entry naming nothing boots the first entry", setDefault: "${saved_entry}",
                 grubenv: ["next_entry": "gnulinux-6.0.0-gone"], source: .nextEntry, value: "gnulinux-6.0.0-gone", named: nil,
                 boots: "Debian GNU/Linux", unresolved: ["next_entry"]),
        GrubCase(name: "a dangling saved_entry matters after next_entry", setDefault: "${saved_entry}",
                 grubenv: ["next_entry": "0", "saved_entry": "gone"], source: .nextEntry, value: "0", named: 0,
                 boots: "Debian GNU/Linux", unresolved: ["saved_entry"]),
        GrubCase(name: "GRUB_DEFAULT=saved with saved_entry unset: the first entry", setDefault: "${saved_entry}",
                 defaultGrub: "GRUB_DEFAULT=saved\n", source: .savedEntry, value: "", named: 0, boots: "Debian GNU/Linux"),
        GrubCase(name: "GRUB_DEFAULT=saved is never checked as a name", setDefault: "${saved_entry}",
                 grubenv: ["saved_entry": "1>1"], defaultGrub: "GRUB_DEFAULT=saved\n", source: .savedEntry, value: "1>1",
                 named: 2, boots: "Debian GNU/Linux, with Linux 6.1.0-40-amd64"),
        GrubCase(name: "a GRUB_DEFAULT the next grub-mkconfig would write names nothing", setDefault: "0",
                 defaultGrub: "GRUB_DEFAULT=\"gnulinux-6.0.0-gone\"\n", source: .grubConfig, value: "0", named: 0,
                 boots: "Debian GNU/Linux", unresolved: ["GRUB_DEFAULT"]),
        GrubCase(name: "a GRUB_DEFAULT that is grub.cfg's own is named once", setDefault: "7",
                 defaultGrub: "GRUB_DEFAULT=7\n", source: .grubConfig, value: "7", named: nil,
                 boots: "Debian GNU/Linux", unresolved: ["grub.cfg"]),
        GrubCase(name: "GRUB_DEFAULT by submenu path", setDefault: "0",
                 defaultGrub: "GRUB_DEFAULT=\"gnulinux-advanced-U>gnulinux-6.1.0-40-amd64-advanced-U\"\n",
                 source: .grubConfig, value: "0", named: 0, boots: "Debian GNU/Linux"),
    ]

    @Test(arguments: grubCases)
    func grubDefault(_ test: GrubCase) throws {
        let menu = try Self.grub(Self.grubCfg(default: test.setDefault), grubenv: test.grubenv, defaultGrub: test.defaultGrub)
        #expect(menu.entries.map(\.title) == Self.titles)
        #expect(menu.menuPaths == [[0], [1, 0], [1, 1], [1, 2], [3]])
        #expect(menu.defaultChoice.source == test.source)
        #expect(menu.defaultChoice.value == test.value)
        #expect(menu.defaultChoice.entryIndex == test.named)
        #expect(menu.defaultEntry?.title == test.boots)
        #expect(menu.unresolvedDefaults.map(\.name) == test.unresolved)
    }

    @Test func evidenceSaysWhereTheDefaultWasRead() throws {
        let saved = try Self.grub(Self.grubCfg(default: "${saved_entry}"), grubenv: ["saved_entry": "1>1"])
        #expect(saved.defaultChoice.evidence == Evidence(source: "/boot/grub/grubenv", detail: "saved_entry=1>1"))
        let unset = try Self.grub(Self.grubCfg(default: "${saved_entry}"))
        #expect(unset.defaultChoice.evidence.detail == "saved_entry is unset (grub.cfg line 11: set default=\"${saved_entry}\")")
        let literal = try Self.grub(Self.grubCfg(default: "0"))
        #expect(literal.defaultChoice.evidence == Evidence(source: "/boot/grub/grub.cfg", detail: "line 11: set default=\"0\""))
        let dangling = try Self.grub(Self.grubCfg(default: "0"), defaultGrub: "GRUB_TIMEOUT=5\nGRUB_DEFAULT=gone\n")
        #expect(dangling.unresolvedDefaults.first?.evidence
                == Evidence(source: "/etc/default/grub", detail: "line 2: GRUB_DEFAULT=gone (menu in /boot/grub/grub.cfg)"))
        let noDefault = try Self.grub("menuentry 'only' {\n linux /boot/vmlinuz-1\n}\n")
        #expect(noDefault.defaultChoice.source == .firstEntry)
        #expect(noDefault.defaultEntry?.title == "only")
    }

    @Test(arguments: [
        ("gnulinux-advanced-U>gnulinux-6.1.0-40-amd64-advanced-U", 2 as Int?),
        ("1>2", 3), ("1>Kernel 1>>2", 3), ("gnulinux-advanced-U", 1), ("", 0), ("-1", nil), ("1>3", nil),
        ("uefi-firmware", 4), ("Nothing here", nil), ("gnulinux-simple-U>0", nil),
    ])
    func grubNames(_ value: String, _ index: Int?) throws {
        #expect(try Self.grub(Self.grubCfg(default: "0")).entryIndex(named: value) == index)
    }

    @Test func grubEntriesReadTheirFilesAndCommandLine() throws {
        let menu = try Self.grub(Self.grubCfg(default: "0"))
        let first = try #require(menu.defaultEntry)
        #expect(first.kernel == "/boot/vmlinuz-6.1.0-50-amd64")
        #expect(first.initrd == "/boot/initrd.img-6.1.0-50-amd64")
        #expect(first.version == "6.1.0-50-amd64")
        #expect(first.options == ["root=UUID=U", "ro", "quiet"])
        #expect(first.source == "/boot/grub/grub.cfg" && first.line == 14)
        #expect(menu.entries[4].kernel == nil)
        #expect(menu.item(at: [1]) == BootMenu.Item(title: "Advanced options for Debian GNU/Linux", id: "gnulinux-advanced-U"))
        #expect(menu.item(at: [2]) == BootMenu.Item(title: "Nothing here", id: nil))
        #expect(menu.item(at: [7]).title.isEmpty)
    }

    /// The default is the entry GRUB starts even when its kernel file is gone: GRUB does
    /// not skip it (the boot then fails, which `bootloader-default-invalid` reports).
    /// A path written relative to /boot on a root whose /boot is not separate: the file
    /// that exists decides; when neither does, the path stays as written.
    static let oddKernelFiles: [(existing: [String], kernel: String)] = [
        ([], "/vmlinuz-odd"),
        (["/boot/vmlinuz-odd"], "/boot/vmlinuz-odd"),
        (["/vmlinuz-odd"], "/vmlinuz-odd"),
        (["/boot/vmlinuz-odd", "/vmlinuz-odd"], "/vmlinuz-odd"),
    ]

    @Test(arguments: oddKernelFiles)
    func missingKernelFilesDoNotMoveTheDefault(_ existing: [String], _ kernel: String) throws {
        let menu = try Self.grub(Self.grubCfg(default: "1>odd"), existing: Set(existing))
        #expect(menu.defaultChoice.entryIndex == 3)
        #expect(menu.defaultEntry?.kernel == kernel)
        #expect(menu.defaultEntry?.version == "odd")
        #expect(menu.unresolvedDefaults.isEmpty)
    }

    // MARK: - BLS

    static let fedora: [(name: String, text: String)] = [
        ("fedora-6.5.6.conf", "title Fedora (6.5.6-300.fc39.x86_64)\nversion 6.5.6-300.fc39.x86_64\nlinux /vmlinuz-6.5.6-300.fc39.x86_64\ninitrd /initramfs-6.5.6-300.fc39.x86_64.img\noptions $kernelopts\n"),
        ("fedora-6.8.1+0-3.conf", "title Fedora (6.8.1-100.fc39.x86_64)\nversion 6.8.1-100.fc39.x86_64\nlinux /vmlinuz-6.8.1-100.fc39.x86_64\noptions root=UUID=F ro\n"),
        ("fedora-6.7.4.conf", "title Fedora (6.7.4-200.fc39.x86_64)\nversion 6.7.4-200.fc39.x86_64\nlinux /vmlinuz-6.7.4-200.fc39.x86_64\noptions root=UUID=F ro rhgb\n"),
        ("fedora-6.6.9+2-1.conf", "title Fedora (6.6.9-200.fc39.x86_64)\nversion 6.6.9-200.fc39.x86_64\nlinux /vmlinuz-6.6.9-200.fc39.x86_64\noptions ${kernelopts}\n"),
        ("fedora-rescue.conf", "title Fedora (0-rescue)\nversion 0-rescue-abc\nlinux /vmlinuz-0-rescue-abc\n"),
    ]

    static func blsEntries(directory: String = "/boot/loader") throws -> [(directory: String, entry: LoaderEntry)] {
        try fedora.map { (directory, try LoaderEntry(fileName: $0.name, parsing: $0.text)) }
    }

    /// Newest first; the entry whose counter ran out (`+0-3`) last although it is the
    /// newest; one with tries left (`+2-1`) sorts by its version.
    static let blsOrder = ["fedora-6.7.4", "fedora-6.6.9", "fedora-6.5.6", "fedora-rescue", "fedora-6.8.1"]

    @Test(arguments: [
        (nil as String?, BootMenu.DefaultChoice.Source.firstEntry, "fedora-6.7.4", [String]()),
        ("default fedora-6.5.6.conf\n", .loaderConf, "fedora-6.5.6", []),
        ("default fedora-6.5.6\n", .loaderConf, "fedora-6.5.6", []),
        ("timeout 3\ndefault fedora-6.5.*\n", .loaderConf, "fedora-6.5.6", []),
        ("default fedora-6.[0-6].*\n", .loaderConf, "fedora-6.6.9", []),
        ("default fedora-6.8.1+0-3.conf\n", .loaderConf, "fedora-6.8.1", []),
        ("default fedora-6.8.1\n", .loaderConf, "fedora-6.8.1", []),
        ("default *\n", .loaderConf, "fedora-6.7.4", []),
        ("default fedora-rescue\ndefault fedora-6.6.9\n", .loaderConf, "fedora-6.6.9", []),
        ("#default fedora-rescue\n", .firstEntry, "fedora-6.7.4", []),
        ("default\tfedora-?escue\n", .loaderConf, "fedora-rescue", []),
        ("default debian-*\n", .loaderConf, "fedora-6.7.4", ["loader.conf"]),
    ])
    func loaderConfDefault(_ conf: String?, _ source: BootMenu.DefaultChoice.Source, _ boots: String, _ unresolved: [String]) throws {
        let menu = BootMenu.loaderEntries(try Self.blsEntries(), directory: "/boot/loader", loaderConf: conf,
                                          paths: LoaderPaths(bootIsSeparate: true, exists: { _ in false }))
        #expect(menu.entries.map { $0.id ?? "" } == Self.blsOrder)
        #expect(menu.defaultChoice.source == source)
        #expect(menu.defaultEntry?.id == boots)
        #expect(menu.defaultChoice.isValid == unresolved.isEmpty)
        #expect(menu.unresolvedDefaults.map(\.name) == unresolved)
    }

    @Test func blsEntriesReadTheirPartitionAndExpandGrubVariables() throws {
        // /boot separate: its entries' paths are relative to /boot.
        let boot = BootMenu.loaderEntries(try Self.blsEntries(), directory: "/boot/loader", loaderConf: nil,
                                          paths: LoaderPaths(bootIsSeparate: true, exists: { _ in false }))
        let newest = try #require(boot.defaultEntry)
        #expect(newest.kernel == "/boot/vmlinuz-6.7.4-200.fc39.x86_64")
        #expect(newest.origin == .loaderEntry && newest.source == "/boot/loader/entries/fedora-6.7.4.conf" && newest.line == 3)
        #expect(boot.entries.last?.source == "/boot/loader/entries/fedora-6.8.1+0-3.conf")
        // Entries on the ESP read from its mount point.
        let esp = BootMenu.loaderEntries(try Self.blsEntries(directory: "/efi/loader"), directory: "/efi/loader",
                                         loaderConf: nil, paths: LoaderPaths(bootIsSeparate: false, exists: { _ in false }))
        #expect(esp.defaultEntry?.kernel == "/efi/vmlinuz-6.7.4-200.fc39.x86_64")

        // grub.cfg calling blscfg: the BLS entries come first, grub.cfg's own after them,
        // and `$kernelopts` comes from grubenv.
        let cfg = "set default=\"${saved_entry}\"\nload_env\ninsmod blscfg\nblscfg\nmenuentry 'UEFI Firmware Settings' --id uefi-firmware {\n fwsetup\n}\n"
        let grub = try Self.grub(cfg, grubenv: ["saved_entry": "fedora-6.6.9", "kernelopts": "root=UUID=F ro quiet"],
                                 loaderEntries: try Self.blsEntries())
        #expect(grub.entries.map(\.title).last == "UEFI Firmware Settings")
        #expect(grub.menuPaths.last == [5])
        #expect(grub.defaultChoice.entryIndex == 1)
        #expect(grub.defaultEntry?.options == ["root=UUID=F", "ro", "quiet"])
        #expect(grub.entryIndex(named: "0") == 0 && grub.entryIndex(named: "5") == 5)
        #expect(grub.entryIndex(named: "uefi-firmware") == 5)
    }

    // MARK: - Paths

    @Test(arguments: [
        ("UUID=A / ext4 defaults 0 1\nUUID=B /boot ext4 defaults 0 2\n", true),
        ("UUID=A / ext4 defaults 0 1\nUUID=B\t/boot/\text4 defaults 0 2\n", true),
        ("UUID=A / ext4 defaults 0 1\n#UUID=B /boot ext4 defaults 0 2\n", false),
        ("UUID=A / ext4 defaults 0 1\nUUID=C /boot/efi vfat umask=0077 0 1\n", false),
        ("", false),
    ])
    func bootIsSeparate(_ fstab: String, _ separate: Bool) {
        #expect(LoaderPaths.bootIsSeparate(fstab: fstab) == separate)
    }

    static let loaderPaths: [(path: String, separate: Bool, mount: String?, existing: [String], expected: String)] = [
        ("/vmlinuz-6.1", true, nil, [], "/boot/vmlinuz-6.1"),
        ("(hd0,gpt2)/vmlinuz-6.1", true, nil, [], "/boot/vmlinuz-6.1"),
        ("vmlinuz-6.1", false, nil, ["/boot/vmlinuz-6.1"], "/boot/vmlinuz-6.1"),
        ("/boot/vmlinuz-6.1", false, nil, [], "/boot/vmlinuz-6.1"),
        ("/vmlinuz-6.1", false, nil, [], "/vmlinuz-6.1"),
        ("/vmlinuz-6.1", false, "/efi", ["/vmlinuz-6.1"], "/efi/vmlinuz-6.1"),
        ("/EFI/Linux/x.efi", false, "/boot/efi", [], "/boot/efi/EFI/Linux/x.efi"),
    ]

    @Test(arguments: loaderPaths)
    func loaderPathsAsTheRootSeesThem(_ path: String, _ separate: Bool, _ mount: String?, _ existing: [String],
                                      _ expected: String) {
        let paths = LoaderPaths(bootIsSeparate: separate, exists: { existing.contains($0) })
        #expect(paths.rootPath(path, partitionMount: mount ?? paths.bootPartition) == expected)
    }

    @Test(arguments: [
        ("/boot/vmlinuz-6.1.0-50-cloud-amd64", "6.1.0-50-cloud-amd64" as String?), ("vmlinux-6.8", "6.8"),
        ("/kernel-6.5", "6.5"), ("/boot/vmlinuz", nil), ("/boot/vmlinuz-", nil), ("/EFI/Linux/x.efi", nil),
    ])
    func kernelVersionFromTheFileName(_ path: String, _ version: String?) {
        #expect(LoaderPaths.kernelVersion(path) == version)
    }

    // MARK: - Globs

    /// The same answers as glibc's fnmatch(3) with no flags.
    @Test(arguments: [
        ("*", ""), ("*", "fedora-6.5.6.conf"), ("fedora-*", "fedora-6.5.6"), ("fedora-*", "debian-6"),
        ("*.conf", "a.conf"), ("*.conf", "a.conf.bak"), ("a*b*c", "aXbYc"), ("a*b*c", "aXbYd"), ("a*b*c", "abcbc"),
        ("?", "a"), ("?", ""), ("??", "a"), ("f?d*", "fed-1"), ("*/x", "a/b/x"), ("*", ".hidden"),
        ("[abc]", "b"), ("[abc]", "d"), ("[!abc]", "d"), ("[^abc]", "a"), ("[a-c]x", "bx"), ("[a-c]x", "dx"),
        ("[]a]", "]"), ("[!]a]", "]"), ("[a-]", "-"), ("[-a]", "-"), ("[", "["), ("[ab", "[ab"), ("a[", "a["),
        ("\\*", "*"), ("\\*", "a"), ("a\\", "a\\"), ("a\\", "a"), ("[\\]]", "]"), ("[[:digit:]]x", "7x"),
        ("[[:digit:]]x", "ax"), ("[![:alpha:]]", "1"), ("[[:upper:][:digit:]]", "Q"), ("6.[0-5].*", "6.5.6"),
        ("6.[0-5].*", "6.6.9"), ("*+[0-9]*", "fedora+0-3"), ("**a", "xxa"), ("*a*", "bbb"),
    ])
    func globMatchesLikeFnmatch(_ pattern: String, _ name: String) {
        #expect(Fnmatch.matches(pattern, name) == (fnmatch(pattern, name, 0) == 0), "\(pattern) ~ \(name)")
    }
}
