import Foundation
import Testing
import TestSupport

/// Issue 9, finding 10: a `repair` stopped by SIGTERM, SIGINT or SIGHUP undoes everything
/// it made — overlay, loop devices, the FUSE snapshot and its qemu-storage-daemon, the
/// sandbox's processes, the scratch folders — and exits 128 + signal; what a repair killed
/// outright left is removed by the next one, and a live process's folder never is.
/// Through the real binary, on a real copy of the Debian root and an ext4 image made of one.
@Suite(.serialized)
struct SignalTeardownTests {
    // MARK: - SIGTERM / SIGINT during a repair

    /// `repair --root` of a copy whose initrd is gone: the overlay clone is mounted and
    /// update-initramfs runs in the sandbox (an `unshare` child) when the signal comes.
    @Test(arguments: [SIGTERM, SIGINT])
    func anOverlayRepairStoppedBySignalLeavesNothing(signal: Int32) throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/boot/initrd.img-\(TestRoot.kernelVersion)"))
        let scratch = try TemporaryDirectory(prefix: "sig-scratch")
        let out = try TemporaryDirectory(prefix: "sig-out")
        defer { Leftovers.forceClean(scratch: scratch.path) }

        let repair = try RunningCommand(["repair", "--root", copy.path, "--device", TestRoot.image,
                                         "--scratch", scratch.path, "--out", out.path])
        let ready = repair.waitUntil(seconds: 120) {
            Leftovers.mounts(under: scratch.path).contains { $0.type == "overlay" }
                && !Leftovers.children(of: repair.pid, named: "unshare").isEmpty
        }
        try #require(ready, "the overlay and the sandbox never showed up: \(repair.end) \(repair.standardError) \(repair.standardOutput)")
        let sandbox = Leftovers.children(of: repair.pid, named: "unshare")

        repair.send(signal)
        let ended = repair.wait(seconds: 60)

        #expect(ended == .exit(128 + signal), "\(repair.standardError)")
        #expect(repair.standardError.contains("clarity-heal: stopped by \(signal == SIGTERM ? "SIGTERM" : "SIGINT")"),
                "\(repair.standardError)")
        #expect(Leftovers.mounts(under: scratch.path).isEmpty)
        #expect(sandbox.allSatisfy { !Leftovers.isRunning($0) }, "the sandbox outlived the repair")
        #expect(Leftovers.processes(using: scratch.path).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == [])
    }

    /// `repair --disk` of an image of the root with a cleared inode: the disk is on a
    /// read-only loop device, the clone is an overlay over it, and the block repair trial's
    /// snapshot is a FUSE export of qemu-storage-daemon with a second loop device on it.
    @Test(arguments: [SIGTERM, SIGHUP])
    func aDiskRepairStoppedBySignalLeavesNothing(signal: Int32) throws {
        let disk = try BrokenDisk()
        let scratch = try TemporaryDirectory(prefix: "sig-scratch")
        let out = try TemporaryDirectory(prefix: "sig-out")
        defer { Leftovers.forceClean(scratch: scratch.path, image: disk.image) }

        let repair = try RunningCommand(["repair", "--disk", disk.image, "--scratch", scratch.path, "--out", out.path])
        try #require(repair.waitUntil(seconds: 120) { Leftovers.snapshotInUse(under: scratch.path) },
                     "the block snapshot never showed up: \(repair.end) \(repair.standardError) \(repair.standardOutput)")
        #expect(!Leftovers.loops(reading: disk.image).isEmpty)
        #expect(!Leftovers.loops(under: scratch.path).isEmpty)
        #expect(!Leftovers.daemons(using: scratch.path).isEmpty, "no qemu-storage-daemon found")

        repair.send(signal)
        let ended = repair.wait(seconds: 60)

        #expect(ended == .exit(128 + signal), "\(repair.standardError)")
        #expect(Leftovers.mounts(under: scratch.path).isEmpty)
        #expect(Leftovers.loops(reading: disk.image).isEmpty, "the disk's loop device is still attached")
        #expect(Leftovers.loops(under: scratch.path).isEmpty, "a loop device still reads the snapshot")
        #expect(Leftovers.daemons(using: scratch.path).isEmpty, "qemu-storage-daemon outlived the repair")
        #expect(Leftovers.processes(using: scratch.path).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
    }

    // MARK: - What a killed repair left

    @Test func theNextRepairRemovesWhatAKilledOneLeft() throws {
        let disk = try BrokenDisk()
        let scratch = try TemporaryDirectory(prefix: "sig-scratch")
        let out = try TemporaryDirectory(prefix: "sig-out")
        defer { Leftovers.forceClean(scratch: scratch.path, image: disk.image) }

        let killed = try RunningCommand(["repair", "--disk", disk.image, "--scratch", scratch.path, "--out", out.path])
        try #require(killed.waitUntil(seconds: 120) { Leftovers.snapshotInUse(under: scratch.path) },
                     "the block snapshot never showed up: \(killed.end) \(killed.standardError) \(killed.standardOutput)")
        killed.send(SIGKILL)
        #expect(killed.wait(seconds: 30) == .signal(SIGKILL))
        // Nothing can tear down after SIGKILL: this is what the next run finds.
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.path)
        #expect(left.count >= 3, "\(left)")
        #expect(Leftovers.mounts(under: scratch.path).count >= 4)
        #expect(!Leftovers.daemons(using: scratch.path).isEmpty)

        let next = try Tool.run(Tool.clarityHeal, ["repair", "--disk", disk.image, "--scratch", scratch.path,
                                                   "--out", out.path, "--json"])

        #expect(next.status == 1, "\(next.stderr)")
        #expect(Leftovers.mounts(under: scratch.path).isEmpty)
        #expect(Leftovers.loops(reading: disk.image).isEmpty)
        #expect(Leftovers.loops(under: scratch.path).isEmpty)
        #expect(Leftovers.processes(using: scratch.path).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
    }

    /// Folders recorded for: a running process; the same pid with another start time (a
    /// reused pid); a process that has exited; the running process in another boot; and one
    /// with no record. Only the dead owners' folders go — with their mounts, their loop
    /// device and never through their link to a folder outside.
    @Test func aLiveOwnersFolderIsLeftAloneAndDeadOnesAreRemoved() throws {
        let scratch = try TemporaryDirectory(prefix: "sig-scratch")
        let outside = try TemporaryDirectory(prefix: "sig-outside")
        try outside.write("keep", "outside the scratch space\n")
        defer { Leftovers.forceClean(scratch: scratch.path) }

        let sleeper = try RunningProcess("/bin/sleep", ["600"])
        defer { sleeper.stop() }
        let live = try OwnerRecord(running: sleeper.pid)
        let exited = try RunningProcess("/bin/sleep", ["600"])
        let gone = try OwnerRecord(running: exited.pid)
        exited.stop()

        let folders: [(String, OwnerRecord?)] = [
            ("live", live),
            ("reused", OwnerRecord(pid: live.pid, start: live.start + 1, boot: live.boot)),
            ("exited", gone),
            ("other-boot", OwnerRecord(pid: live.pid, start: live.start, boot: "00000000-0000-4000-8000-000000000000")),
            ("foreign", nil),
        ]
        for (name, record) in folders {
            try scratch.write(name + "/data", name + "\n")
            if let record { try scratch.write(name + "/.clarity-heal-owner", record.text) }
            try FileManager.default.createDirectory(atPath: scratch.path + "/\(name)/mnt", withIntermediateDirectories: true)
            try ScenarioDisk.run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", scratch.path + "/\(name)/mnt"])
            try "\(name) in tmpfs\n".write(toFile: scratch.path + "/\(name)/mnt/file", atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: scratch.path + "/\(name)/outside", withDestinationPath: outside.path)
        }
        // A loop device on a file in the exited owner's folder, attached as losetup does.
        try ScenarioDisk.run("truncate", ["-s", "4M", scratch.path + "/exited/disk.img"])
        let loop = try ScenarioDisk.run("losetup", ["-f", "--show", scratch.path + "/exited/disk.img"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? Tool.run("losetup", ["-d", loop]) }

        // A small disk: the repair makes its folders in the same scratch space.
        let directory = try TemporaryDirectory(prefix: "sig-disk")
        let image = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: ScenarioDisk.uuid())
        let next = try Tool.run(Tool.clarityHeal, ["repair", "--disk", image, "--scratch", scratch.path,
                                                   "--out", directory.path + "/out"])
        #expect([0, 1, 4].contains(next.status), "\(next.stderr)")

        let names = Set(try FileManager.default.contentsOfDirectory(atPath: scratch.path))
        #expect(names == ["live", "foreign"])
        let mounts = Set(Leftovers.mounts(under: scratch.path).map(\.target))
        #expect(mounts == [scratch.path + "/live/mnt", scratch.path + "/foreign/mnt"])
        #expect(try String(contentsOfFile: scratch.path + "/live/mnt/file", encoding: .utf8) == "live in tmpfs\n")
        #expect(try String(contentsOfFile: scratch.path + "/live/.clarity-heal-owner", encoding: .utf8) == live.text)
        #expect(try String(contentsOfFile: scratch.path + "/foreign/data", encoding: .utf8) == "foreign\n")
        #expect(Leftovers.loops(under: scratch.path).isEmpty, "the exited owner's loop device is still attached")
        #expect(try String(contentsOfFile: outside.path + "/keep", encoding: .utf8) == "outside the scratch space\n")
        #expect(Leftovers.isRunning(sleeper.pid))
    }
}

extension SignalTeardownTests {
    /// A scratch space others can write to (like /tmp) is refused before anything is made
    /// in it: another user could have made the folder's predictable name a link.
    @Test func aScratchSpaceOthersCanWriteToIsRefused() throws {
        let scratch = try TemporaryDirectory(prefix: "sig-scratch")
        #expect(chmod(scratch.path, 0o1777) == 0)
        defer { Leftovers.forceClean(scratch: scratch.path) }
        let directory = try TemporaryDirectory(prefix: "sig-disk")
        let image = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: ScenarioDisk.uuid())

        let result = try Tool.run(Tool.clarityHeal, ["repair", "--disk", image, "--scratch", scratch.path,
                                                     "--out", directory.path + "/out"])

        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("\(scratch.path): others can write to it or it is not this user's: not a safe scratch space"),
                "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
        #expect(Leftovers.loops(reading: image).isEmpty)
    }
}

// MARK: - Fixtures

/// An ext4 image of a copy of the test root (`mkfs.ext4 -d`) with one inode cleared
/// (`/etc/motd`): the repair finds filesystem-errors on it and tries `e2fsck -fy` on a
/// block snapshot. It has a UUID and label of its own (its fstab and grub.cfg say so), so
/// suites running meanwhile that look for the test root's UUID on this machine's devices
/// never meet its loop device.
struct BrokenDisk {
    let directory: TemporaryDirectory
    let image: String

    init() throws {
        let copy = try TestRoot.writableCopy()
        let uuid = ScenarioDisk.uuid()
        for file in ["/etc/fstab", "/boot/grub/grub.cfg"] {
            try RepairCommandTests.edit(copy.at(file)) { $0.replacingOccurrences(of: TestRoot.rootUUID, with: uuid) }
        }
        directory = try TemporaryDirectory(prefix: "sig-disk")
        image = directory.path + "/disk.img"
        try ScenarioDisk.run("truncate", ["-s", "1G", image])
        try ScenarioDisk.run("mkfs.ext4", ["-q", "-F", "-L", "sig-root", "-U", uuid, "-d", copy.path, image])
        try ScenarioDisk.run("debugfs", ["-w", "-R", "clri /etc/motd", image])
    }
}

/// An owner record as clarity-heal writes it in each scratch folder.
struct OwnerRecord {
    var pid: Int32
    var start: UInt64
    var boot: String

    var text: String { "clarity-heal-scratch 1\npid \(pid)\nstart \(start)\nboot \(boot)\n" }

    init(pid: Int32, start: UInt64, boot: String) {
        self.pid = pid
        self.start = start
        self.boot = boot
    }

    /// The record of the process running as `pid` now: start time from /proc/PID/stat
    /// (field 22, counted after the name's closing parenthesis), this boot's id.
    init(running pid: Int32) throws {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        self.pid = pid
        start = try #require(UInt64(fields[19]))
        boot = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A process started without waiting for it (posix_spawn, reaped here with waitpid): its
/// signal mask empty and the stop signals at their default, whatever this thread blocks.
class RunningProcess: @unchecked Sendable {
    let pid: pid_t
    private var waitStatus: Int32?

    init(_ executable: String, _ arguments: [String], output: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.map { $0 + ".out" } ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, output.map { $0 + ".err" } ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw Tool.Failure(message: "cannot start \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    enum End: Equatable { case exit(Int32), signal(Int32), stillRunning }

    /// How it ended, or `.stillRunning` (waitpid WNOHANG).
    var end: End {
        if waitStatus == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { waitStatus = status }
        }
        guard let status = waitStatus else { return .stillRunning }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros: decoded by hand.
        return status & 0x7f == 0 ? .exit((status >> 8) & 0xff) : .signal(status & 0x7f)
    }

    func send(_ signal: Int32) {
        if end == .stillRunning { kill(pid, signal) }
    }

    /// Waits at most `seconds` for the process to end.
    func wait(seconds: Double) -> End {
        let deadline = Date().addingTimeInterval(seconds)
        while end == .stillRunning && Date() < deadline { usleep(20_000) }
        return end
    }

    /// Polls `condition` every 20 ms while the process runs, at most `seconds`.
    func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while end == .stillRunning && Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return false
    }

    /// SIGKILL and reap, if it still runs.
    func stop() {
        guard end == .stillRunning else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        waitStatus = status
    }

    deinit { stop() }
}

/// `clarity-heal` with these arguments, its output kept in files.
final class RunningCommand: RunningProcess, @unchecked Sendable {
    let files: TemporaryDirectory

    init(_ arguments: [String]) throws {
        files = try TemporaryDirectory(prefix: "sig-output")
        try super.init(Tool.clarityHeal, arguments, output: files.path + "/command")
    }

    var standardError: String {
        (try? String(contentsOfFile: files.path + "/command.err", encoding: .utf8)) ?? ""
    }

    var standardOutput: String {
        (try? String(contentsOfFile: files.path + "/command.out", encoding: .utf8)) ?? ""
    }
}

/// What a repair may leave on the machine, read from the kernel (`KernelState`): mounts,
/// loop devices, processes. And a forced clean-up, so a failing test leaves nothing either.
enum Leftovers {
    static func mounts(under folder: String) -> [KernelState.Mount] { KernelState.mounts(below: folder) }

    /// The block snapshot of a repair trial is up: a FUSE export below `folder` and a loop
    /// device mounted from a file below it.
    static func snapshotInUse(under folder: String) -> Bool {
        let mounts = mounts(under: folder)
        return mounts.contains { $0.type.hasPrefix("fuse") } && mounts.contains { $0.target.contains("/block-") && $0.source.hasPrefix("/dev/loop") }
    }

    static func loops(under folder: String) -> [String] { KernelState.loops(below: folder) }

    static func loops(reading file: String) -> [String] { KernelState.loops(reading: file) }

    /// Running (not zombie) processes whose command line names a path below `folder`, or
    /// that hold a file below it open: qemu-storage-daemon, a sandbox's unshare.
    static func processes(using folder: String) -> [Int32] {
        let me = getpid()
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return pids.filter { pid in
            guard pid != me, isRunning(pid) else { return false }
            if (KernelState.read("/proc/\(pid)/cmdline") ?? "").contains(folder + "/") { return true }
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return fds.contains { fd in
                ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? "").hasPrefix(folder + "/")
            }
        }
    }

    /// The qemu-storage-daemon processes among `processes(using:)`.
    static func daemons(using folder: String) -> [Int32] {
        processes(using: folder).filter {
            ((try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix("qemu-storage")
        }
    }

    /// Whether `pid` runs (exists and is not a zombie).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    /// The running children of `parent` whose name (/proc/PID/comm) is `name`.
    static func children(of parent: Int32, named name: String) -> [Int32] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return pids.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines)
            return fields.count > 1 && Int32(fields[1]) == parent && comm == name && fields[0] != "Z"
        }
    }

    /// Kills what uses `scratch`, unmounts everything below it (deepest first, lazily),
    /// detaches the loop devices reading a file there or `image`, and empties it — what the
    /// code under test should have done, so a failing test does not leave it on the machine.
    static func forceClean(scratch: String, image: String? = nil) {
        for pid in processes(using: scratch) { kill(pid, SIGKILL) }
        for _ in 0..<8 {
            let targets = mounts(under: scratch).map(\.target)
            if targets.isEmpty { break }
            for target in targets { _ = try? Tool.run("umount", ["-l", target]) }
        }
        for device in loops(under: scratch) + (image.map(loops(reading:)) ?? []) {
            _ = try? Tool.run("losetup", ["-d", device])
        }
        _ = try? Tool.run("rm", ["-rf", "--one-file-system", scratch])
    }
}
