import Glibc

/// Finding a tool on this machine.
public enum Executable {
    /// The full path of `name` in PATH, or in the sbin and bin folders a root's tools live
    /// in when PATH leaves them out (the initramfs, a minimal service environment).
    public static func find(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return folders.map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }
}
