import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// What the microVM does when it cannot run: no QEMU on the host, no kernel on the disk.
/// A clear message, exit 3 when the microVM was asked for by name, the overlay with the
/// reason in the boot checks under `auto`; the disk untouched either way. No guest boots.
@Suite(.serialized) struct MicroVMBadInputTests {
    struct Failure: Decodable {
        struct Body: Decodable { var message: String; var exitStatus: Int32 }
        var error: Body
    }

    /// The binary run in a mount namespace of its own where /dev/null is bind-mounted over
    /// qemu-system-x86_64: not executable, so not found, as on a host without QEMU.
    static func withoutQEMU(_ arguments: [String]) throws -> Tool.Result {
        let qemu = try #require(Executable.find("qemu-system-x86_64"))
        return try Tool.run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c",
                                                 "mount --bind /dev/null \"$0\" && exec \"$@\"", qemu, Tool.clarityHeal]
                            + arguments)
    }

    static func repairArguments(_ disk: String, _ environment: String, out: TemporaryDirectory, scratch: TemporaryDirectory) -> [String] {
        ["repair", "--disk", disk, "--environment", environment, "--out", out.path, "--scratch", scratch.path, "--json"]
    }

    @Test func withoutQEMUTheMicroVMIsRefusedAndAutoSaysWhyNothingWasBooted() throws {
        let directory = try TemporaryDirectory(prefix: "noqemu")
        let disk = try MicroVMScenarioTests.disk(directory, MicroVMScenarioTests.fstabTypo)
        let before = try MicroVMScenarioTests.sha256(disk)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "noqemu-scratch")

        let asked = try Self.withoutQEMU(Self.repairArguments(disk, "microvm", out: out, scratch: scratch))
        #expect(asked.status == 3, "\(asked.stdout)\(asked.stderr)")
        let failure = try JSONDecoder().decode(Failure.self, from: Data(asked.stdout.utf8))
        #expect(failure.error.message.contains("qemu-system-x86_64 is not installed (Debian: apt install qemu-system-x86)"),
                "\(failure.error.message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)

        let auto = try Self.withoutQEMU(Self.repairArguments(disk, "auto", out: out, scratch: scratch))
        #expect(auto.status == 1, "\(auto.stdout)\(auto.stderr)")
        let output = try JSONDecoder().decode(MicroVMScenarioTests.Output.self, from: Data(auto.stdout.utf8))
        #expect(output.environment == "overlay")
        let validated = try #require(output.attempts.first { $0.validated })
        for name in ["boot", "stability"] {
            #expect(validated.checks.first { $0.name == name }?.status == "not-run")
        }
        let boot = try #require(validated.checks.first { $0.name == "boot" })
        #expect(boot.detail.hasPrefix("not booted: the microVM cannot run here: qemu-system-x86_64 is not installed"), "\(boot.detail)")
        #expect(try MicroVMScenarioTests.sha256(disk) == before)
    }

    @Test func aDiskWithNoKernelCannotBeBootedAndSaysSo() throws {
        let directory = try TemporaryDirectory(prefix: "nokernel")
        let disk = try MicroVMScenarioTests.disk(directory) { copy in
            try MicroVMScenarioTests.fstabTypo(copy)
            try FileManager.default.removeItem(atPath: copy.at("/boot/vmlinuz-" + TestRoot.kernelVersion))
        }
        let before = try MicroVMScenarioTests.sha256(disk)
        let out = try TemporaryDirectory(prefix: "fixes")
        let scratch = try TemporaryDirectory(prefix: "nokernel-scratch")
        let result = try Tool.run(Tool.clarityHeal, Self.repairArguments(disk, "microvm", out: out, scratch: scratch))
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        let failure = try JSONDecoder().decode(Failure.self, from: Data(result.stdout.utf8))
        #expect(failure.error.message == "the clone cannot be booted: the default entry's kernel /boot/vmlinuz-\(TestRoot.kernelVersion) "
                + "is not on the disk; and no kernel is installed in its /boot", "\(failure.error.message)")
        #expect(try MicroVMScenarioTests.sha256(disk) == before)
    }
}
