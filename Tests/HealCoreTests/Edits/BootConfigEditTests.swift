import Testing
@testable import HealCore

/// Edits of grub.cfg, BLS entries and /etc/default/grub: one value changes where it is
/// written, everything else stays byte for byte.
@Suite struct BootConfigEditTests {
    static let bad = "UUID=0b2c6a6e-0000-4000-8000-00000000beef"
    static let good = "UUID=5f1b3a52-8c1e-4c53-9a36-2b7b2c1d0e01"

    @Test(arguments: [
        // Every kernel line with the bad value, nested or not; the echo line is not a kernel line.
        ("menuentry 'A' {\n\techo\t'root=\(bad)'\n\tlinux\t/boot/vmlinuz root=\(bad) ro quiet\n}\nsubmenu 'S' {\n\tmenuentry 'B' {\n\t\tlinux /boot/vmlinuz root=\(bad)\n\t}\n}",
         "menuentry 'A' {\n\techo\t'root=\(bad)'\n\tlinux\t/boot/vmlinuz root=\(good) ro quiet\n}\nsubmenu 'S' {\n\tmenuentry 'B' {\n\t\tlinux /boot/vmlinuz root=\(good)\n\t}\n}",
         [3, 7]),
        // A longer value that starts with the bad one is another value.
        ("linux /v root=\(bad)0 ro\n", "linux /v root=\(bad)0 ro\n", []),
        // `noroot=` is another argument.
        ("linuxefi /v noroot=\(bad) root=\(bad)\n", "linuxefi /v noroot=\(bad) root=\(good)\n", [1]),
    ])
    func grubConfigKernelLines(text: String, expected: String, lines: [Int]) {
        let result = BootConfigEdit.replacingKernelArgument("root", value: Self.bad, with: Self.good, inGrubConfig: Array(text.utf8))
        #expect(String(decoding: result.bytes, as: UTF8.self) == expected)
        #expect(result.lines == lines)
    }

    @Test(arguments: [
        ("GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"root=\(bad) console=ttyS0\"\n# GRUB_CMDLINE_LINUX=\"root=\(bad)\"\n",
         "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"root=\(good) console=ttyS0\"\n# GRUB_CMDLINE_LINUX=\"root=\(bad)\"\n"),
        ("export GRUB_CMDLINE_LINUX_DEFAULT='quiet root=\(bad)'", "export GRUB_CMDLINE_LINUX_DEFAULT='quiet root=\(good)'"),
        ("GRUB_CMDLINE_LINUX=root=\(bad)\n", "GRUB_CMDLINE_LINUX=root=\(good)\n"),
    ])
    func defaultGrubAssignments(text: String, expected: String) {
        let result = BootConfigEdit.replacingKernelArgument("root", value: Self.bad, with: Self.good, inDefaultGrub: Array(text.utf8))
        #expect(String(decoding: result.bytes, as: UTF8.self) == expected)
    }

    @Test func loaderEntryOptions() {
        let text = "title Fedora\nlinux /vmlinuz\noptions root=\(Self.bad) ro\noptions rhgb\n"
        let result = BootConfigEdit.replacingKernelArgument("root", value: Self.bad, with: Self.good, inLoaderEntry: Array(text.utf8))
        #expect(String(decoding: result.bytes, as: UTF8.self) == text.replacingOccurrences(Self.bad, Self.good))
        #expect(result.lines == [3])
    }

    @Test(arguments: [
        ("   set default=\"0\"\n", "default", "gnulinux-simple-x", "   set default=\"gnulinux-simple-x\"\n"),
        ("set default=0; set timeout=5", "default", "1>0", "set default=\"1>0\"; set timeout=5"),
        ("GRUB_DEFAULT='Advanced options>Debian'  # note\n", "GRUB_DEFAULT", "a\"b$c", "GRUB_DEFAULT=\"a\\\"b\\$c\"  # note\n"),
        ("GRUB_DEFAULT=\"with space\"\n", "GRUB_DEFAULT", "0", "GRUB_DEFAULT=\"0\"\n"),
    ])
    func setsAnAssignment(text: String, name: String, value: String, expected: String) throws {
        let result = try BootConfigEdit.settingAssignment(name, to: value, line: 1, in: Array(text.utf8))
        #expect(String(decoding: result, as: UTF8.self) == expected)
    }

    @Test func refusesALineWithoutTheAssignment() {
        #expect(throws: BootConfigEdit.Error.noAssignment(name: "default", line: 1)) {
            try BootConfigEdit.settingAssignment("default", to: "0", line: 1, in: Array("set timeout=5\n".utf8))
        }
    }

    @Test func replacesKernelAndInitrdPathsOnly() {
        let text = "\techo 'Loading /boot/vmlinuz-1'\n\tlinux\t/boot/vmlinuz-1 init=/boot/vmlinuz-1\n\tinitrd\t/ucode.img /boot/initrd.img-1\n"
        var result = BootConfigEdit.replacingBootPath("/boot/vmlinuz-1", with: "/boot/vmlinuz-2", inGrubConfig: Array(text.utf8))
        result = BootConfigEdit.replacingBootPath("/boot/initrd.img-1", with: "/boot/initrd.img-2", inGrubConfig: result.bytes)
        #expect(String(decoding: result.bytes, as: UTF8.self)
                == "\techo 'Loading /boot/vmlinuz-1'\n\tlinux\t/boot/vmlinuz-2 init=/boot/vmlinuz-1\n\tinitrd\t/ucode.img /boot/initrd.img-2\n")
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
