import Testing
@testable import HealCore

@Suite struct GrubConfigTests {
    static let debian = """
        ### BEGIN /etc/grub.d/00_header ###
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
           set default="${saved_entry}"
        fi
        function savedefault {
          if [ -z "${boot_once}" ]; then
            saved_entry="${chosen}"
            save_env saved_entry
          fi
        }
        set timeout=5
        menuentry 'Debian GNU/Linux' --class debian --class os $menuentry_id_option 'gnulinux-simple-U' {
        \tinsmod ext2
        \tlinux\t/boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=U ro console=ttyS0 quiet
        \tinitrd\t/boot/intel-ucode.img /boot/initrd.img-6.1.0-50-cloud-amd64
        }
        submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-U' {
        \tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-50-cloud-amd64-advanced-U' {
        \t\tlinux\t/boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=U ro
        \t}
        \tmenuentry "Debian \\"old\\" kernel" --id=old {
        \t\tlinuxefi /vmlinuz-old root=$rootdev ro; initrdefi /initrd.img-old
        \t}
        }
        menuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' {
        \tfwsetup
        }

        """

    @Test func readsMenuAndSubmenus() throws {
        let config = try GrubConfig(parsing: Self.debian)
        #expect(config.menu.map(\.title) == ["Debian GNU/Linux", "Advanced options for Debian GNU/Linux", "UEFI Firmware Settings"])
        #expect(config.menu.map(\.id) == ["gnulinux-simple-U", "gnulinux-advanced-U", "uefi-firmware"])
        let flat = config.flattenedEntries
        #expect(flat.map(\.path) == [[0], [1, 0], [1, 1], [2]])
        let first = flat[0].entry
        #expect(first.linux.map(\.description) == ["/boot/vmlinuz-6.1.0-50-cloud-amd64", "root=UUID=U", "ro", "console=ttyS0", "quiet"])
        #expect(first.initrds.map(\.description) == ["/boot/intel-ucode.img", "/boot/initrd.img-6.1.0-50-cloud-amd64"])
        #expect(first.line == 21)
        #expect(first.linuxLine == 23)
        let old = flat[2].entry
        #expect(old.title == "Debian \"old\" kernel")
        #expect(old.id == "old")
        #expect(old.linux.map { $0.expanded(["rootdev": "/dev/vda1"]) } == ["/vmlinuz-old", "root=/dev/vda1", "ro"])
        #expect(old.initrds.map(\.description) == ["/initrd.img-old"])
        #expect(flat[3].entry.linux.isEmpty)
        #expect(!config.usesLoaderEntries)
    }

    @Test func recordsDefaultAssignmentsWithTheirBranches() throws {
        let config = try GrubConfig(parsing: Self.debian)
        let defaults = config.assignments.filter { $0.name == "default" }
        #expect(defaults.map(\.value.description) == ["${next_entry}", "${saved_entry}"])
        #expect(defaults[0].conditions.count == 1 && !defaults[0].conditions[0].negated)
        #expect(defaults[0].conditions[0].mentions("next_entry"))
        #expect(defaults[1].conditions.count == 1 && defaults[1].conditions[0].negated)
        #expect(defaults.map(\.line) == [7, 12])
        // The function body is not run when the file is read.
        #expect(!config.assignments.contains { $0.name == "saved_entry" })
        #expect(config.assignments.contains { $0.name == "timeout" && $0.value.literal == "5" && $0.conditions.isEmpty })
    }

    @Test func elifChainsNegateEarlierTests() throws {
        let config = try GrubConfig(parsing: """
            if [ a ]; then set x=1
            elif [ b ]; then set x=2
            else set x=3; fi
            """)
        let xs = config.assignments.filter { $0.name == "x" }
        #expect(xs.map { $0.conditions.map(\.negated) } == [[false], [true, false], [true, true]])
    }

    @Test func fedoraBlscfgIsNoticed() throws {
        let config = try GrubConfig(parsing: "load_env -f ${config_directory}/grubenv\ninsmod blscfg\nblscfg\n")
        #expect(config.usesLoaderEntries)
        #expect(config.menu.isEmpty)
    }

    @Test(arguments: [
        ("menuentry 'x' {\n linux /v\n", GrubConfig.Error.unclosed(block: "menuentry", line: 1)),
        ("menuentry 'x {\n}\n", .unterminated(what: "'", line: 1)),
        ("set default=\"0\n", .unterminated(what: "\"", line: 1)),
        ("}\n", .unexpected(token: "}", line: 1)),
        ("fi\n", .unexpected(token: "\"fi\"", line: 1)),
        ("if [ x ]; then\nset a=1\n", .unclosed(block: "if", line: 1)),
        ("menuentry 'no brace'\nlinux /x\n", .unexpected(token: "menuentry without {", line: 1)),
        ("echo ${unclosed\n", .unterminated(what: "${", line: 1)),
        ("\u{0}\u{1}\u{2}binary", .binary),
    ])
    func rejectsWhatGrubCannotParse(text: String, error: GrubConfig.Error) {
        #expect(throws: error) { try GrubConfig(parsing: text) }
    }

    // Found with the grub.cfg fuzz harness: 30,000 nested `{` (60 KB) overflowed the
    // recursive parser's stack (a 2 MB grub.cfg made `detect` die of SIGSEGV).
    static func nesting(_ kind: String, _ count: Int) -> String {
        switch kind {
        case "{": String(repeating: "{ ", count: count)
        case "if": String(repeating: "if a; then\n", count: count) + "set x=1\n" + String(repeating: "fi\n", count: count)
        case "submenu": String(repeating: "submenu s {\n", count: count) + "set x=1\n" + String(repeating: "}\n", count: count)
        default: "if a; then\nset x=1\n" + String(repeating: "elif b; then\nset x=1\n", count: count) + "fi\n"
        }
    }

    @Test(arguments: [
        ("{", 30000, 1),
        ("if", GrubConfig.maximumDepth, GrubConfig.maximumDepth),
        ("submenu", GrubConfig.maximumDepth, GrubConfig.maximumDepth),
        ("elif", 30000, 2 * GrubConfig.maximumDepth - 1),
    ])
    func refusesNestingDeeperThanTheBound(kind: String, count: Int, line: Int) {
        #expect(throws: GrubConfig.Error.tooDeep(line: line)) { try GrubConfig(parsing: Self.nesting(kind, count)) }
    }

    @Test(arguments: [
        ("if", GrubConfig.maximumDepth - 1, 1),
        ("submenu", GrubConfig.maximumDepth - 1, 1),
        ("elif", GrubConfig.maximumDepth - 2, GrubConfig.maximumDepth - 1),
    ])
    func readsNestingUpToTheBound(kind: String, count: Int, assignments: Int) throws {
        let config = try GrubConfig(parsing: Self.nesting(kind, count))
        #expect(config.assignments.count == assignments)
    }

    @Test func errorsNameTheLine() {
        #expect(GrubConfig.Error.unclosed(block: "menuentry", line: 4).description
                == "cannot parse grub.cfg line 4: menuentry has no matching end")
    }

    @Test(arguments: [
        ("6.1.0-50-cloud-amd64", "6.1.0-9-cloud-amd64", 1),
        ("6.1.0-10-amd64", "6.1.0-9-amd64", 1),
        ("5.10.0-1", "6.1.0-1", -1),
        ("6.1.0-rc1", "6.1.0", 1),
        ("6.1.0~rc1", "6.1.0", -1),
        ("1:1.0", "2.0", 1),
        ("6.1.0-50-cloud-amd64", "6.1.0-50-cloud-amd64", 0),
        ("6.5.6-300.fc39.x86_64", "6.5.12-300.fc39.x86_64", -1),
    ])
    func versionsOrderAsDpkg(a: String, b: String, sign: Int) {
        #expect(GrubConfig.compareVersions(a, b).signum() == sign)
        #expect(GrubConfig.compareVersions(b, a).signum() == -sign)
    }
}
