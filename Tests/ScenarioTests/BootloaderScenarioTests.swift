import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Helpers shared by the boot loader, boot counter and root device scenarios.
enum BootScenario {
    static let detectors: [any Detector] = [
        BootloaderEnvDetector(), BootloaderDefaultDetector(), BootFailuresDetector(), RootDeviceDetector(),
    ]
    static var kernel: String { TestRoot.kernelVersion }
    static var uuid: String { TestRoot.rootUUID }

    /// Runs the four boot detectors with the root's image as its disk.
    static func detect(_ root: String, countsCurrentBoot: Bool = false, thresholds: Thresholds = Thresholds()) throws -> [Finding] {
        let context = DetectionContext(root: try SystemRoot(root), thresholds: thresholds,
                                       extraDevices: [TestRoot.image], countsCurrentBoot: countsCurrentBoot)
        return try detectors.flatMap { try $0.detect(context) }
    }

    static func classes(_ findings: [Finding]) -> Set<FailureClass> { Set(findings.map(\.failureClass)) }

    /// Replaces a file in the copy (removed first so the overlay holds a new file).
    static func write(_ copy: OverlayCopy, _ path: String, _ data: Data) throws {
        try? FileManager.default.removeItem(atPath: copy.at(path))
        try FileManager.default.createDirectory(atPath: (copy.at(path) as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: copy.at(path)))
    }

    static func write(_ copy: OverlayCopy, _ path: String, _ text: String) throws {
        try write(copy, path, Data(text.utf8))
    }

    static func original(_ path: String) throws -> String {
        try String(contentsOfFile: TestRoot.root + path, encoding: .utf8)
    }

    /// Edits the copy's grubenv with GRUB's own tool.
    static func editenv(_ copy: OverlayCopy, _ arguments: [String]) throws {
        let result = try Tool.run("grub-editenv", [copy.at("/boot/grub/grubenv")] + arguments)
        try #require(result.status == 0, "grub-editenv: \(result.stderr)")
    }

    /// Switches the copy to GRUB_DEFAULT=saved, as update-grub would write it.
    static func useSavedDefault(_ copy: OverlayCopy) throws {
        try write(copy, "/etc/default/grub", try original("/etc/default/grub").replacing("GRUB_DEFAULT=0", with: "GRUB_DEFAULT=saved"))
        try write(copy, "/boot/grub/grub.cfg", try original("/boot/grub/grub.cfg")
            .replacing("set default=\"0\"", with: "set default=\"${saved_entry}\""))
    }
}

@Suite("boot loader scenarios on the real test root", .serialized)
struct BootloaderScenarioTests {
    @Test("healthy root: none of the boot detectors reports anything")
    func healthy() throws {
        #expect(try BootScenario.detect(TestRoot.root) == [])
        #expect(try BootScenario.detect(TestRoot.root, countsCurrentBoot: true) == [])
    }

    @Test("a damaged grubenv is bootloader-env-corrupt, and only that", arguments: ["truncated", "garbage", "header", "unparsable", "oversized"])
    func corruptGrubenv(kind: String) throws {
        let copy = try TestRoot.writableCopy()
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: TestRoot.root + "/boot/grub/grubenv")))
        var bytes: [UInt8]
        let expected: String
        switch kind {
        case "truncated":
            bytes = Array(good.prefix(512)); expected = "512 bytes, not 1024"
        case "garbage":
            var generator = SystemRandomNumberGenerator()
            bytes = (0..<1024).map { _ in UInt8.random(in: 0...255, using: &generator) }
            bytes[0] = 0  // never the header by chance
            expected = "does not start with"
        case "header":
            bytes = good; bytes[2] = UInt8(ascii: "B"); expected = "does not start with"
        case "unparsable":
            bytes = good
            let line = Array("saved_entry=0\nthis is not a variable\n".utf8)
            bytes.replaceSubrange(94..<(94 + line.count), with: line)
            expected = "line 4"
        default:
            bytes = good + Array("saved_entry=0\n".utf8); expected = "1038 bytes"
        }
        try BootScenario.write(copy, "/boot/grub/grubenv", Data(bytes))
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.bootloaderEnvCorrupt])
        let finding = try #require(findings.first)
        #expect(finding.evidence.first?.source == "/boot/grub/grubenv")
        #expect(finding.summary.contains(expected))
        if kind == "unparsable" {
            #expect(finding.evidence.last?.detail == "variables still readable: saved_entry=0")
        }
    }

    @Test("no grubenv is fine: GRUB boots without one")
    func missingGrubenv() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/boot/grub/grubenv"))
        #expect(try BootScenario.detect(copy.path) == [])
    }

    @Test("saved_entry naming no entry, with GRUB_DEFAULT=saved")
    func savedEntryNamesNothing() throws {
        let copy = try TestRoot.writableCopy()
        try BootScenario.useSavedDefault(copy)
        try BootScenario.editenv(copy, ["set", "saved_entry=gnulinux-5.10.0-99-amd64-advanced-gone"])
        let configuration = try BootConfiguration.load(SystemRoot(copy.path))
        #expect(configuration.defaultChoice.source == .savedEntry)
        #expect(!configuration.defaultChoice.isValid)
        // GRUB falls back to the first entry.
        #expect(configuration.defaultEntry?.title == "Debian GNU/Linux")
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.bootloaderDefaultInvalid])
        let finding = try #require(findings.first)
        #expect(finding.summary.contains("saved_entry \"gnulinux-5.10.0-99-amd64-advanced-gone\" names no boot entry"))
        #expect(finding.evidence[0] == Evidence(source: "/boot/grub/grubenv", detail: "saved_entry=gnulinux-5.10.0-99-amd64-advanced-gone"))
        #expect(finding.evidence[1].detail.contains("gnulinux-simple-\(BootScenario.uuid)"))
    }

    @Test("saved_entry by id path, title path and index path picks the entry GRUB would", arguments: [
        "gnulinux-advanced-U>gnulinux-K-recovery-U",
        "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux K (recovery mode)",
        "1>1",
    ])
    func savedEntryForms(value: String) throws {
        let copy = try TestRoot.writableCopy()
        try BootScenario.useSavedDefault(copy)
        let saved = value.replacing(">gnulinux-K", with: ">gnulinux-\(BootScenario.kernel)")
            .replacing("Linux K ", with: "Linux \(BootScenario.kernel) ").replacing("-U", with: "-\(BootScenario.uuid)")
        try BootScenario.editenv(copy, ["set", "saved_entry=\(saved)"])
        let configuration = try BootConfiguration.load(SystemRoot(copy.path))
        #expect(configuration.defaultChoice.isValid)
        #expect(configuration.defaultEntry?.options.contains("single") == true)
        #expect(configuration.defaultEntry?.title.hasSuffix("(recovery mode)") == true)
        #expect(try BootScenario.detect(copy.path) == [])
    }

    @Test("grub-reboot's next_entry naming no entry")
    func nextEntryNamesNothing() throws {
        let copy = try TestRoot.writableCopy()
        try BootScenario.editenv(copy, ["set", "next_entry=7"])
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.bootloaderDefaultInvalid])
        #expect(findings.first?.summary.contains("next_entry \"7\"") == true)
    }

    @Test("GRUB_DEFAULT naming no entry in /etc/default/grub")
    func grubDefaultNamesNothing() throws {
        let copy = try TestRoot.writableCopy()
        try BootScenario.write(copy, "/etc/default/grub", try BootScenario.original("/etc/default/grub")
            .replacing("GRUB_DEFAULT=0", with: "GRUB_DEFAULT=\"Advanced options for Debian GNU/Linux>Debian 9\""))
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.bootloaderDefaultInvalid])
        #expect(findings.first?.evidence.first?.source == "/etc/default/grub")
        #expect(findings.first?.evidence.first?.detail.hasPrefix("line 2: GRUB_DEFAULT=") == true)
    }

    @Test("the default entry's kernel deleted")
    func defaultKernelDeleted() throws {
        let copy = try TestRoot.writableCopy()
        let path = "/boot/vmlinuz-\(BootScenario.kernel)"
        try FileManager.default.removeItem(atPath: copy.at(path))
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.bootloaderDefaultInvalid])
        let finding = try #require(findings.first)
        #expect(finding.summary.contains(path))
        #expect(finding.evidence.contains(Evidence(source: path, detail: "does not exist")))
        #expect(finding.evidence[0].source == "/boot/grub/grub.cfg:32")
    }

    @Test("the default entry's initrd deleted is initramfs-missing's, not a boot loader finding")
    func defaultInitrdDeleted() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/boot/initrd.img-\(BootScenario.kernel)"))
        #expect(try BootScenario.detect(copy.path) == [])
        // The entry still names it, for the initramfs detector to check.
        let configuration = try BootConfiguration.load(SystemRoot(copy.path))
        #expect(configuration.defaultEntry?.initrd == "/boot/initrd.img-\(BootScenario.kernel)")
    }

    @Test("BLS-only root whose loader.conf default matches no entry")
    func loaderConfDefaultNamesNothing() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/boot/grub/grub.cfg"))
        try BootScenario.write(copy, "/boot/loader/entries/debian-\(BootScenario.kernel).conf", """
            title Debian \(BootScenario.kernel)
            version \(BootScenario.kernel)
            linux /boot/vmlinuz-\(BootScenario.kernel)
            initrd /boot/initrd.img-\(BootScenario.kernel)
            options root=UUID=\(BootScenario.uuid) ro console=ttyS0

            """)
        #expect(try BootScenario.detect(copy.path) == [])
        let configuration = try BootConfiguration.load(SystemRoot(copy.path))
        #expect(configuration.loader == .loaderEntries(directory: "/boot/loader/entries"))
        #expect(configuration.defaultEntry?.kernel == "/boot/vmlinuz-\(BootScenario.kernel)")

        try BootScenario.write(copy, "/boot/loader/loader.conf", "timeout 3\ndefault fedora-*\n")
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.bootloaderDefaultInvalid])
        #expect(findings.first?.evidence.first == Evidence(source: "/boot/loader/loader.conf", detail: "line 2: default fedora-*"))
        try BootScenario.write(copy, "/boot/loader/loader.conf", "default debian-*\n")
        #expect(try BootScenario.detect(copy.path) == [])
    }

    @Test("bad input never crashes: garbage grub.cfg, BLS entries and grubenv", arguments: ["grub.cfg", "bls", "grubenv", "all"])
    func garbage(target: String) throws {
        let copy = try TestRoot.writableCopy()
        var generator = SystemRandomNumberGenerator()
        func junk(_ count: Int) -> Data { Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        if target == "grub.cfg" || target == "all" {
            try BootScenario.write(copy, "/boot/grub/grub.cfg", junk(4096))
        }
        if target == "bls" || target == "all" {
            try BootScenario.write(copy, "/boot/loader/entries/junk+0-3.conf", junk(2048))
            try BootScenario.write(copy, "/boot/loader/entries/text.conf", "}}{{ linux\n\0\u{7}\nmenuentry {\n")
        }
        if target == "grubenv" || target == "all" {
            try BootScenario.write(copy, "/boot/grub/grubenv", junk(1024))
        }
        let findings = try BootScenario.detect(copy.path)
        switch target {
        case "grub.cfg":
            #expect(BootScenario.classes(findings) == [.bootloaderDefaultInvalid])
            #expect(findings.first?.summary.hasPrefix("cannot parse /boot/grub/grub.cfg") == true)
        case "bls":
            // The counter in the name is still read; the content is skipped (grub.cfg rules).
            #expect(BootScenario.classes(findings) == [.bootFailures])
        case "grubenv":
            #expect(BootScenario.classes(findings) == [.bootloaderEnvCorrupt])
        default:
            #expect(BootScenario.classes(findings) == [.bootloaderEnvCorrupt, .bootloaderDefaultInvalid, .bootFailures])
        }
    }
}
