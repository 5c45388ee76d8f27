import HealCore

/// Finds ext2/3/4 filesystems of the system that carry errors: those fstab resolves to and
/// the context's extra devices.
///
/// Two real tools judge, as DESIGN.md §4 says:
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
        for device in Self.filesystems(context: context, devices: devices) {
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
            let label = device.info.label.map { " (LABEL=\($0))" } ?? ""
            findings.append(Finding(.filesystemErrors,
                summary: "\(device.info.type ?? "ext") filesystem \(device.path)\(label) has errors: \(problems.joined(separator: "; "))",
                evidence: evidence))
        }
        return findings
    }

    /// The ext filesystems to check, each once: fstab's resolved sources, then the extra
    /// devices.
    static func filesystems(context: DetectionContext, devices: BlockDevices) -> [ResolvedDevice] {
        var candidates: [ResolvedDevice] = []
        if let fstab = try? Fstab.load(root: context.root) {
            for entry in fstab.entries where !entry.isPseudo && !entry.isNetwork && !entry.isSwap {
                if let device = FstabDetector.resolve(entry.source, devices: devices, root: context.root) {
                    candidates.append(device)
                }
            }
        }
        candidates += devices.devices.filter(\.isExtra)
        var seen: Set<String> = []
        return candidates.filter { device in
            guard let type = device.info.type, extTypes.contains(type) else { return false }
            return seen.insert(BlockDevices.canonicalPath(device.path)).inserted
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
