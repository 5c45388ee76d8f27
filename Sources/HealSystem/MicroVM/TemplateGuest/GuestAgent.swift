import CLinux
import Glibc
import HealCore

/// clarity-heal as PID 1 of the template guest (`/init` of `GuestInitramfs`).
///
/// ```
///  mount /proc /sys /dev(devtmpfs)  ─▶ "clarity-heal-guest NONCE ready" on /dev/ttyS0
///  task from /proc/cmdline           (TemplateGuestTask)
///  insert the listed modules         (finit_module, in the load order libkmod gave)
///  wait for /dev/vda                 (the disk: a throwaway qcow2 layer over the real one)
///  run the task: e2fsck …            (the disk's bytes below the layer are never written)
///  "clarity-heal-guest NONCE result {json}"
///  sync, reboot(RB_POWER_OFF)        (QEMU exits: -no-reboot)
/// ```
///
/// PID 1 must never exit (the kernel panics when init does): every path ends in the
/// power-off, and a failure is reported in the result's `error`, not thrown.
public enum GuestAgent {
    /// Whether this process is the template guest's init: PID 1 started as `/init`. Both,
    /// so that clarity-heal run as PID 1 of a container with a command is not taken for it.
    /// Before /proc is mounted the Swift runtime has no arguments at all (it reads them from
    /// /proc/self/cmdline on Linux): an early PID 1 with none is the guest's init too.
    public static var isGuestInit: Bool {
        guard getpid() == 1 else { return false }
        let arguments = CommandLine.arguments
        return arguments.isEmpty || arguments.first == "/init"
    }

    /// The guest's disk (`-device virtio-blk-pci`).
    static let device = "/dev/vda"
    /// Lines of a tool's output kept in the report.
    static let outputLines = 30

    /// Runs the guest and powers it off. Never returns.
    public static func run() -> Never {
        setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1)
        mountBasics()
        let console = openConsole()
        let commandLine = (try? FileReading.text(atPath: "/proc/cmdline", limit: 8192)) ?? ""
        guard let task = TemplateGuestTask(commandLine: commandLine) else {
            say(console, "clarity-heal-guest: no task on the kernel command line")
            powerOff()
        }
        say(console, TemplateGuestReport.readyLine(nonce: task.nonce))
        var report = TemplateGuestReport(task: task.kind, kernel: kernelRelease())
        if task.kind != .ready {
            (report.modules, report.moduleErrors) = insertModules()
            if waitForDevice(seconds: 20) {
                report.device = device
                run(task, into: &report)
            } else {
                report.error = "\(device) did not appear within 20 s (modules: \(report.modules.joined(separator: " ")))"
            }
        }
        say(console, report.resultLine(nonce: task.nonce))
        powerOff()
    }

    /// The task's commands, each recorded as a step.
    static func run(_ task: TemplateGuestTask, into report: inout TemplateGuestReport) {
        switch task.kind {
        case .ready:
            return
        case .check:
            report.steps.append(step(["e2fsck", "-fn", device]))
        case .repair:
            let repair = step(["e2fsck"] + task.repairArguments(device: device))
            report.steps.append(repair)
            guard FilesystemRepair.Outcome(status: repair.status).succeeded else { return }
            report.steps.append(step(["e2fsck", "-fn", device]))
            report.bootChain = bootChain()
        }
    }

    /// Runs a command; its exit status and the tail of its output.
    static func step(_ command: [String]) -> TemplateGuestReport.Step {
        do {
            let result = try SpawnCommandRunner().run(command[0], Array(command.dropFirst()))
            return .init(command: command, status: result.status,
                         output: FilesystemRepair.tail(result.output + result.errorOutput, lines: outputLines))
        } catch {
            return .init(command: command, status: 127, output: "\(error)")
        }
    }

    /// The boot-chain paths present on a read-only mount of the repaired disk (`noload`: a
    /// journal left to replay is e2fsck's business, not the mount's).
    static func bootChain() -> [String]? {
        guard mount(device, "/mnt", "ext4", UInt(MS_RDONLY), "noload") == 0 else { return nil }
        defer { umount("/mnt") }
        return BlockRepairTrial.bootChain.filter { path in
            var st = stat()
            return lstat("/mnt" + path, &st) == 0
        }
    }

    static func mountBasics() {
        _ = mount("proc", "/proc", "proc", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil)
        _ = mount("sysfs", "/sys", "sysfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil)
        _ = mount("devtmpfs", "/dev", "devtmpfs", UInt(MS_NOSUID), "mode=0755")
    }

    /// The serial console: `/dev/ttyS0`, else the kernel's console (`/init`'s stdout).
    static func openConsole() -> Int32 {
        let fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY | O_CLOEXEC)
        return fd >= 0 ? fd : 1
    }

    /// One line, whole and starting on a line of its own: the kernel may have left its
    /// last message without an end.
    static func say(_ fd: Int32, _ line: String) {
        let bytes = Array(("\r\n" + line + "\r\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            written += n
        }
    }

    static func kernelRelease() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Inserts the modules `GuestInitramfs.moduleList` names, in order, with finit_module(2):
    /// the host resolved the order with libkmod (modules.dep) and decompressed each file, so
    /// the guest needs neither libkmod nor the libcrypto it links (4.7 MB of initramfs, a
    /// tenth of a second of unpacking per boot under TCG). One already loaded counts.
    static func insertModules() -> (inserted: [String], errors: [String]) {
        let list = (try? FileReading.text(atPath: GuestInitramfs.moduleList, limit: 64 << 10)) ?? ""
        var inserted: [String] = [], errors: [String] = []
        for path in list.split(separator: "\n").map(String.init) {
            let name = String(PackagePath.name(path).prefix { $0 != "." })
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                errors.append("\(name): \(String(cString: strerror(errno)))")
                continue
            }
            defer { close(fd) }
            if heal_finit_module(fd, "", 0) == 0 || errno == EEXIST {
                inserted.append(name)
            } else {
                errors.append("\(name): \(String(cString: strerror(errno)))")
            }
        }
        return (inserted, errors)
    }

    /// Polls for the disk's node (devtmpfs makes it when the driver probes the device).
    static func waitForDevice(seconds: Int) -> Bool {
        for _ in 0..<(seconds * 20) {
            if access(device, F_OK) == 0 { return true }
            usleep(50_000)
        }
        return false
    }

    static func powerOff() -> Never {
        sync()
        _ = reboot(RB_POWER_OFF)
        // Only reached when the kernel refused: wait for the host's deadline.
        while true { pause() }
    }
}
