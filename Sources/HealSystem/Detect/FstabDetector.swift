import HealCore

/// Checks `/etc/fstab` of the root against the block devices the system can see.
///
/// - `fstab-unresolvable-source`: a mount the boot waits for (no `nofail`, no `noauto`)
///   whose source names no device. systemd gives up after the device timeout and the boot
///   drops to the emergency shell (`local-fs.target` requires the mount). A swap line does
///   not stop the boot (`swap.target` is only wanted by `sysinit.target`) but stalls it for
///   the device timeout, so it is reported at a lower severity.
/// - `fstab-invalid-entry`: a line libmount cannot parse; a type that differs from the one
///   blkid sees on the resolved device; a swap option and a source tag
///   `findmnt --verify` (util-linux 2.38) rejects; an fstab that is not a readable file.
public struct FstabDetector: Detector {
    public let name = "fstab"
    public let classes: [FailureClass] = [.fstabUnresolvableSource, .fstabInvalidEntry]
    /// The file as the root sees it.
    public var path: String

    public init(path: String = "/etc/fstab") {
        self.path = path
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let fstab: Fstab
        do throws(Fstab.Error) {
            fstab = try Fstab.load(root: context.root, path: path)
        } catch {
            if case .missing = error {
                // No fstab is a valid configuration: only the root is mounted.
                context.logger.debug("no fstab", metadata: ["path": "\(path)"])
                return []
            }
            return [Finding(.fstabInvalidEntry, summary: error.description,
                            evidence: [Evidence(source: path, detail: error.description)])]
        }
        var findings = fstab.invalidLines.map { line in
            Finding(.fstabInvalidEntry,
                    summary: Fstab.Error.invalidLine(path: path, line: line.line, reason: line.reason).description,
                    evidence: [Evidence(source: "\(path):\(line.line)", detail: line.text)])
        }
        let devices = BlockDevices(extraImages: context.extraDevices)
        for device in devices.devices {
            if let problem = device.problem {
                context.logger.debug("device not identified", metadata: ["error": "\(problem)"])
            }
        }
        for entry in fstab.entries {
            findings += check(entry, devices: devices, root: context.root)
        }
        return findings
    }

    /// The findings for one parsed line.
    func check(_ entry: Fstab.Entry, devices: BlockDevices, root: SystemRoot) -> [Finding] {
        let lineEvidence = Evidence(source: "\(path):\(entry.line)", detail: entry.text)
        var findings: [Finding] = []
        if entry.isSwap {
            findings += swapOptionProblems(entry).map { problem in
                Finding(.fstabInvalidEntry, summary: "\(path) line \(entry.line): \(problem)", evidence: [lineEvidence])
            }
        }
        // Pseudo and network filesystems, bind mounts and sources such as `none` or
        // `overlay` name no block device (findmnt does not check them either).
        guard !entry.isPseudo, !entry.isNetwork, !entry.hasOption("bind"), !entry.hasOption("rbind"),
              !entry.fstype.hasPrefix("fuse") else { return findings }
        // The tags libmount knows: blkid's four and ID= (a /dev/disk/by-id link).
        let isTag = BlockDevices.tag(of: entry.source) != nil || entry.source.hasPrefix("ID=")
        if !isTag, entry.source.contains("="), !entry.source.hasPrefix("/") {
            // blkid can split it into NAME=value but no boot tool knows that NAME: findmnt's
            // "unsupported source tag".
            findings.append(Finding(.fstabInvalidEntry,
                summary: "\(path) line \(entry.line): unsupported source tag \(entry.source)", evidence: [lineEvidence]))
            return findings
        }
        guard isTag || entry.source.hasPrefix("/") else { return findings }

        guard let device = Self.resolve(entry.source, devices: devices, root: root) else {
            if entry.hasOption("nofail") || entry.hasOption("noauto") { return findings }
            let waits = entry.isSwap
                ? "the boot stalls for the device timeout waiting for swap"
                : "the boot waits for it and drops to the emergency shell"
            findings.append(Finding(.fstabUnresolvableSource,
                summary: "\(path) line \(entry.line): \(entry.source) (\(entry.target)) names no block device; \(waits)",
                evidence: [lineEvidence, Evidence(source: "blkid", detail: "no device with \(entry.source) among \(devices.devices.count) probed")],
                severity: entry.isSwap ? .moderate : nil))
            return findings
        }
        if let problem = typeProblem(entry, device: device) {
            findings.append(Finding(.fstabInvalidEntry, summary: "\(path) line \(entry.line): \(problem)",
                evidence: [lineEvidence, Evidence(source: "blkid -p \(device.path)", detail: Self.probeText(device))]))
        }
        return findings
    }

    /// The device behind a source. A path outside /dev (a swap file, an image mounted with
    /// `loop`) is a file of the examined root, not of this machine.
    static func resolve(_ source: String, devices: BlockDevices, root: SystemRoot) -> ResolvedDevice? {
        guard source.hasPrefix("/"), !source.hasPrefix("/dev/") else { return devices.resolve(source) }
        // Followed inside the root to a regular file; libblkid then opens it by a host path
        // that passes no link (a device node or a link out of the root is never probed).
        let canonical = root.canonical(source)
        guard root.files.kind(canonical) == .regular else { return nil }
        return BlockDevices(extraImages: [root.host(canonical)], scanningHost: false).devices.first
    }

    /// findmnt's verify_fstype: the written type must be the one on disk, and `auto` must
    /// find one.
    private func typeProblem(_ entry: Fstab.Entry, device: ResolvedDevice) -> String? {
        let written = entry.fstype
        guard let actual = device.info.type else {
            return written == "auto" ? "type auto but no filesystem can be detected on \(device.path)" : nil
        }
        if written == "auto" || written == "none" || written == actual { return nil }
        return "type \(written) does not match the on-disk \(actual) of \(device.path)"
    }

    /// findmnt's verify_swaparea: `discard=` takes `once` or `pages`, `pri=` an integer.
    private func swapOptionProblems(_ entry: Fstab.Entry) -> [String] {
        var problems: [String] = []
        // findmnt compares only the value's length of "once"/"pages" (strncmp with the
        // value's size) and accepts digits after an optional minus; the same rule here.
        if let policy = entry.optionValue("discard"), !"once".hasPrefix(policy), !"pages".hasPrefix(policy) {
            problems.append("unsupported swap discard policy \(policy)")
        }
        if let priority = entry.optionValue("pri"),
           !(priority.hasPrefix("-") ? priority.dropFirst() : Substring(priority)).allSatisfy({ $0.isASCII && $0.isNumber }) {
            problems.append("swap priority \(priority) is not a number")
        }
        return problems
    }

    static func probeText(_ device: ResolvedDevice) -> String {
        if let problem = device.problem { return problem.description }
        if device.info.values.isEmpty { return "no signature" }
        return device.info.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}
