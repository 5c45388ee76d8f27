import FleetProtocol
import HealSystem

extension SystemProfile {
    /// The profile of `root`: os-release's `ID` and `VERSION_ID`, the default entry's kernel
    /// series, the bootloader its boot configuration is read from, the initramfs generator
    /// installed. What cannot be read is `unknown`.
    public static func read(_ root: SystemRoot) -> SystemProfile {
        var release = "unknown"
        for path in ["/etc/os-release", "/usr/lib/os-release"] {
            guard let text = try? root.files.text(path, limit: 64 << 10) else { continue }
            var fields: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                fields[parts[0]] = parts[1].trimmingQuotes
            }
            release = token([fields["ID"] ?? "unknown", fields["VERSION_ID"] ?? "unknown"].joined(separator: "-"))
            break
        }
        let configuration = try? BootConfiguration.load(root)
        var kernelSeries = "unknown"
        if let kernel = configuration?.defaultEntry?.kernel, let name = kernel.split(separator: "/").last, name.hasPrefix("vmlinuz-") {
            kernelSeries = series(ofKernel: String(name.dropFirst("vmlinuz-".count)))
        }
        let bootloader: String =
            switch configuration?.loader {
            case .grub: "grub"
            case .loaderEntries: "systemd-boot"
            default: "unknown"
            }
        let initramfsTool: String =
            switch InitramfsGenerator.installed(in: root) {
            case .initramfsTools: "initramfs-tools"
            case .dracut: "dracut"
            case nil: "unknown"
            }
        return SystemProfile(release: release, kernelSeries: kernelSeries, bootloader: bootloader, initramfsTool: initramfsTool)
    }
}

extension String {
    var trimmingQuotes: String {
        var text = Substring(self)
        while let first = text.first, first == "\"" || first == "'" || first.isWhitespace { text.removeFirst() }
        while let last = text.last, last == "\"" || last == "'" || last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
