import Foundation

/// Mounts and loop devices as the kernel reports them, for the suites that check what a
/// command or a fixture left on the machine.
///
/// The files are read whole with read(2) until it returns 0: a /proc or /sys file says it
/// is 0 bytes long, and Foundation's readers return after one read of at most a page, so
/// /proc/self/mountinfo beyond 4 KiB (a busy machine) would come back cut.
public enum KernelState {
    /// The whole contents of a /proc or /sys file; nil when it cannot be opened.
    public static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public struct Mount: Equatable, Sendable {
        public var target: String
        public var type: String
        public var source: String
    }

    /// Mounts on or below `folder`, deepest first, from /proc/self/mountinfo: the mount
    /// point is field 5 (octal escapes undone), then after " - " the type and the source.
    public static func mounts(below folder: String) -> [Mount] {
        (read("/proc/self/mountinfo") ?? "").split(separator: "\n").compactMap { line -> Mount? in
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else { return nil }
            let target = unescape(fields[4])
            guard target == folder || target.hasPrefix(folder + "/") else { return nil }
            return Mount(target: target, type: String(fields[dash + 1]), source: String(fields[dash + 2]))
        }.sorted { $0.target.count > $1.target.count }
    }

    /// Every attached loop device and the file it reads (/sys/block/loopN/loop/backing_file),
    /// without the " (deleted)" the kernel adds once the file is unlinked.
    public static func loops() -> [(device: String, backing: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return names.filter { $0.hasPrefix("loop") }.sorted().compactMap { name in
            guard var backing = read("/sys/block/\(name)/loop/backing_file") else { return nil }
            backing = backing.trimmingCharacters(in: .newlines)
            if backing.hasSuffix(" (deleted)") { backing.removeLast(" (deleted)".count) }
            return ("/dev/" + name, backing)
        }
    }

    /// The loop devices reading a file below `folder`.
    public static func loops(below folder: String) -> [String] {
        loops().filter { $0.backing.hasPrefix(folder + "/") }.map(\.device)
    }

    /// The loop devices reading `file` (by the path the kernel shows).
    public static func loops(reading file: String) -> [String] {
        loops().filter { $0.backing == file }.map(\.device)
    }

    /// mountinfo escapes space, tab, newline and backslash as three octal digits.
    private static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = [], utf8 = Array(field.utf8), index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 3 < utf8.count,
               let value = UInt8(String(decoding: utf8[(index + 1)...(index + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
