import Foundation
import Testing
import TestSupport

/// Healthy Debian machines of other shapes than the test root (scripts/make-shapes): a
/// separate /boot, a btrfs root in a subvolume, swap, network mounts, BLS entries (GRUB's
/// blscfg and systemd-boot), two kernels, a saved GRUB default by id and by
/// submenu>entry, fstab tags and bind mounts, mounts the boot does not wait for. Examined
/// through the built binary as their booted system sees them (issue 9): nothing is found,
/// and `repair` finds nothing to do and changes nothing.
@Suite(.serialized)
struct HealthyShapesTests {
    struct Detection: Decodable {
        struct Finding: Decodable { var `class`: String; var summary: String }
        struct Failure: Decodable { var detector: String; var message: String }
        var findings: [Finding]
        var errors: [Failure]
    }

    struct Diagnosis: Decodable {
        struct Cause: Decodable { var `class`: String }
        struct Failure: Decodable { var step: String; var message: String }
        var rootCause: Cause?
        var errors: [Failure]
    }

    struct Repair: Decodable {
        var status: String
        var fixPackage: String?
    }

    static func run(_ arguments: [String]) throws -> Tool.Result {
        try Tool.run(Tool.clarityHeal, arguments)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ result: Tool.Result) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(result.stdout.utf8))
        } catch {
            throw Tool.Failure(message: "not \(type) JSON (exit \(result.status)): \(result.stdout) \(result.stderr)")
        }
    }

    /// Every byte, mode, owner and link of the copy (its own filesystem: a filesystem
    /// mounted on it is an image, below), clarity-heal's state folder included; and of
    /// every image file of the machine its inode, size and change time, which any write
    /// moves and no call can set back (hashing 2 GiB sparse images twice per case would
    /// triple the suite's time; they are attached read-only besides).
    static func fingerprint(_ examined: ExaminedShape) throws -> String {
        let tree = try Tool.run("/bin/sh", ["-c", """
            cd "$1" && { find . -xdev -type f -print0 | sort -z | xargs -0 -r sha256sum; \
            find . -xdev -printf '%p %y %m %U %G %s %l\\n' | sort; } | sha256sum
            """, "fingerprint", examined.root])
        let images = try Tool.run("/usr/bin/stat", ["-c", "%n %i %s %z"] + examined.shape.allImages)
        #expect(tree.status == 0 && images.status == 0, "\(tree.stderr)\(images.stderr)")
        return tree.stdout + images.stdout
    }

    @Test(arguments: Shapes.names)
    func healthyShapeHasNoFindingAndRepairChangesNothing(_ name: String) throws {
        let examined = try Shapes.shape(name).examine()
        let before = try Self.fingerprint(examined)

        let detect = try Self.run(["detect"] + examined.arguments + ["--json"])
        let detection = try Self.decode(Detection.self, detect)
        #expect(detection.findings.map { "\($0.class): \($0.summary)" } == [])
        #expect(detection.errors.map { "\($0.detector): \($0.message)" } == [])
        #expect(detect.status == 0, "\(detect.stderr)")

        let quick = try Self.run(["detect", "--quick", "--root", examined.root])
        #expect(quick.status == 0, "\(quick.stdout)\(quick.stderr)")

        let diagnose = try Self.run(["diagnose"] + examined.arguments + ["--json"])
        let diagnosis = try Self.decode(Diagnosis.self, diagnose)
        #expect(diagnosis.rootCause == nil, "root cause \(diagnosis.rootCause?.class ?? "")")
        #expect(diagnosis.errors.map { "\($0.step): \($0.message)" } == [])
        #expect(diagnose.status == 0)

        let out = try TemporaryDirectory(prefix: "shape-fixes")
        let scratch = try TemporaryDirectory(prefix: "shape-scratch")
        let repair = try Self.run(["repair"] + examined.arguments + ["--out", out.path, "--scratch", scratch.path, "--json"])
        let repaired = try Self.decode(Repair.self, repair)
        #expect(repaired.status == "healthy")
        #expect(repaired.fixPackage == nil)
        #expect(repair.status == 0, "\(repair.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty, "repair wrote a package")

        #expect(try Self.fingerprint(examined) == before, "the machine's bytes changed")
    }

    /// The detectors look at the kernel the shape's boot loader starts (the default, found
    /// through its grub.cfg, BLS entries, loader.conf, grubenv): its module index removed
    /// is found, another kernel's is not the boot's concern.
    @Test(arguments: Shapes.names)
    func theDefaultKernelIsTheOneExamined(_ name: String) throws {
        let shape = try Shapes.shape(name)
        #expect(shape.kernels.contains(shape.defaultKernel))
        for kernel in shape.kernels {
            let examined = try shape.examine()
            for index in ["modules.dep", "modules.dep.bin"] {
                try FileManager.default.removeItem(atPath: examined.copy.at("/usr/lib/modules/\(kernel)/\(index)"))
            }
            let result = try Self.run(["detect", "--class", "kernel-modules-missing"] + examined.arguments + ["--json"])
            let detection = try Self.decode(Detection.self, result)
            if kernel == shape.defaultKernel {
                #expect(detection.findings.map(\.class) == ["kernel-modules-missing"], "\(kernel)")
                #expect(detection.findings.first?.summary.contains(kernel) == true)
                #expect(result.status == 1)
            } else {
                #expect(detection.findings.isEmpty, "\(kernel) is not the default: \(result.stdout)")
                #expect(result.status == 0)
            }
        }
    }

    /// Examined before its /boot (or, for systemd-boot, its EFI system partition) is
    /// mounted, the root holds no boot loader, kernel or initramfs: it is not called
    /// healthy, nothing is reported missing from it, and `repair` writes nothing there.
    @Test(arguments: [("separate-boot", "/boot", "boot.img"), ("systemd-boot", "/boot/efi", "esp.img")])
    func anUnmountedBootFilesystemIsNotCalledHealthy(_ name: String, _ mountPoint: String, _ image: String) throws {
        let examined = try Shapes.shape(name).examine(mounted: false)
        let before = try Self.fingerprint(examined)

        let detect = try Self.run(["detect"] + examined.arguments + ["--json"])
        let detection = try Self.decode(Detection.self, detect)
        #expect(detect.status == 3, "\(detect.stdout)")
        // Not the kernel package's files "missing" from the empty mount point.
        #expect(detection.findings.map(\.class) == [])
        let failure = try #require(detection.errors.first { $0.detector == "boot-filesystems" })
        #expect(failure.message.hasPrefix("\(mountPoint) is a filesystem of its own"))
        #expect(failure.message.contains("found on \(examined.shape.folder)/\(image)"))
        #expect(failure.message.contains("not mounted at \(examined.root)\(mountPoint)"))

        let diagnose = try Self.run(["diagnose"] + examined.arguments + ["--json"])
        #expect(diagnose.status == 3)
        #expect(try Self.decode(Diagnosis.self, diagnose).errors.contains { $0.message.hasPrefix("boot-filesystems:") })

        let out = try TemporaryDirectory(prefix: "shape-fixes")
        let scratch = try TemporaryDirectory(prefix: "shape-scratch")
        let repair = try Self.run(["repair"] + examined.arguments + ["--out", out.path, "--scratch", scratch.path])
        #expect(repair.status == 3, "\(repair.stdout)")
        #expect(repair.stderr.contains("part of the root could not be examined"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
        #expect(try Self.fingerprint(examined) == before)
    }

    /// On a btrfs root in the subvolume @rootfs, grub.cfg names the kernels
    /// /@rootfs/boot/…: they are the root's /boot/…, and their real failures are still found.
    @Test func btrfsKernelsInTheSubvolumeAreStillChecked() throws {
        let shape = try Shapes.shape("btrfs-root")
        let kernel = shape.defaultKernel
        let healthy = try shape.examine()
        let grub = try String(contentsOfFile: healthy.copy.at("/boot/grub/grub.cfg"), encoding: .utf8)
        #expect(grub.contains("linux\t/@rootfs/boot/vmlinuz-\(kernel) "))

        let noInitrd = try shape.examine()
        try FileManager.default.removeItem(atPath: noInitrd.copy.at("/boot/initrd.img-\(kernel)"))
        let missing = try Self.decode(Detection.self, try Self.run(["detect"] + noInitrd.arguments + ["--json"]))
        #expect(missing.findings.map(\.class) == ["initramfs-missing"])
        #expect(missing.findings.first?.summary == "initramfs /boot/initrd.img-\(kernel) does not exist")

        let noKernel = try shape.examine()
        try FileManager.default.removeItem(atPath: noKernel.copy.at("/boot/vmlinuz-\(kernel)"))
        let gone = try Self.decode(Detection.self, try Self.run(["detect"] + noKernel.arguments + ["--json"]))
        #expect(gone.findings.contains { $0.class == "bootloader-default-invalid" && $0.summary.contains("/boot/vmlinuz-\(kernel)") },
                "\(gone.findings.map(\.summary))")
    }
}
