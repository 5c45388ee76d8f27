import Testing
@testable import HealCore

@Suite struct LoaderEntryTests {
    @Test(arguments: [
        ("fedora-6.5.conf", "fedora-6.5", nil, 0, LoaderEntry.FileName.Assessment.good),
        ("fedora-6.5+3.conf", "fedora-6.5", 3, 0, .indeterminate),
        ("fedora-6.5+2-1.conf", "fedora-6.5", 2, 1, .indeterminate),
        ("fedora-6.5+0-3.conf", "fedora-6.5", 0, 3, .bad),
        ("a+b+1-2.conf", "a+b", 1, 2, .indeterminate),
        ("weird+x.conf", "weird+x", nil, 0, .good),
        ("weird+1-.conf", "weird+1-", nil, 0, .good),
    ] as [(String, String, Int?, Int, LoaderEntry.FileName.Assessment)])
    func fileNameCounters(name: String, id: String, left: Int?, done: Int, assessment: LoaderEntry.FileName.Assessment) throws {
        let parsed = try #require(LoaderEntry.FileName(parsing: name))
        #expect(parsed.id == id)
        #expect(parsed.triesLeft == left)
        #expect(parsed.triesDone == done)
        #expect(parsed.assessment == assessment)
        #expect(parsed.description == name)
    }

    @Test func countersStepAsSystemdRenames() throws {
        // +3 → +2-1 → +1-2 → +0-3 (AUTOMATIC_BOOT_ASSESSMENT.md)
        var name = try #require(LoaderEntry.FileName(parsing: "e+3.conf"))
        var seen: [String] = []
        while let left = name.triesLeft, left > 0 {
            name.triesLeft = left - 1
            name.triesDone += 1
            seen.append(name.description)
        }
        #expect(seen == ["e+2-1.conf", "e+1-2.conf", "e+0-3.conf"])
        #expect(name.assessment == .bad)
    }

    @Test func parsesAnEntry() throws {
        let text = """
            # Boot Loader Specification type#1 entry
            title      Fedora Linux 39 (Cloud Edition)
            version    6.5.6-300.fc39.x86_64
            machine-id 0123456789abcdef0123456789abcdef
            linux      /vmlinuz-6.5.6-300.fc39.x86_64
            initrd     /intel-ucode.img
            initrd     /initramfs-6.5.6-300.fc39.x86_64.img
            options    root=UUID=abc ro
            options    quiet
            grub_users $grub_users

            """
        let entry = try LoaderEntry(fileName: "0123-6.5.6-300.fc39.x86_64+2-1.conf", parsing: text)
        #expect(entry.title == "Fedora Linux 39 (Cloud Edition)")
        #expect(entry.version == "6.5.6-300.fc39.x86_64")
        #expect(entry.linux == "/vmlinuz-6.5.6-300.fc39.x86_64")
        #expect(entry.linuxLine == 5)
        #expect(entry.initrds == ["/intel-ucode.img", "/initramfs-6.5.6-300.fc39.x86_64.img"])
        #expect(entry.options == ["root=UUID=abc", "ro", "quiet"])
        #expect(entry.unknownKeys == ["grub_users"])
        #expect(entry.fileName.triesLeft == 2)
    }

    // Found by Fuzz/Harnesses/LoaderEntryFuzz.swift: "\r\n" is one Character, so lines
    // split at the Character "\n" read a CRLF file as one line ("0.conf", "\r\n" minimized).
    @Test(arguments: [
        ("\r\n", nil, nil, nil, [String]()),
        ("title Fedora\r\nlinux /vmlinuz\r\noptions ro\r\n", "Fedora", "/vmlinuz", 2, []),
        ("title Fedora\rlinux /vmlinuz\r", "Fedora", "/vmlinuz", 2, []),
        ("title Fedora\r\n\r\nx\ry\n", "Fedora", nil, nil, ["x", "y"]),
    ] as [(String, String?, String?, Int?, [String])])
    func linesEndAsSystemdReadsThem(text: String, title: String?, linux: String?, linuxLine: Int?, unknown: [String]) throws {
        let entry = try LoaderEntry(fileName: "0.conf", parsing: text)
        #expect(entry.title == title)
        #expect(entry.linux == linux)
        #expect(entry.linuxLine == linuxLine)
        #expect(entry.unknownKeys == unknown)
    }

    @Test func refusesBinaryAndBadNames() {
        #expect(throws: LoaderEntry.Error.binary(file: "x.conf")) { try LoaderEntry(fileName: "x.conf", parsing: "title \0\u{1}") }
        #expect(throws: LoaderEntry.Error.badFileName("x.txt")) { try LoaderEntry(fileName: "x.txt", parsing: "") }
    }

    @Test func garbageTextIsReadWithoutKeys() throws {
        let entry = try LoaderEntry(fileName: "junk.conf", parsing: "}}}{{ ===\n\t\nlinux")
        #expect(entry.linux == "")
        #expect(entry.title == nil)
        #expect(entry.unknownKeys == ["}}}{{"])
    }
}
