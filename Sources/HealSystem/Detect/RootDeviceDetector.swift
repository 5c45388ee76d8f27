import HealCore

/// `root-device-mismatch`: the `root=` the boot will use names no block device, while a
/// filesystem that is this root does exist — the initramfs will wait for a device that
/// never appears and drop to its shell ("Gave up waiting for root file system device").
///
/// Checked: `root=` of the default entry (grub.cfg or BLS), and `root=` in
/// `GRUB_CMDLINE_LINUX`/`GRUB_CMDLINE_LINUX_DEFAULT` of /etc/default/grub (update-grub puts
/// it on every entry). "The root filesystem exists" means a device whose filesystem is
/// the one fstab mounts on `/`, or, without such an fstab line, any device probed that
/// holds a filesystem; with no root filesystem visible at all the root device is simply
/// not here (a disk moved elsewhere) and nothing is reported.
public struct RootDeviceDetector: Detector {
    public let name = "root-device"
    public let classes: [FailureClass] = [.rootDeviceMismatch]

    public init() {}

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let configuration: BootConfiguration
        do throws(BootConfiguration.Error) {
            configuration = try BootConfiguration.load(context.root)
        } catch {
            // An unparsable boot config is bootloader-default-invalid's finding.
            context.logger.notice("boot configuration unreadable", metadata: ["error": "\(error)"])
            return []
        }
        var candidates: [(spec: String, evidence: Evidence)] = []
        if let entry = configuration.defaultEntry, let spec = entry.option("root") {
            candidates.append((spec, Evidence(source: "\(entry.source):\(entry.line)",
                                              detail: "default entry \"\(entry.title)\": root=\(spec)")))
        }
        if let grub = configuration.defaultGrub {
            for name in ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"] {
                guard let value = grub[name] else { continue }
                let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if let root = words.last(where: { $0.hasPrefix("root=") }) {
                    let line = grub.lines[name].map { "line \($0): " } ?? ""
                    candidates.append((String(root.dropFirst(5)),
                                       Evidence(source: "/etc/default/grub", detail: "\(line)\(name)=\"\(value)\"")))
                }
            }
        }
        guard !candidates.isEmpty else { return [] }

        let devices = BlockDevices(extraImages: context.extraDevices)
        let rootSpec = Self.fstabRootSource(context.root)
        let rootFilesystems: [ResolvedDevice] = rootSpec.map { devices.matches($0) }
            ?? devices.devices.filter { $0.problem == nil && $0.info.usage == "filesystem" }
        guard !rootFilesystems.isEmpty else {
            context.logger.debug("no root filesystem visible", metadata: ["fstab": "\(rootSpec ?? "-")"])
            return []
        }

        var findings: [Finding] = []
        var reported: Set<String> = []
        for (spec, evidence) in candidates where !reported.contains(spec) {
            // Kernel forms blkid knows nothing of: a major:minor pair, or /dev/nfs, or a
            // bare device name are resolved by the kernel itself.
            guard spec.contains("=") || spec.hasPrefix("/dev/disk/") || spec.hasPrefix("/dev/") else { continue }
            if spec == "/dev/nfs" || spec.hasPrefix("/dev/ram") { continue }
            if devices.resolve(spec) != nil { continue }
            // A plain /dev/sdX path cannot be checked offline unless the machine is this one.
            if spec.hasPrefix("/dev/"), !spec.hasPrefix("/dev/disk/"), !spec.hasPrefix("/dev/mapper/"), !context.root.isLive {
                continue
            }
            reported.insert(spec)
            let found = rootFilesystems.map { device in
                [device.path, device.info.uuid.map { "UUID=\($0)" }, device.info.label.map { "LABEL=\($0)" }]
                    .compactMap { $0 }.joined(separator: " ")
            }
            findings.append(Finding(
                .rootDeviceMismatch,
                summary: "root=\(spec) names no block device, but the root filesystem is on \(rootFilesystems[0].path)",
                evidence: [evidence,
                           Evidence(source: "blkid", detail: "no device with \(spec) among \(devices.devices.count) probed; root filesystem: \(found.joined(separator: "; "))")]))
        }
        return findings
    }

    /// The source fstab mounts on `/`, when it has such a line.
    static func fstabRootSource(_ root: SystemRoot) -> String? {
        guard let text = try? root.files.text("/etc/fstab", limit: 1 << 20) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, !fields[0].hasPrefix("#"), fields[1] == "/" { return String(fields[0]) }
        }
        return nil
    }
}
