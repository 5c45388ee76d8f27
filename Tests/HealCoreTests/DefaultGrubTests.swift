import Testing
@testable import HealCore

@Suite struct DefaultGrubTests {
    @Test func readsDebiansFile() throws {
        let text = """
            # If you change this file, run 'update-grub' afterwards
            GRUB_DEFAULT=0
            GRUB_TIMEOUT=5
            GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
            GRUB_CMDLINE_LINUX_DEFAULT="quiet"
            GRUB_CMDLINE_LINUX="console=ttyS0"
            #GRUB_TERMINAL=console

            """
        let grub = try DefaultGrub(parsing: text)
        #expect(grub.grubDefault == "0")
        #expect(grub["GRUB_DISTRIBUTOR"] == "`lsb_release -i -s 2> /dev/null || echo Debian`")
        #expect(grub.normalCommandLine == ["console=ttyS0", "quiet"])
        #expect(grub["GRUB_TERMINAL"] == nil)
        #expect(grub.lines["GRUB_CMDLINE_LINUX"] == 6)
    }

    @Test(arguments: [
        ("A='x y'", "x y"),
        ("A=\"a \\\"b\\\" \\$c\"", "a \"b\" $c"),
        ("A=plain\\ word", "plain word"),
        ("A=\"one\\\ntwo\"", "onetwo"),
        ("A='it'\"'\"'s'", "it's"),
        ("export A=exported", "exported"),
        ("A=1; A=2", "2"),
        ("A=\"Advanced options for Debian>Debian, with Linux 6.1\"", "Advanced options for Debian>Debian, with Linux 6.1"),
    ])
    func quoting(line: String, value: String) throws {
        #expect(try DefaultGrub(parsing: line)["A"] == value)
    }

    @Test func dropInsExtendEarlierValues() throws {
        let base = try DefaultGrub(parsing: "GRUB_CMDLINE_LINUX=\"console=ttyS0\"\n")
        let merged = try DefaultGrub(parsing: "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX root=UUID=x\"\n", inheriting: base)
        #expect(merged["GRUB_CMDLINE_LINUX"] == "console=ttyS0 root=UUID=x")
        let braces = try DefaultGrub(parsing: "B=${GRUB_CMDLINE_LINUX}-y", inheriting: base)
        #expect(braces["B"] == "console=ttyS0-y")
    }

    @Test func commandsAreNotAssignments() throws {
        let grub = try DefaultGrub(parsing: "A=1 somecommand\necho B=2\nif [ x ]; then C=3; fi\n")
        #expect(grub["A"] == nil)
        #expect(grub["B"] == nil)
        #expect(grub.grubDefault == "0")
    }

    @Test func unterminatedQuoteIsAnError() {
        #expect(throws: DefaultGrub.Error.unterminatedQuote(line: 2)) {
            try DefaultGrub(parsing: "A=1\nGRUB_CMDLINE_LINUX=\"quiet\nB=2\n")
        }
    }
}
