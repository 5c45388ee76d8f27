import Foundation
import Testing
import TestSupport

/// Every detector together, through the CLI, on broken copies of the real Debian root:
/// each break is reported as exactly its class — and no neighbouring class by mistake.
/// (Each detector's own suite looks closer at its evidence and bad input.)
@Suite(.serialized)
struct CatalogueTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        var name: String
        var expected: Set<String>
        var extraArguments: [String] = []
        var breakRoot: @Sendable (String) throws -> Void
        var testDescription: String { name }
    }

    static let kernel = TestRoot.kernelVersion

    static func edit(_ path: String, _ transform: (String) -> String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let changed = transform(text)
        precondition(changed != text, "edit of \(path) changed nothing")
        try FileManager.default.removeItem(atPath: path)
        try changed.write(toFile: path, atomically: false, encoding: .utf8)
    }

    static func append(_ path: String, _ line: String) throws {
        try edit(path) { $0 + line + "\n" }
    }

    static func remove(_ path: String) throws {
        try FileManager.default.removeItem(atPath: path)
    }

    static let scenarios: [Scenario] = [
        Scenario(name: "healthy root", expected: []) { _ in },
        Scenario(name: "fstab names a UUID no disk has", expected: ["fstab-unresolvable-source"]) { root in
            try append(root + "/etc/fstab", "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2")
        },
        Scenario(name: "fstab line libmount cannot parse", expected: ["fstab-invalid-entry"]) { root in
            try append(root + "/etc/fstab", "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2")
        },
        Scenario(name: "fstab type differs from what blkid sees", expected: ["fstab-invalid-entry"]) { root in
            try edit(root + "/etc/fstab") { $0.replacingOccurrences(of: "/              ext4", with: "/              xfs ") }
        },
        Scenario(name: "root= of the default entry names no device", expected: ["root-device-mismatch"]) { root in
            try edit(root + "/boot/grub/grub.cfg") {
                $0.replacingOccurrences(of: "root=UUID=\(TestRoot.rootUUID)", with: "root=UUID=0b2c6a6e-0000-4000-8000-00000000beef")
            }
        },
        Scenario(name: "initrd deleted", expected: ["initramfs-missing"]) { root in
            try remove(root + "/boot/initrd.img-\(kernel)")
        },
        Scenario(name: "initrd truncated", expected: ["initramfs-corrupt"]) { root in
            let path = root + "/boot/initrd.img-\(kernel)"
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try remove(path)
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        },
        Scenario(name: "module index removed", expected: ["kernel-modules-missing"]) { root in
            for name in ["modules.dep", "modules.dep.bin"] { try remove(root + "/lib/modules/\(kernel)/\(name)") }
        },
        Scenario(name: "init not executable", expected: ["init-missing"]) { root in
            _ = try Tool.run("/bin/chmod", ["a-x", root + "/lib/systemd/systemd"])
        },
        Scenario(name: "init deleted", expected: ["init-missing"]) { root in
            try remove(root + "/lib/systemd/systemd")
        },
        Scenario(name: "init's ELF interpreter deleted", expected: ["init-missing"]) { root in
            try remove(root + "/lib64/ld-linux-x86-64.so.2")
        },
        Scenario(name: "a module oopsed on the last boot (systemd-pstore archive)", expected: ["kernel-panic"]) { root in
            try FileManager.default.createDirectory(atPath: root + "/var/lib/systemd/pstore", withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore/oops-module/dmesg-ramoops-0",
                toPath: root + "/var/lib/systemd/pstore/dmesg-ramoops-0")
        },
        Scenario(name: "grubenv torn", expected: ["bootloader-env-corrupt"]) { root in
            _ = try Tool.run("/usr/bin/truncate", ["-s", "300", root + "/boot/grub/grubenv"])
        },
        Scenario(name: "default entry's kernel deleted", expected: ["bootloader-default-invalid"]) { root in
            try remove(root + "/boot/vmlinuz-\(kernel)")
        },
        Scenario(name: "two failed boot attempts", expected: ["boot-failures"]) { root in
            _ = try Tool.run("/usr/bin/grub-editenv", [root + "/boot/grub/grubenv", "set", "clarity_heal_attempts=2"])
        },
        Scenario(name: "a packaged boot-critical file altered", expected: ["system-file-corrupt"]) { root in
            try append(root + "/usr/sbin/update-initramfs", "# tampered")
        },
        Scenario(name: "passwd without root", expected: ["account-database-broken"]) { root in
            try edit(root + "/etc/passwd") { text in
                text.split(separator: "\n").filter { !$0.hasPrefix("root:") }.joined(separator: "\n") + "\n"
            }
        },
    ]

    @Test(arguments: scenarios)
    func brokenCopyReportsExactlyItsClass(_ scenario: Scenario) throws {
        let copy = try TestRoot.writableCopy()
        try scenario.breakRoot(copy.path)
        let result = try Tool.run(Tool.clarityHeal,
            ["detect", "--root", copy.path, "--device", TestRoot.image, "--json"] + scenario.extraArguments)
        let output = try JSONDecoder().decode(DetectCommandTests.Output.self, from: Data(result.stdout.utf8))
        #expect(Set(output.findings.map(\.class)) == scenario.expected, "\(result.stdout)")
        #expect(output.errors.isEmpty, "\(output.errors)")
        #expect(result.status == (scenario.expected.isEmpty ? 0 : 1))
        for finding in output.findings {
            #expect(!finding.evidence.isEmpty, "\(finding.class) carries no evidence")
        }
    }
}
