import Glibc
import HealCore

/// `account-database-broken`: each broken database among /etc/passwd, /etc/shadow and
/// /etc/group is restored from the copy the shadow tools keep beside it (`/etc/passwd-`,
/// written by useradd, passwd, vipw … before each change), when that copy is sound: glibc
/// parses every line and root is there. The restored file keeps the broken file's mode,
/// owner and group (shadow: 0640 root:shadow on Debian) — or the backup's, when the file
/// is gone.
struct AccountsRestoreBackupStrategy: PlanFirstStrategy {
    let descriptor = StrategyDescriptor(
        id: "accounts-restore-backup",
        title: "Restore broken account databases from the shadow tools' '-' backups",
        classes: [.accountDatabaseBroken],
        risk: 5,
        sideEffects: "accounts, groups and passwords changed after the backup was written revert to their state in the backup",
        priorEffectiveness: 0.8,
        estimatedSeconds: 5)

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let root = context.root
        let passwd = try? AccountDatabase.read(.passwd, root: root)
        var operations: [RepairOperation] = []
        for kind in AccountDatabase.Kind.allCases {
            guard let problem = Self.problem(kind, root: root, passwd: passwd) else { continue }
            let backup = kind.path + "-"
            guard let backupStatus = root.files.statusIfPresent(backup, followLast: true),
                  (backupStatus.st_mode & S_IFMT) == S_IFREG else {
                throw refuse("\(kind.path) is broken (\(problem)) and there is no \(backup) to restore it from")
            }
            let bytes: [UInt8]
            do {
                bytes = try root.files.read(backup, limit: 64 << 20)
            } catch {
                throw refuse("\(error)")
            }
            if let bad = Self.problem(kind, text: String(decoding: bytes, as: UTF8.self), displayPath: backup) {
                throw refuse("\(kind.path) is broken (\(problem)) and its backup \(backup) is no better: \(bad)")
            }
            let current = root.files.statusIfPresent(kind.path, followLast: true)
                .flatMap { (($0.st_mode & S_IFMT) == S_IFREG) ? $0 : nil }
            let model = current ?? backupStatus
            let mode = UInt32(model.st_mode & 0o7777)
            operations.append(.writeFile(path: kind.path, contents: bytes, mode: mode))
            // writeFile creates the file as root:root; shadow belongs to group shadow. Numeric
            // ids: the chroot's chown would look names up in the very files being repaired.
            if model.st_uid != 0 || model.st_gid != 0 {
                operations.append(.runTool(arguments: ["chown", "\(model.st_uid):\(model.st_gid)", kind.path],
                                           mayChange: [kind.path]))
            }
        }
        guard !operations.isEmpty else { throw refuse("passwd, shadow and group are sound") }
        return operations
    }

    /// What is wrong with a database, by the accounts detector's rules; nil when sound.
    static func problem(_ kind: AccountDatabase.Kind, root: SystemRoot,
                        passwd: AccountDatabase.Contents?) -> String? {
        let contents: AccountDatabase.Contents
        do {
            contents = try AccountDatabase.read(kind, root: root)
        } catch {
            // No shadow is fine when passwd keeps no password in it.
            if kind == .shadow, case .missing = error, let passwd, !passwd.records.contains(where: { $0.password == "x" }) {
                return nil
            }
            return error.description
        }
        return problem(contents)
    }

    /// What is wrong with `text` as database `kind` (a backup judged on its own), nil when
    /// sound.
    static func problem(_ kind: AccountDatabase.Kind, text: String, displayPath: String) -> String? {
        do {
            return problem(try AccountDatabase.parse(kind, text: text, displayPath: displayPath))
        } catch {
            return error.description
        }
    }

    static func problem(_ contents: AccountDatabase.Contents) -> String? {
        if contents.entryLines == 0 { return "no entries" }
        if !contents.unparsable.isEmpty { return "\(contents.unparsable.count) unparsable lines" }
        if contents.root == nil { return "no root entry" }
        return nil
    }

}
