import Glibc
import HealCore

/// Finds ext2/3/4 filesystems of the system that carry errors: those fstab resolves to and
/// the context's extra devices.
///
/// Two real tools judge:
/// - `dumpe2fs -h`: the superblock's state says "with errors" (the kernel recorded an
///   error; `errors=remount-ro` turned the mount read-only). Safe on a mounted filesystem.
/// - `e2fsck -fn`: a forced read-only check exits non-zero. Skipped for a filesystem
///   mounted read-write on this machine, whose metadata is in flight and would give false
///   errors.
public struct FilesystemErrorsDetector: Detector {
    public let name = "filesystem"
    public let classes: [FailureClass] = [.filesystemErrors]
    /// Where this machine's mounts are listed.
    public var mountInfoPath: String
    /// At most this many lines of a tool's output go into a finding's evidence.
    public var evidenceLines: Int

    public init(mountInfoPath: String = "/proc/self/mountinfo", evidenceLines: Int = 40) {
        self.mountInfoPath = mountInfoPath
        self.evidenceLines = evidenceLines
    }

    static let extTypes: Set<String> = ["ext2", "ext3", "ext4"]

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let devices = BlockDevices(extraImages: context.extraDevices)
        let mounts: MountInfo?
        do throws(MountInfo.Error) {
            mounts = try MountInfo.current(path: mountInfoPath)
        } catch {
            // Without the mount table nothing can be proven unmounted: e2fsck is skipped.
            context.logger.warning("cannot read the mount table", metadata: ["error": "\(error)"])
            mounts = nil
        }
        var findings: [Finding] = []
        for (device, loops) in Self.filesystems(context: context, devices: devices) {
            let mountedReadWrite = mounts?.isMountedReadWrite(device.path) ?? true
            var evidence: [Evidence] = []
            var problems: [String] = []
            let header = try context.runner.run("dumpe2fs", ["-h", device.path])
            let stateLines = Self.errorLines(ofHeader: header.output)
            if stateLines.contains(where: { $0.hasPrefix("Filesystem state:") }) {
                problems.append("the superblock records errors")
                evidence.append(Evidence(source: "dumpe2fs -h \(device.path)", detail: stateLines.joined(separator: "\n")))
            }
            if mountedReadWrite {
                context.logger.debug("mounted read-write here: no e2fsck", metadata: ["device": "\(device.path)"])
            } else {
                let check = try context.runner.run("e2fsck", ["-fn", device.path])
                if !check.succeeded {
                    problems.append("e2fsck -fn exits \(check.status)")
                    evidence.append(Evidence(source: "e2fsck -fn \(device.path)",
                                             detail: cap(check.output + check.errorOutput)))
                }
            }
            guard !problems.isEmpty else { continue }
            for loop in loops where loop.path != device.path {
                evidence.append(Evidence(source: loop.device.backingFileSource,
                                         detail: "\(loop.path) is a loop device of \(loop.device.backingFile): the same filesystem as \(device.path), checked once"))
            }
            let label = device.info.label.map { " (LABEL=\($0))" } ?? ""
            findings.append(Finding(.filesystemErrors,
                summary: "\(device.info.type ?? "ext") filesystem \(device.path)\(label) has errors: \(problems.joined(separator: "; "))",
                evidence: evidence))
        }
        return findings
    }

    /// A loop device folded into the filesystem it reads.
    struct Loop: Equatable {
        /// The node that named it.
        var path: String
        var device: LoopDevice
    }

    /// The ext filesystems to check, each once: fstab's resolved sources, then the extra
    /// devices. A loop device and the image file (or device) behind it are one filesystem:
    /// it is named by the image, the loop devices that reach it are kept for the evidence.
    static func filesystems(context: DetectionContext, devices: BlockDevices) -> [(device: ResolvedDevice, loops: [Loop])] {
        var candidates: [ResolvedDevice] = []
        if let fstab = try? Fstab.load(root: context.root) {
            for entry in fstab.entries where !entry.isPseudo && !entry.isNetwork && !entry.isSwap {
                if let device = FstabDetector.resolve(entry.source, devices: devices, root: context.root) {
                    candidates.append(device)
                }
            }
        }
        candidates += devices.devices.filter(\.isExtra)
        var groups: [(identity: Identity, device: ResolvedDevice, loops: [Loop])] = []
        for device in candidates {
            guard let type = device.info.type, extTypes.contains(type) else { continue }
            let (identity, loop) = Self.identity(of: device.path)
            guard let index = groups.firstIndex(where: { $0.identity == identity }) else {
                groups.append((identity, device, loop.map { [$0] } ?? []))
                continue
            }
            if let loop {
                if !groups[index].loops.contains(loop) { groups[index].loops.append(loop) }
            } else if groups[index].loops.contains(where: { $0.path == groups[index].device.path }) {
                // A loop device came first (fstab resolves to it): the image names the filesystem.
                groups[index].device = device
            }
        }
        return groups.map { ($0.device, $0.loops) }
    }

    /// What a path reads, whatever names it: an image file by its inode, any other block
    /// device by its number, a whole-file loop device (no offset, no size limit) by what
    /// backs it.
    enum Identity: Hashable {
        case file(device: UInt64, inode: UInt64)
        case block(UInt64)
        case path(String)
    }

    /// The identity of `path`, and the loop device it went through to get there.
    static func identity(of path: String, depth: Int = 0) -> (Identity, Loop?) {
        guard let st = FileReading.status(atPath: path, followLinks: true) else {
            return (.path(BlockDevices.canonicalPath(path)), nil)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            return (.file(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)), nil)
        case S_IFBLK:
            let rdev = UInt64(st.st_rdev)
            guard depth < 8, let loop = LoopDevice(number: rdev), loop.coversWholeFile else {
                return (.block(rdev), nil)
            }
            return (identity(of: loop.backingFile, depth: depth + 1).0, Loop(path: path, device: loop))
        default:
            return (.path(BlockDevices.canonicalPath(path)), nil)
        }
    }

    /// The header lines that tell of recorded errors: the state when it says "with
    /// errors", and the error count and first/last error records that go with it.
    static func errorLines(ofHeader output: String) -> [String] {
        let lines = output.split(separator: "\n").map(String.init)
        guard lines.contains(where: { $0.hasPrefix("Filesystem state:") && $0.contains("with errors") }) else { return [] }
        return lines.filter { line in
            line.hasPrefix("Filesystem state:") || line.hasPrefix("FS Error count:")
                || line.hasPrefix("First error") || line.hasPrefix("Last error")
        }
    }

    private func cap(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let kept = lines.prefix(evidenceLines).joined(separator: "\n")
        return lines.count > evidenceLines ? kept + "\n… \(lines.count - evidenceLines) more lines" : kept
    }
}
