/// The rules a path in a fix manifest must follow before apply trusts it: absolute as the
/// examined system sees it, and already normalised, so that the path apply checks is the
/// path the kernel walks (docs/security.md, fix packages).
public enum PackagePath {
    /// Why `path` is unacceptable, or nil when it is a normalised absolute path other than
    /// `/` itself.
    public static func problem(_ path: String) -> String? {
        if path.isEmpty { return "is empty" }
        if path.utf8.contains(0) { return "contains a NUL byte" }
        guard path.hasPrefix("/") else { return "is not absolute" }
        if path == "/" { return "is the root itself" }
        if path.hasSuffix("/") { return "ends with a slash" }
        // Split keeping empty pieces: "//" is an empty component, which a normalised path
        // never has.
        for component in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            switch component {
            case "": return "has an empty component"
            case ".": return "has a . component"
            case "..": return "has a .. component"
            default: continue
            }
        }
        return nil
    }

    /// The components of a checked path (`/etc/fstab` → `["etc", "fstab"]`).
    public static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init)
    }

    /// The folder holding `path` (`/etc/fstab` → `/etc`, `/etc` → `/`).
    public static func parent(_ path: String) -> String {
        var parts = components(path)
        parts.removeLast()
        return "/" + parts.joined(separator: "/")
    }

    /// The last component (`/etc/fstab` → `fstab`).
    public static func name(_ path: String) -> String {
        components(path).last ?? ""
    }

    /// Whether `id` can name a folder under the state folder: letters, digits, `.`, `_`
    /// and `-`, not starting with a dot, at most 200 characters.
    public static func isUsableFixID(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 200, !id.hasPrefix(".") else { return false }
        return id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x2e || byte == 0x5f || byte == 0x2d
        }
    }
}
