/// The modprobe.d file that keeps modules from loading after a panic or Oops named them
/// (`kernel-panic`, docs/failure-catalogue.md). `blacklist M` stops loading by alias; `install M
/// /bin/false` also stops an explicit `modprobe M` and a dependency pulling it in
/// (modprobe.d(5)). The kernel's own `module_blacklist=` on the command line covers the
/// initramfs and any loader that bypasses modprobe.
///
/// ```
///  # clarity-heal: modules that crashed the kernel; remove a block to allow one again
///  blacklist clarity_oops
///  install clarity_oops /bin/false
/// ```
public enum ModuleBlacklistConfig {
    public static let path = "/etc/modprobe.d/clarity-heal-blacklist.conf"
    /// The kernel command-line parameter (kernel/module/main.c), comma-separated names.
    public static let parameter = "module_blacklist"

    static let header = "# clarity-heal: modules that crashed the kernel; remove a block to allow one again"

    /// The file with `modules` blacklisted, keeping what `existing` already had.
    public static func text(existing: String?, adding modules: [String]) -> String {
        var text = existing ?? ""
        if text.isEmpty { text = header + "\n" }
        if !text.hasSuffix("\n") { text += "\n" }
        let present = blacklisted(in: text)
        for module in modules.map(normalized) where !present.contains(module) {
            text += "blacklist \(module)\ninstall \(module) /bin/false\n"
        }
        return text
    }

    /// The modules a modprobe.d text blacklists.
    public static func blacklisted(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return words.count >= 2 && words[0] == "blacklist" ? normalized(String(words[1])) : nil
        }
    }

    /// Module names compare with `-` and `_` alike (kmod's `modname_normalize`).
    public static func normalized(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }
}
