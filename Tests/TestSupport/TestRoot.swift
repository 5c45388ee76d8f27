import CLinux
import Foundation

/// The real Debian root that `scripts/make-test-root` builds and caches, and writable
/// copies of it for tests that break things.
public enum TestRoot {
    /// The repository's top folder, found from this file's path.
    public static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static var cache: String { repository + "/.cache/test-root" }
    /// The pristine root directory. Never write to it: use `writableCopy()`.
    public static var root: String { cache + "/root" }
    /// The ext4 image of the pristine root (label clarity-root, fixed UUID).
    public static var image: String { cache + "/root.img" }

    /// Whether the cache is built (scripts/test builds it before the suites run).
    public static var isBuilt: Bool { FileManager.default.fileExists(atPath: cache + "/done") }

    /// ROOT_UUID, ROOT_LABEL, KERNEL_VERSION from the cache's env file.
    public static var environment: [String: String] {
        guard let text = try? String(contentsOfFile: cache + "/env", encoding: .utf8) else { return [:] }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        return values
    }

    public static var kernelVersion: String { environment["KERNEL_VERSION"] ?? "" }
    public static var rootUUID: String { environment["ROOT_UUID"] ?? "" }

    /// A copy-on-write copy of the pristine root: an overlayfs mount whose upper layer is
    /// a fresh temporary folder. Writes (including deletions) never reach the cache.
    public static func writableCopy() throws -> OverlayCopy {
        try OverlayCopy(lower: root)
    }
}

/// An overlay mount of a read-only tree with a throwaway upper layer; unmounted and
/// removed when released.
public final class OverlayCopy: @unchecked Sendable {
    public let path: String
    private let base: TemporaryDirectory

    init(lower: String) throws {
        base = try TemporaryDirectory(prefix: "overlay")
        let upper = base.path + "/upper", work = base.path + "/work", merged = base.path + "/merged"
        for dir in [upper, work, merged] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let result = try Tool.run("/bin/mount", ["-t", "overlay", "overlay", "-o",
            "lowerdir=\(lower),upperdir=\(upper),workdir=\(work)", merged])
        guard result.status == 0 else {
            throw Tool.Failure(message: "mount overlay failed: \(result.stderr)")
        }
        path = merged
    }

    /// The host path of a path inside the copy.
    public func at(_ absolute: String) -> String { path + absolute }

    deinit {
        _ = try? Tool.run("/bin/umount", ["-l", path])
    }
}

/// A temporary folder under .cache/tmp, removed when released — after whatever is still
/// mounted in it is unmounted and every loop device reading a file in it is detached, so a
/// fixture released in any order (an image's folder before the mount made from it) leaves
/// neither a mount nor a loop device on a deleted file behind.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(prefix: String = "test") throws {
        let parent = TestRoot.repository + "/.cache/tmp"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        var template = Array((parent + "/\(prefix)-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Tool.Failure(message: "mkdtemp failed in \(parent)")
        }
        path = String(cString: made)
    }

    /// Writes `contents` to `relative` inside this folder, creating folders; returns the path.
    @discardableResult
    public func write(_ relative: String, _ contents: String) throws -> String {
        try write(relative, Data(contents.utf8))
    }

    @discardableResult
    public func write(_ relative: String, _ contents: Data) throws -> String {
        let full = path + "/" + relative
        let folder = (full as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try contents.write(to: URL(fileURLWithPath: full))
        return full
    }

    deinit {
        Self.release(below: path)
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Lazily unmounts every mount on or below `folder` (deepest first) and detaches the
    /// loop devices reading a file below it (the kernel frees a busy one at its last close).
    static func release(below folder: String) {
        for mount in KernelState.mounts(below: folder) { umount2(mount.target, Int32(MNT_DETACH)) }
        for device in KernelState.loops(below: folder) {
            let fd = open(device, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            _ = ioctl(fd, UInt(LOOP_CLR_FD), 0)
            close(fd)
        }
    }
}

/// Runs the real tools the interop suites compare against.
public enum Tool {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }

    /// Runs `executable` (absolute, or searched in PATH) and waits for it.
    public static func run(_ executable: String, _ arguments: [String], input: Data? = nil) throws -> Result {
        let process = Process()
        if executable.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(input) }
        try? inPipe.fileHandleForWriting.close()
        // Read both pipes before waiting so a chatty tool cannot fill one and block.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The built `clarity-fleet` executable (the fleet service and the machine's agent).
    public static var clarityFleet: String {
        TestRoot.repository + "/.build/debug/clarity-fleet"
    }

    /// The built `clarity-heal` executable next to the test bundle.
    public static var clarityHeal: String {
        let candidates = [".build/debug/clarity-heal", ".build/release/clarity-heal"]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: TestRoot.repository + "/" + candidate) {
            return TestRoot.repository + "/" + candidate
        }
        return TestRoot.repository + "/.build/debug/clarity-heal"
    }
}
