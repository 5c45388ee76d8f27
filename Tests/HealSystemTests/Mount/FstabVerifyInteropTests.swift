import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// `FstabDetector` against `findmnt --verify --tab-file` (util-linux 2.38) on fstabs that
/// name real devices: loop devices over fresh ext4, swap and blank images, so that both
/// see the same machine.
@Suite("FstabDetector agrees with findmnt --verify", .serialized)
final class FstabVerifyInteropTests {
    let directory: TemporaryDirectory
    let ext4UUID = DeviceFixture.uuid()
    let ext4Label = "data-" + String(DeviceFixture.uuid().prefix(8))
    let swapUUID = DeviceFixture.uuid()
    let ext4: AttachedLoop
    let swap: AttachedLoop
    let blank: AttachedLoop

    init() throws {
        directory = try TemporaryDirectory(prefix: "verify")
        let ext4Image = try DeviceFixture.blankImage(directory, "ext4.img")
        try DeviceFixture.run("mkfs.ext4", ["-q", "-F", "-L", ext4Label, "-U", ext4UUID, ext4Image])
        let swapImage = try DeviceFixture.blankImage(directory, "swap.img")
        try DeviceFixture.run("mkswap", ["-U", swapUUID, swapImage])
        let blankImage = try DeviceFixture.blankImage(directory, "blank.img", megabytes: 8)
        ext4 = try AttachedLoop(image: ext4Image)
        swap = try AttachedLoop(image: swapImage)
        blank = try AttachedLoop(image: blankImage)
    }

    /// The fstab of each case; `@E4`, `@SW`, `@LB`, `@BLANK` stand for the devices.
    static let cases: [(String, String)] = [
        ("healthy", "@E4 /srv ext4 defaults 0 2\n@SW none swap sw 0 0\ntmpfs /tmp tmpfs nosuid 0 0\nproc /proc proc defaults 0 0\n"),
        ("uuid that exists nowhere", "UUID=0b0e7f52-1111-4c53-9a36-2b7b2c1d0e99 /mnt ext4 defaults 0 2\n@E4 /srv ext4 defaults 0 2\n"),
        ("label typo", "LABEL=@LBx /mnt ext4 defaults 0 2\n"),
        ("wrong type", "@E4 /srv xfs defaults 0 2\n"),
        ("swap type on ext4", "@E4 none swap sw 0 0\n"),
        ("swap options", "@SW none swap sw,discard=always,pri=high 0 0\n@SW swap swap discard=once,pri=-3 0 0\n"),
        ("auto on a blank device", "@BLANK /opt auto defaults 0 2\n"),
        ("unsupported tag", "FOO=bar /home ext4 defaults 0 2\n"),
        ("by-id tag with no link", "ID=ata-QEMU_HARDDISK_QM00099 /srv ext4 defaults 0 2\n"),
        ("noauto is not waited for", "UUID=0b0e7f52-1111-4c53-9a36-2b7b2c1d0e99 /media ext4 noauto 0 0\n"),
        ("parse errors", "# header\ngarbage\n@E4 /srv ext4 defaults 0 2\n/dev/vdb /mnt ext4 defaults 0 x\nLABEL=@LB /var ext4\n"),
        ("everything at once", "garbage line\nUUID=0b0e7f52-1111-4c53-9a36-2b7b2c1d0e99 /mnt ext4 defaults 0 2\n@E4 /srv vfat defaults 0 2\n@SW none swap pri=x 0 0\n@BLANK /opt auto defaults 0 2\n"),
    ]

    func fill(_ template: String) -> String {
        template.replacingOccurrences(of: "@E4", with: "UUID=\(ext4UUID)")
            .replacingOccurrences(of: "@SW", with: "UUID=\(swapUUID)")
            .replacingOccurrences(of: "@LB", with: ext4Label)
            .replacingOccurrences(of: "@BLANK", with: blank.path)
    }

    /// findmnt's errors in the categories the detector models, as "category:target" or
    /// "parse:line". Warnings and target checks (about this machine's folders) are left out.
    static func findmntErrors(_ file: String) throws -> [String] {
        // findmnt resolves tags through the blkid cache, which may predate the loop
        // devices: a cache file of its own (BLKID_FILE) makes it scan the devices afresh.
        let cache = file + ".blkid.tab"
        let result = try Tool.run("/usr/bin/env", ["BLKID_FILE=\(cache)", "findmnt", "--verify", "--tab-file", file])
        var errors: [String] = []
        var target = ""
        for line in result.stdout.split(separator: "\n") {
            if !line.hasPrefix(" ") { target = String(line); continue }
            guard line.contains("[E]") else { continue }
            let category: String
            if line.contains("unreachable on boot required source") { category = "unresolvable" }
            else if line.contains("does not match with on-disk") || line.contains("cannot detect on-disk") { category = "type" }
            else if line.contains("swaparea") { category = "swap-option" }
            else if line.contains("unsupported source tag") { category = "tag" }
            else if line.contains("unreachable on boot required target") { continue }
            else { category = "other(\(line))" }
            errors.append("\(category):\(target)")
        }
        for line in result.stderr.split(separator: "\n") {
            if let range = line.range(of: "parse error at line ") {
                errors.append("parse:" + line[range.upperBound...].prefix { $0.isNumber })
            }
        }
        return errors.sorted()
    }

    /// The detector's findings in the same terms.
    static func detectorErrors(_ findings: [Finding], fstab: Fstab) -> [String] {
        findings.map { finding -> String in
            let line = finding.evidence.first.flatMap { $0.source.split(separator: ":").last.flatMap { Int($0) } } ?? 0
            let target = fstab.entries.first { $0.line == line }?.target
            guard let target else { return "parse:\(line)" }
            if finding.failureClass == .fstabUnresolvableSource { return "unresolvable:\(target)" }
            let summary = finding.summary
            if summary.contains("does not match") || summary.contains("type auto") { return "type:\(target)" }
            if summary.contains("swap") { return "swap-option:\(target)" }
            if summary.contains("unsupported source tag") { return "tag:\(target)" }
            return "other(\(summary))"
        }.sorted()
    }

    @Test("same errors, same lines and mount points", arguments: cases)
    func agrees(name: String, template: String) throws {
        let root = try TemporaryDirectory(prefix: "verify-root")
        let file = try root.write("etc/fstab", fill(template))
        let context = DetectionContext(root: try SystemRoot(root.path))
        let findings = try FstabDetector().detect(context)
        let fstab = try Fstab.parse(file: file, displayPath: "/etc/fstab")
        let ours = Self.detectorErrors(findings, fstab: fstab)
        let theirs = try Self.findmntErrors(file)
        #expect(ours == theirs, "\(name)")
        #expect(findings.isEmpty == (name == "healthy" || name.hasPrefix("noauto")), "\(name)")
        for finding in findings {
            #expect(finding.evidence.first?.source.hasPrefix("/etc/fstab:") == true)
        }
    }

    @Test("nofail: findmnt still calls a missing source an error; the boot does not wait, so no finding")
    func nofail() throws {
        let root = try TemporaryDirectory(prefix: "verify-root")
        let file = try root.write("etc/fstab", "UUID=0b0e7f52-1111-4c53-9a36-2b7b2c1d0e99 /mnt ext4 defaults,nofail 0 2\n")
        #expect(try Self.findmntErrors(file) == ["unresolvable:/mnt"])
        #expect(try FstabDetector().detect(DetectionContext(root: try SystemRoot(root.path))).isEmpty)
    }
}
