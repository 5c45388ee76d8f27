import HealCore

/// The mark that the next boot is the first after a repair, so `clarity-heal verify` must
/// prove the fix (the seed's "after repair" boot):
///
/// ```
///  <root>/var/lib/clarity-heal/verify-pending      written durably; removed by verify
///  ┌──────────────────────────────────────────────┐
///  │fix=fix-20261129T221500Z-fstab-…-1a2b          │  the fix to verify (ledger reference)
///  │class=fstab-unresolvable-source                │  its failure class (slug)
///  │strategy=fstab-add-nofail                      │  its strategy id
///  │attempt=1                                      │  which fix for this failure, from 1
///  │since=1795906800                               │  when it was marked (epoch seconds)
///  │before=failed-boot                             │  the state before the first fix did not
///  └──────────────────────────────────────────────┘  boot (heal); `booted` otherwise
///  one key=value a line, in this order; unknown keys are ignored
/// ```
///
/// A file on the root rather than a grubenv variable: a fix may itself rewrite grubenv
/// (bootloader-env-corrupt), and the flag must not be part of what a rollback compares or
/// restores; verify runs once the root is mounted, where the file is readable.
public struct VerifyFlag: Sendable, Hashable, Codable {
    /// The path on a root.
    public static let path = "/var/lib/clarity-heal/verify-pending"
    /// The flag inside the state folder (`StateDirectory`).
    static let name = "/verify-pending"

    public var fix: String
    public var failureClass: FailureClass
    public var strategy: String
    public var attempt: Int
    public var since: Int64
    /// The state before this failure's first fix did not boot: `heal` repaired it from the
    /// recovery entry. When verify gives up after a boot that came up with the fix, rolling
    /// back would return to a machine that does not boot, so the fix that booted stays.
    public var priorBootFailed: Bool

    public init(fix: String, failureClass: FailureClass, strategy: String, attempt: Int = 1, since: Int64,
                priorBootFailed: Bool = false) {
        self.fix = fix
        self.failureClass = failureClass
        self.strategy = strategy
        self.attempt = attempt
        self.since = since
        self.priorBootFailed = priorBootFailed
    }

    enum CodingKeys: String, CodingKey { case fix, failureClass = "class", strategy, attempt, since, priorBootFailed }

    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case malformed(path: String, reason: String)
        case write(String)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
            case .malformed(let path, let reason): "cannot use \(path): \(reason)"
            case .write(let reason): reason
            }
        }
    }

    /// The file's text.
    public var text: String {
        "fix=\(fix)\nclass=\(failureClass.rawValue)\nstrategy=\(strategy)\nattempt=\(attempt)\nsince=\(since)\n"
            + "before=\(priorBootFailed ? "failed-boot" : "booted")\n"
    }

    /// Parses the file's text.
    public init(parsing text: String, path: String = VerifyFlag.path) throws(VerifyFlag.Error) {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else {
                throw .malformed(path: path, reason: "line \"\(line)\" is not key=value")
            }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let fix = values["fix"], !fix.isEmpty, !fix.contains("/") else { throw .malformed(path: path, reason: "no fix id") }
        guard let slug = values["class"], let failureClass = FailureClass(rawValue: slug) else {
            throw .malformed(path: path, reason: "no known failure class")
        }
        guard let attempt = Int(values["attempt"] ?? "1"), attempt >= 1 else {
            throw .malformed(path: path, reason: "attempt is not a number from 1")
        }
        self.init(fix: fix, failureClass: failureClass, strategy: values["strategy"] ?? "", attempt: attempt,
                  since: Int64(values["since"] ?? "0") ?? 0, priorBootFailed: values["before"] == "failed-boot")
    }

    /// The flag on `root`, or nil when the boot is not after a repair.
    public static func read(root: SystemRoot) throws(VerifyFlag.Error) -> VerifyFlag? {
        let text: String
        do {
            guard let state = try StateDirectory.open(root),
                  let bytes = try state.files.readIfPresent(name, limit: 64 << 10, links: .refuse) else { return nil }
            text = String(decoding: bytes, as: UTF8.self)
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        return try VerifyFlag(parsing: text, path: path)
    }

    /// Marks the next boot of `root` as after this repair (replacing an earlier mark).
    public func write(root: SystemRoot) throws(VerifyFlag.Error) {
        do {
            let state = try StateDirectory.make(root)
            try state.files.replaceFile(Self.name, bytes: Array(text.utf8))
        } catch {
            throw .write("\(error)")
        }
    }

    /// Removes the mark: the boot is verified (or given up on).
    public static func clear(root: SystemRoot) throws(VerifyFlag.Error) {
        do {
            guard let state = try StateDirectory.open(root) else { return }
            try state.files.remove(name)
        } catch {
            throw .write("\(error)")
        }
    }
}

extension VerifyFlag {
    /// Applies `package` with this flag written first, so that a crash during the apply is
    /// finished by the next command's recovery and the boot after it verifies the fix; an
    /// apply refused with the root unchanged clears the flag again (nothing to verify).
    /// `verify`'s retry and `heal` apply a fix this way.
    /// - Throws: `VerifyFlag.Error` when the flag cannot be written (nothing applied);
    ///   `Applier.Error` from the apply.
    public func apply(_ package: FixPackage, root: SystemRoot, applier: Applier) throws -> ApplyResult {
        try write(root: root)
        do {
            return try applier.apply(package)
        } catch {
            if error.leftTargetUnchanged { try? VerifyFlag.clear(root: root) }
            throw error
        }
    }
}
