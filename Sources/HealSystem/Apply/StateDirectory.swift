import Glibc

/// clarity-heal's own state on a root, `/var/lib/clarity-heal`: the journal, the applied and
/// staged fixes with their backups, the ledger.
///
/// The root may be hostile (a disk sent in, a machine that was compromised), so its state is
/// trusted only when it is what clarity-heal itself would have made: every folder from the
/// root down to it a real folder (no symbolic link on the way), owned by root and writable by
/// no one else. Everything inside is then reached through a `ConfinedDirectory` of the state
/// folder itself, links refused: a planted `applied -> /etc` or a journal naming
/// `../../..` cannot lead a read or a write anywhere else (docs/security.md).
///
/// ```
///  <root>/var/lib/clarity-heal/     root:root 0755, a real folder
///  ├── ledger.jsonl                 every record (Ledger)
///  ├── journal                      only while an apply or rollback is in flight
///  ├── applied/<fix-id>/            state.json, plan.json, backup.tar, package/…
///  └── staged/<fix-id>/             fixes waiting for the next boot
/// ```
public struct StateDirectory: Sendable {
    /// Where the state lives, as the root names it.
    public static let path = "/var/lib/clarity-heal"

    public let root: SystemRoot
    /// The state folder; paths inside it are written `/journal`, `/applied/<id>/…`.
    public let files: ConfinedDirectory

    /// Why a root's state is not used.
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// A folder on the way is a link, not a folder, owned by someone else or writable by
        /// others: whatever is inside is not clarity-heal's.
        case untrusted(path: String, reason: String)
        /// The folder could not be read or made.
        case io(FileError)

        public var description: String {
            switch self {
            case .untrusted(let path, let reason):
                "the state folder \(path) is not trusted: \(reason); clarity-heal neither reads nor writes it"
            case .io(let error): "cannot use the state folder: \(error)"
            }
        }
    }

    /// Opens the state of `root` for reading.
    /// - Returns: nil when the root has no state folder (nothing was ever applied there).
    /// - Throws: `.untrusted` when it exists but is not clarity-heal's own.
    public static func open(_ root: SystemRoot) throws(StateDirectory.Error) -> StateDirectory? {
        guard root.files.statusIfPresent(path) != nil else {
            // A link to nowhere, or a missing folder on the way, is "no state" only if no
            // component is a link: check what is there.
            try checkComponents(root, upTo: path, allowMissing: true)
            return nil
        }
        return try opened(root)
    }

    /// Opens the state of `root` for writing, making the folders that are missing (owned by
    /// root, mode 0755, each made durable in its parent).
    public static func make(_ root: SystemRoot) throws(StateDirectory.Error) -> StateDirectory {
        try checkComponents(root, upTo: path, allowMissing: true)
        do {
            try root.files.makeDirectories(path)
        } catch {
            throw classify(error)
        }
        return try opened(root)
    }

    private static func opened(_ root: SystemRoot) throws(StateDirectory.Error) -> StateDirectory {
        try checkComponents(root, upTo: path, allowMissing: false)
        do {
            return StateDirectory(root: root, files: try root.files.subdirectory(path, links: .refuse))
        } catch {
            throw classify(error)
        }
    }

    /// Every folder from the root to `path` is a real folder, owned by root, not writable by
    /// group or others (the root folder itself is the caller's choice and not checked).
    static func checkComponents(_ root: SystemRoot, upTo path: String, allowMissing: Bool) throws(StateDirectory.Error) {
        var walked = ""
        for component in path.split(separator: "/") {
            walked += "/" + component
            let st: stat
            do {
                st = try root.files.status(walked, links: .refuse)
            } catch {
                if case .missing = error, allowMissing { return }
                throw classify(error)
            }
            let kind = FileKind(mode: st.st_mode)
            guard kind == .directory else {
                throw .untrusted(path: walked, reason: "it is a \(kind), not a folder")
            }
            guard st.st_uid == 0 else {
                throw .untrusted(path: walked, reason: "it is owned by uid \(st.st_uid), not root")
            }
            guard st.st_mode & 0o022 == 0 else {
                throw .untrusted(path: walked, reason: "it is writable by \(st.st_mode & 0o002 != 0 ? "everyone" : "its group")")
            }
        }
    }

    private static func classify(_ error: FileError) -> StateDirectory.Error {
        switch error {
        case .throughLink(_, let link): .untrusted(path: link, reason: "it is a symbolic link")
        case .wrongKind(let path, _, let found): .untrusted(path: path, reason: "it is a \(found), not a folder")
        default: .io(error)
        }
    }

    /// The host path of a path inside the state folder (for messages and records).
    public func host(_ inside: String) -> String {
        root.host(Self.path + inside)
    }
}
