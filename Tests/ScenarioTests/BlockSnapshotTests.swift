import Foundation
import HealSystem
import Testing
import TestSupport

/// `BlockSnapshot` with the real qemu-storage-daemon: writes land in the qcow2 overlay and
/// never in the base, and closing leaves no daemon, no mount and no files behind.
@Suite(.serialized)
struct BlockSnapshotTests {
    static func sha256(_ path: String) throws -> String {
        try FilesystemRepairTests.sha256(path)
    }

    static func isAlive(_ pid: String) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    @Test func writesReachTheOverlayAndNeverTheBase() throws {
        let directory = try TemporaryDirectory(prefix: "snap")
        let image = try FilesystemErrorsScenarioTests.corrupted(in: directory, uuid: ScenarioDisk.uuid())
        let before = try Self.sha256(image)
        let snapshot = try BlockSnapshot(base: image, directory: directory.path + "/snapshot")
        defer { snapshot.close() }
        #expect(snapshot.size == 16 << 20)
        #expect(snapshot.isRunning)
        #expect(snapshot.isMounted)
        #expect(try Self.sha256(snapshot.path) == before, "the snapshot does not read as the base")

        let overlayBefore = try FileManager.default.attributesOfItem(atPath: snapshot.overlay)[.size] as? Int ?? 0
        #expect(try Tool.run("e2fsck", ["-fy", snapshot.path]).status == 1)
        #expect(try Tool.run("e2fsck", ["-fn", snapshot.path]).status == 0)
        #expect(try Tool.run("e2fsck", ["-fn", image]).status == 4)
        #expect(try Self.sha256(image) == before, "a write through the snapshot reached the base")
        #expect(try Self.sha256(snapshot.path) != before)
        let overlayAfter = try FileManager.default.attributesOfItem(atPath: snapshot.overlay)[.size] as? Int ?? 0
        #expect(overlayAfter > overlayBefore)
        // -U: the daemon holds the overlay's write lock.
        #expect(try Tool.run("qemu-img", ["info", "-U", snapshot.overlay]).stdout.contains("backing file: \(image)"))
    }

    @Test func closeStopsTheDaemonAndReleasesTheMount() throws {
        let directory = try TemporaryDirectory(prefix: "snap")
        let image = try ScenarioDisk.ext4(in: directory, "clean.img", megabytes: 8)
        let folder = directory.path + "/snapshot"
        let snapshot = try BlockSnapshot(base: image, directory: folder)
        let pid = try String(contentsOfFile: folder + "/daemon.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Self.isAlive(pid))
        // The loop mount on the FUSE file is what the trial does with it.
        do {
            let mount = try ScenarioMount(image: snapshot.path, at: directory.path + "/mnt", options: "ro,loop")
            #expect(FileManager.default.fileExists(atPath: mount.path + "/lost+found"))
        }
        snapshot.close()
        #expect(!snapshot.isRunning)
        #expect(!snapshot.isMounted)
        #expect(!Self.isAlive(pid))
        #expect(!FileManager.default.fileExists(atPath: folder))
        #expect(KernelState.mounts(below: folder).isEmpty)
        snapshot.close()  // twice is safe
    }

    @Test func aDaemonStartedFromAThreadThatBlocksSIGTERMStopsOnSIGTERM() throws {
        let directory = try TemporaryDirectory(prefix: "snap")
        let image = try ScenarioDisk.ext4(in: directory, "clean.img", megabytes: 8)
        let folder = directory.path + "/snapshot"
        // A test runner's worker thread may block SIGTERM; the runner must not pass that on.
        let snapshot = try SignalMasks.onThread(blocking: [SIGTERM]) { try BlockSnapshot(base: image, directory: folder) }
        defer { snapshot.close() }
        let pid = try String(contentsOfFile: folder + "/daemon.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let blocked = SignalMasks.parse(status).blocked
        #expect(try #require(blocked) & SignalMasks.bit(SIGTERM) == 0, "the daemon blocks SIGTERM")

        // SIGTERM alone stops it: close()'s SIGKILL fallback is not what ends it.
        kill(pid_t(pid) ?? 0, SIGTERM)
        var waited = 0
        while Self.isAlive(pid) && waited < 100 {
            usleep(50_000)
            waited += 1
        }
        #expect(!Self.isAlive(pid), "the daemon ignored SIGTERM")
        snapshot.close()
        #expect(!FileManager.default.fileExists(atPath: folder))
    }

    @Test(arguments: [
        ("/nonexistent/disk.img", "cannot snapshot /nonexistent/disk.img: No such file or directory"),
        ("/dev/null", "cannot snapshot /dev/null: neither a block device nor an image file"),
    ])
    func aBadBaseIsAClearError(_ base: String, _ message: String) throws {
        let directory = try TemporaryDirectory(prefix: "snap")
        #expect {
            _ = try BlockSnapshot(base: base, directory: directory.path + "/snapshot")
        } throws: { error in
            "\(error)" == message
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/snapshot"))
    }
}
