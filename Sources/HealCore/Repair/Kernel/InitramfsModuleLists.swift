/// The files that force modules into an initramfs: initramfs-tools'
/// `/etc/initramfs-tools/modules` (one module a line, `#` comments; initramfs-tools(7))
/// and a dracut drop-in with `add_drivers+=" … "` (dracut.conf(5)).
public enum InitramfsModuleLists {
    public static let initramfsToolsPath = "/etc/initramfs-tools/modules"
    public static let dracutPath = "/etc/dracut.conf.d/clarity-heal-drivers.conf"

    /// The modules an initramfs-tools `modules` file lists (first word of each line).
    public static func listed(initramfsTools text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let trimmed = KernelEditText.trimmed(line)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return nil }
            return trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init)
        }
    }

    /// The `modules` file with `modules` appended, each once; the rest kept byte for byte.
    public static func initramfsTools(_ text: String, adding modules: [String]) -> String {
        let present = Set(listed(initramfsTools: text).map(ModuleBlacklistConfig.normalized))
        var result = text
        for module in modules where !present.contains(ModuleBlacklistConfig.normalized(module)) {
            if !result.isEmpty && !result.hasSuffix("\n") { result += "\n" }
            result += module + "\n"
        }
        return result
    }

    /// The dracut drop-in with `modules` in its `add_drivers+=` line.
    public static func dracut(_ existing: String?, adding modules: [String]) -> String {
        var present: [String] = []
        for line in (existing ?? "").split(separator: "\n") {
            let trimmed = KernelEditText.trimmed(line)
            guard trimmed.hasPrefix("add_drivers+=") else { continue }
            let value = trimmed.dropFirst("add_drivers+=".count).filter { $0 != "\"" && $0 != "'" }
            present += value.split(separator: " ").map(String.init)
        }
        let all = present + modules.filter { !present.contains($0) }
        return "# clarity-heal: drivers the root file system needs in the initramfs\n"
            + "add_drivers+=\" \(all.joined(separator: " ")) \"\n"
    }
}
