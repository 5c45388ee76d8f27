/// Making a GRUB entry the default without regenerating grub.cfg: the literal
/// `set default="…"` that 00_header writes from GRUB_DEFAULT, and GRUB_DEFAULT itself in
/// `/etc/default/grub` so the next `update-grub` keeps the choice.
public enum GrubDefaultEdit {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case notADefaultAssignment(line: Int, text: String)

        public var description: String {
            switch self {
            case .notADefaultAssignment(let line, let text): "grub.cfg line \(line) does not set default: \(text)"
            }
        }
    }

    /// grub.cfg with line `line` (1-based, a `set default=…`) naming `value`.
    public static func settingDefault(_ value: String, grubConfig text: String, line: Int) throws(Error) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard line >= 1, line <= lines.count else { throw .notADefaultAssignment(line: line, text: "") }
        let current = lines[line - 1]
        guard KernelEditText.trimmed(current).hasPrefix("set default=") else {
            throw .notADefaultAssignment(line: line, text: KernelEditText.trimmed(current))
        }
        let indent = current.prefix { $0 == " " || $0 == "\t" }
        // GRUB's quoting: inside "…", only \ " $ need escaping.
        var quoted = ""
        for character in value {
            if "\\\"$".contains(character) { quoted.append("\\") }
            quoted.append(character)
        }
        lines[line - 1] = indent + "set default=\"\(quoted)\""
        return lines.joined(separator: "\n")
    }

    /// `/etc/default/grub` with `GRUB_DEFAULT` naming `value`.
    public static func settingDefault(_ value: String, defaultGrub text: String) -> String {
        ShellAssignment.setting("GRUB_DEFAULT", to: value, in: text)
    }
}
