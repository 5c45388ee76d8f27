import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The boot-path pieces, checked with the distro's own tools in a clone of the real root:
/// update-initramfs with the hook really puts the release binary, its libraries (the ones
/// it links and the ones it opens with dlopen) and the boot script into the image; the
/// binary runs in the root with only those libraries, and a missing one is an error it
/// reports; the dracut module installs the same libraries; systemd-analyze accepts the
/// unit (grub.cfg with the package's GRUB script: PackageTests).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct HooksTests {
    /// The release build (`--static-swift-stdlib`) that scripts/test makes: the one that
    /// goes into initramfs images.
    static var releaseBinary: String { TestRoot.repository + "/.build/release/clarity-heal" }

    func installedClone(_ scratch: TemporaryDirectory) throws -> OverlayEnvironment {
        let binary = try FileReading.bytes(atPath: Self.releaseBinary, limit: 256 << 20)
        let environment = try OverlayEnvironment(lower: SystemRoot(TestRoot.root), scratch: scratch.path + "/env")
        let hook = try FileReading.bytes(atPath: TestRoot.repository + "/initramfs-hooks/hooks/clarity-heal")
        let script = try FileReading.bytes(atPath: TestRoot.repository + "/initramfs-hooks/scripts/local-bottom/clarity-heal")
        let unit = try FileReading.bytes(atPath: TestRoot.repository + "/systemd/clarity-heal-verify.service")
        let outcomes = environment.execute([
            .writeFile(path: "/usr/sbin/clarity-heal", contents: binary, mode: 0o755),
            .writeFile(path: "/etc/initramfs-tools/hooks/clarity-heal", contents: hook, mode: 0o755),
            .writeFile(path: "/etc/initramfs-tools/scripts/local-bottom/clarity-heal", contents: script, mode: 0o755),
            .writeFile(path: "/etc/systemd/system/clarity-heal-verify.service", contents: unit, mode: 0o644),
        ])
        #expect(outcomes.allSatisfy { $0.succeeded }, "\(outcomes)")
        return environment
    }

    /// The sonames the binary opens on first use, which ldd cannot see (CLazyLibraries).
    static let lazySonames = SharedLibrary.allCases.map(\.soname)

    /// Removes every file and link of `soname` ("libkmod.so.2", "libkmod.so.2.4.0") from the
    /// clone's library directory.
    func removeLibrary(_ soname: String, from environment: OverlayEnvironment) throws {
        let directory = "/usr/lib/x86_64-linux-gnu"
        let names = try FileManager.default.contentsOfDirectory(atPath: environment.root.host(directory))
            .filter { $0.hasPrefix(soname) }
        #expect(names.count == 2, "\(names)")
        let outcomes = environment.execute(names.map { .removeFile(path: directory + "/" + $0) })
        #expect(outcomes.allSatisfy { $0.succeeded }, "\(outcomes)")
    }

    /// The test root's image, bound read-only at /root.img in the clone: the sandbox's /dev
    /// holds no disk, and `detect` needs the device fstab names to find the root healthy.
    /// Returns the host path of the mount point, for `unbindImage`.
    func bindImage(into environment: OverlayEnvironment) throws -> String {
        let outcomes = environment.execute([.writeFile(path: "/root.img", contents: [], mode: 0o600)])
        #expect(outcomes.allSatisfy { $0.succeeded }, "\(outcomes)")
        let target = environment.root.host("/root.img")
        for arguments in [["--bind", TestRoot.image, target], ["-o", "remount,bind,ro", target]] {
            let mount = try Tool.run("/bin/mount", arguments)
            guard mount.status == 0 else {
                unbindImage(target)
                throw Tool.Failure(message: "mount \(arguments): \(mount.stderr)")
            }
        }
        return target
    }

    func unbindImage(_ target: String) {
        _ = try? Tool.run("/bin/umount", [target])
    }

    /// `clarity-heal detect --json` run chrooted in the clone, on the clone's own root;
    /// `trace` adds the dynamic loader's trace of the files it opens (LD_DEBUG=files) to stderr.
    func detect(in environment: OverlayEnvironment, _ arguments: [String] = [], trace: Bool = false)
        throws -> (result: CommandResult, report: DetectCommandTests.Output?)
    {
        let command = ["/usr/sbin/clarity-heal", "detect", "--root", "/", "--json"] + arguments
        let result = try environment.run(trace ? ["/usr/bin/env", "LD_DEBUG=files"] + command : command)
        let report = try? JSONDecoder().decode(DetectCommandTests.Output.self, from: Data(result.standardOutput))
        return (result, report)
    }

    @Test func theHookPutsTheBinaryItsLibrariesAndTheBootScriptIntoARealImage() throws {
        let scratch = try TemporaryDirectory(prefix: "hooks")
        let environment = try installedClone(scratch)
        defer { environment.tearDown() }
        let kernel = TestRoot.kernelVersion
        let result = try environment.run(["/usr/sbin/update-initramfs", "-u", "-k", kernel])
        #expect(result.status == 0, "\(result.errorOutput)")

        let image = try Initramfs(path: environment.root.host("/boot/initrd.img-\(kernel)"))
        let entries = try image.entries()
        let paths = Set(entries.map(\.path))
        // The binary compressed on its own, executable so that gunzip's output is; not
        // unpacked in the image, so a healthy boot does not inflate it.
        #expect(!paths.contains("usr/sbin/clarity-heal"))
        #expect(entries.first { $0.path == Self.packedBinary }?.permissions == 0o755, "\(entries.filter { $0.path.contains("clarity") })")
        #expect(paths.contains("scripts/local-bottom/clarity-heal"))
        #expect(!result.errorOutput.contains("clarity-heal: cannot find"), "\(result.errorOutput)")
        // The hook's list is the binary's: a soname added to SharedLibrary must be added there.
        let hook = String(decoding: try FileReading.bytes(atPath: TestRoot.repository + "/initramfs-hooks/hooks/clarity-heal"), as: UTF8.self)
        #expect(hook.contains("LAZY_LIBRARIES=\"\(Self.lazySonames.joined(separator: " "))\""))
        // The libraries opened with dlopen, and what they link themselves (libkmod's
        // libcrypto, libsystemd's libgcrypt), which copy_exec of the binary alone misses.
        for soname in Self.lazySonames + ["libcrypto.so.3", "libgcrypt.so.20"] {
            #expect(paths.contains { $0.hasSuffix("/" + soname) }, "\(soname) is not in the image")
        }
        #expect(paths.contains { $0.hasSuffix("/ramoops.ko") })
        // Unpacked by klibc's gunzip, the tool the boot script uses, it is the binary itself
        // with its mode.
        let packed = try image.contents(of: Self.packedBinary, limit: 256 << 20)
        let unpacked = scratch.path + "/unpacked/clarity-heal"
        try FileManager.default.createDirectory(atPath: scratch.path + "/unpacked", withIntermediateDirectories: true)
        try Data(packed).write(to: URL(fileURLWithPath: unpacked + ".gz"))
        #expect(chmod(unpacked + ".gz", 0o755) == 0)
        #expect(try Tool.run(environment.root.host("/usr/lib/klibc/bin/gunzip"), [unpacked + ".gz"]).status == 0)
        #expect(SHA256.hex(try FileReading.bytes(atPath: unpacked, limit: 256 << 20))
                == SHA256.hex(try FileReading.bytes(atPath: Self.releaseBinary, limit: 256 << 20)))
        #expect(access(unpacked, X_OK) == 0)
    }

    /// Where the hook puts the binary, compressed on its own.
    static let packedBinary = "usr/lib/clarity-heal/clarity-heal.gz"

    @Test func theBinaryRunsInTheRootWithOnlyItsLibrariesAndTheUnitVerifies() throws {
        let scratch = try TemporaryDirectory(prefix: "hooks")
        let environment = try installedClone(scratch)
        defer { environment.tearDown() }
        // No Swift toolchain in the root: only the static stdlib and the root's own libraries.
        let quick = try environment.run(["/usr/sbin/clarity-heal", "detect", "--quick", "--root", "/", "--json"])
        #expect(quick.status == 0, "\(quick.errorOutput)")
        #expect(quick.output.contains("\"findings\""))
        // The full detect opens the libraries on first use, from the root's own copies:
        // libkmod (module index), libmount (fstab), libblkid (devices), sd-journal (failed
        // units); the loader's trace shows each one dlopened. A library another one links
        // (libblkid, which libmount needs) may already be mapped when the binary asks: the
        // trace then shows the binary's dlopen as "opening file=…; direct_opencount".
        // (libzstd is not in the list: libkmod links it, so it is already loaded when
        // libarchive's forwarder asks.)
        let image = try bindImage(into: environment)
        defer { unbindImage(image) }
        let full = try detect(in: environment, ["--device", "/root.img"], trace: true)
        #expect(full.result.status == 0, "\(full.result.output)\(full.result.errorOutput)")
        for soname in ["libkmod.so.2", "libmount.so.1", "libblkid.so.1", "libsystemd.so.0"] {
            let trace = full.result.errorOutput
            let opened = trace.contains("file=\(soname) [0];  dynamically loaded by")
                || trace.contains("/\(soname) [0]; direct_opencount")
            #expect(opened, "\(soname) was not opened")
        }
        #expect(full.report?.findings.map(\.class) == [], "\(full.result.output)")
        #expect(full.report?.errors.map(\.message) == [], "\(full.result.output)")
        let verify = try environment.run(["/usr/bin/systemd-analyze", "verify", "--man=no",
                                          "/etc/systemd/system/clarity-heal-verify.service"])
        #expect(verify.status == 0, "\(verify.errorOutput)")
    }

    @Test func aMissingLibraryIsAReportedErrorAndTheQuickPathDoesNotNeedIt() throws {
        let scratch = try TemporaryDirectory(prefix: "hooks")
        let environment = try installedClone(scratch)
        defer { environment.tearDown() }
        try removeLibrary("libkmod.so.2", from: environment)
        let image = try bindImage(into: environment)
        defer { unbindImage(image) }

        // Not a crash: the run ends with its whole report (a forwarder called before its
        // library was loaded would _exit(3) with "clarity-heal: cannot load" and no report),
        // and the report names the library. The root is also told the truth about itself:
        // libkmod2's packaged file is gone.
        let full = try detect(in: environment, ["--device", "/root.img"])
        #expect(full.report != nil, "\(full.result.output)\(full.result.errorOutput)")
        #expect(!full.result.errorOutput.contains("clarity-heal: cannot load"), "\(full.result.errorOutput)")
        #expect(full.result.output.contains("cannot load libkmod.so.2"), "\(full.result.output)")
        #expect(full.report?.findings.contains { $0.class == "system-file-corrupt"
            && $0.summary.contains("/usr/lib/x86_64-linux-gnu/libkmod.so.2.4.0") } == true, "\(full.result.output)")

        // The detectors that need libkmod could not check: an error, exit 3, not a finding.
        let kmod = try detect(in: environment, ["--device", "/root.img",
                                                "--class", "kernel-modules-missing", "--class", "initramfs-missing-driver"])
        #expect(kmod.result.status == 3, "\(kmod.result.output)")
        #expect(kmod.report?.findings.map(\.class) == [], "\(kmod.result.output)")
        #expect(kmod.report?.errors.count == 2, "\(kmod.result.output)")
        #expect(kmod.report?.errors.allSatisfy { $0.message.contains("cannot load libkmod.so.2") } == true,
                "\(kmod.result.output)")

        // The boot path needs none of them.
        let quick = try detect(in: environment, ["--quick"])
        #expect(quick.result.status == 0, "\(quick.result.output)\(quick.result.errorOutput)")
        #expect(quick.report?.findings.map(\.class) == [], "\(quick.result.output)")
        #expect(quick.report?.errors.map(\.message) == [], "\(quick.result.output)")
    }

    @Test func theHookWarnsOfAMissingLibraryAndStillBuildsTheImage() throws {
        let scratch = try TemporaryDirectory(prefix: "hooks")
        let environment = try installedClone(scratch)
        defer { environment.tearDown() }
        // libsystemd: nothing update-initramfs runs links it (libkmod would break modprobe).
        try removeLibrary("libsystemd.so.0", from: environment)
        let kernel = TestRoot.kernelVersion
        let result = try environment.run(["/usr/sbin/update-initramfs", "-u", "-k", kernel])
        #expect(result.status == 0, "\(result.errorOutput)")
        #expect(result.errorOutput.contains("W: clarity-heal: cannot find libsystemd.so.0"), "\(result.errorOutput)")

        let image = try Initramfs(path: environment.root.host("/boot/initrd.img-\(kernel)"))
        let paths = Set(try image.entries().map(\.path))
        #expect(paths.contains(Self.packedBinary))
        #expect(!paths.contains { $0.hasSuffix("/libsystemd.so.0") })
        for soname in Self.lazySonames where soname != "libsystemd.so.0" {
            #expect(paths.contains { $0.hasSuffix("/" + soname) }, "\(soname) is not in the image")
        }
    }

    /// dracut cannot be installed beside initramfs-tools: the module is syntax-checked by
    /// bash, then its install() runs against stand-ins for dracut's helpers that record
    /// their arguments (inst_libdir_file finding nothing for libsystemd.so.0).
    @Test func theDracutModuleInstallsTheDlopenedLibraries() throws {
        let module = TestRoot.repository + "/dracut/modules.d/90clarity-heal/module-setup.sh"
        let syntax = try Tool.run("/bin/bash", ["-n", module])
        #expect(syntax.status == 0, "\(syntax.stderr)")

        let harness = """
            record() { echo "$*"; }
            initdir=$(mktemp -d)
            trap 'rm -rf "$initdir"' EXIT
            inst_binary() {
              record inst_binary "$@"
              [ "$1" != /usr/sbin/clarity-heal ] || { mkdir -p "$initdir/usr/sbin"; echo binary >"$initdir/usr/sbin/clarity-heal"; }
            }
            inst_hook() { record inst_hook "$@"; }
            inst_libdir_file() { record inst_libdir_file "$@"; [ "$1" != libsystemd.so.0 ]; }
            dwarn() { record dwarn "$@"; }
            moddir=/modules.d/90clarity-heal
            . "$1"
            install
            # The binary only compressed, executable so that gzip -d's output is.
            [ ! -e "$initdir/usr/sbin/clarity-heal" ] && [ -x "$initdir/usr/lib/clarity-heal/clarity-heal.gz" ] \\
              && [ "$(gzip -dc "$initdir/usr/lib/clarity-heal/clarity-heal.gz")" = binary ] && record packed
            """
        let run = try Tool.run("/bin/bash", ["-c", harness, "harness", module])
        #expect(run.status == 0, "\(run.stderr)")
        let calls = run.stdout.split(separator: "\n").map(String.init)
        #expect(calls.first == "inst_binary /usr/sbin/clarity-heal")
        #expect(calls.contains("packed") && calls.contains("inst_binary gzip"), "\(calls)")
        #expect(calls.contains("inst_binary sync"), "\(calls)")
        #expect(calls.filter { $0.hasPrefix("inst_libdir_file ") } == Self.lazySonames.map { "inst_libdir_file \($0)" })
        #expect(calls.filter { $0.hasPrefix("dwarn ") } == [
            "dwarn clarity-heal: cannot find libsystemd.so.0; commands that need it will fail in the initramfs",
        ])
        #expect(calls.filter { $0.hasPrefix("inst_hook ") } == ["inst_hook pre-pivot 50 /modules.d/90clarity-heal/clarity-heal-boot.sh"])
    }
}
