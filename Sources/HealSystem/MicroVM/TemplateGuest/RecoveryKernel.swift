import Glibc
import HealCore

/// The kernel a template guest boots: from the machine's recovery set, the newest intact
/// kernel of the examined root, else one of the running system's.
///
/// Intact: `/boot/vmlinuz-VER` is a regular file of a plausible size carrying the x86 boot
/// protocol's `HdrS` signature (at 0x202, Documentation/arch/x86/boot.rst), and
/// `/lib/modules/VER/modules.dep` is there (the guest's modules come from that tree).
public struct RecoveryKernel: Sendable {
    /// The root the kernel and its modules are read from (confined).
    public var root: SystemRoot
    public var version: String
    /// `/boot/vmlinuz-VER`, inside `root`.
    public var image: String
    /// What the set is, for reports: "the examined root", "this system".
    public var source: String

    public var modulesDirectory: String { "/lib/modules/" + version }

    /// The image's path on this machine, its links resolved inside the root (what the KVM
    /// probe boots; a guest boots a copy, `copyImage`).
    public var hostPath: String { root.files.hostPath(root.canonical(image)) }

    /// Largest kernel image read.
    static let imageLimit = 128 << 20

    /// The newest intact kernel of `root`, or why there is none.
    public static func newest(in root: SystemRoot, source: String) -> Result<RecoveryKernel, Unavailable> {
        let names = root.files.entriesIfPresent(root.canonical("/boot")).filter { $0.hasPrefix("vmlinuz-") }
        guard !names.isEmpty else {
            return .failure(Unavailable(reasons: ["\(source) (\(root.path)) has no /boot/vmlinuz-*"]))
        }
        var reasons: [String] = []
        let versions = names.map { String($0.dropFirst("vmlinuz-".count)) }
            .sorted { GrubConfig.compareVersions($0, $1) > 0 }
        for version in versions {
            let image = "/boot/vmlinuz-" + version
            if let problem = problem(root: root, image: image, version: version) {
                reasons.append("\(source): \(image) \(problem)")
                continue
            }
            return .success(RecoveryKernel(root: root, version: version, image: image, source: source))
        }
        return .failure(Unavailable(reasons: reasons))
    }

    /// The first of `candidates` (root, description) with an intact kernel, or every
    /// reason none had one.
    public static func choose(_ candidates: [(root: SystemRoot, source: String)]) -> Result<RecoveryKernel, Unavailable> {
        var reasons: [String] = []
        for candidate in candidates {
            switch newest(in: candidate.root, source: candidate.source) {
            case .success(let kernel): return .success(kernel)
            case .failure(let unavailable): reasons += unavailable.reasons
            }
        }
        return .failure(Unavailable(reasons: reasons))
    }

    /// Why no kernel could be chosen: one reason per place looked at.
    public struct Unavailable: Swift.Error, Sendable, CustomStringConvertible {
        public var reasons: [String]
        public var description: String { "no intact kernel to boot a template guest with: " + reasons.joined(separator: "; ") }
    }

    /// Why `image` of `version` is not intact, or nil.
    static func problem(root: SystemRoot, image: String, version: String) -> String? {
        guard let st = root.files.statusIfPresent(root.canonical(image), followLast: true), (st.st_mode & S_IFMT) == S_IFREG else {
            return "is not a regular file"
        }
        guard st.st_size >= 1 << 20, st.st_size <= imageLimit else { return "has an implausible size (\(st.st_size) bytes)" }
        guard let head = try? root.files.open(root.canonical(image), limit: imageLimit).readAll(limit: imageLimit).prefix(0x206),
              head.count == 0x206, Array(head[0x202..<0x206]) == Array("HdrS".utf8) else {
            return "is not a bzImage (no HdrS signature)"
        }
        guard root.files.kind(root.canonical("/lib/modules/\(version)/modules.dep"), followLast: true) == .regular else {
            return "has no /lib/modules/\(version)/modules.dep"
        }
        return nil
    }

    /// Copies the image to `destination` on this machine (made; must not exist): QEMU
    /// reads a copy, never a path inside the examined root.
    func copyImage(to destination: String) throws(MicroVMError) {
        let bytes: [UInt8]
        do {
            bytes = try root.files.read(root.canonical(image), limit: Self.imageLimit)
        } catch {
            throw .unbootable("the kernel \(image) of \(source) cannot be read: \(error)")
        }
        let fd = retryingEINTR { open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw .launch("cannot create \(destination): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            guard n > 0 else { throw .launch("cannot write \(destination): \(String(cString: strerror(errno)))") }
            written += n
        }
    }
}
