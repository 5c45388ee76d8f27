import Glibc

/// The executables a site puts into one of clarity-heal's folders (`health.d`, `notify.d`)
/// to run on the running system: only on the machine's own root, never on an examined
/// one, and only files that root alone could have put there — what cron and sudo ask of
/// their drop-in folders.
///
/// Taken: regular files (no link followed), executable, owned by root, not writable by
/// group or others, in a folder owned by root and not writable by group or others, named
/// without a leading dot and without the leftovers of a package manager or an editor
/// (`.dpkg-old`, `.dpkg-dist`, `~`, …). Sorted by name; at most `limit`.
public enum SiteExecutables {
    public static let limit = 64

    /// Why a file of the folder was left out (shown by `verify`, so a site sees that its
    /// check did not run).
    public struct Skipped: Sendable, Equatable, Codable {
        public var name: String
        public var reason: String
    }

    public static func list(_ folder: String, root: SystemRoot) -> (run: [String], skipped: [Skipped]) {
        guard let directory = root.files.statusIfPresent(folder, links: .refuse),
              FileKind(mode: directory.st_mode) == .directory else { return ([], []) }
        if directory.st_uid != 0 || directory.st_mode & 0o022 != 0 {
            return ([], [Skipped(name: folder, reason: "the folder is not root's alone (owner or mode): nothing in it runs")])
        }
        var run: [String] = []
        var skipped: [Skipped] = []
        for name in root.files.entriesIfPresent(folder).sorted() {
            if name.hasPrefix(".") || Self.leftoverSuffixes.contains(where: { name.hasSuffix($0) }) { continue }
            let path = folder + "/" + name
            guard let status = root.files.statusIfPresent(path, links: .refuse) else { continue }
            if FileKind(mode: status.st_mode) != .regular {
                skipped.append(Skipped(name: name, reason: "not a regular file"))
            } else if status.st_mode & 0o111 == 0 {
                continue  // a note or a disabled check, as run-parts skips it
            } else if status.st_uid != 0 || status.st_mode & 0o022 != 0 {
                skipped.append(Skipped(name: name, reason: "not root's alone (owned by uid \(status.st_uid), mode \(String(status.st_mode & 0o7777, radix: 8)))"))
            } else if run.count == limit {
                skipped.append(Skipped(name: name, reason: "more than \(limit) files"))
            } else {
                run.append(path)
            }
        }
        return (run, skipped)
    }

    static let leftoverSuffixes = ["~", ".dpkg-old", ".dpkg-dist", ".dpkg-new", ".dpkg-tmp", ".ucf-old", ".ucf-dist",
                                   ".rpmsave", ".rpmnew", ".swp", ".bak", ".disabled"]

    /// The command that runs `path` for at most `seconds` (coreutils `timeout`, killed 5 s
    /// after the TERM), with `environment` added, its output dropped (a check that prints
    /// without end cannot fill memory; its status is the verdict): the running system's
    /// own tools.
    public static func command(_ path: String, seconds: Int, environment: [(String, String)] = []) -> [String] {
        ["sh", "-c", "exec \"$@\" >/dev/null 2>&1", "sh", "env"] + environment.map { "\($0.0)=\($0.1)" }
            + ["timeout", "--kill-after=5", "\(seconds)", path]
    }

    /// What `timeout` returns when the time ran out.
    public static let timedOut: Int32 = 124
}
