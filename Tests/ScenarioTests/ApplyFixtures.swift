import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Real fix packages for the apply suites, made by the real `repair` on broken copies of
/// the Debian root (as RepairCommandTests does), once per class and run.
enum ApplyFixtures {
    struct Scenario: Sendable, CustomTestStringConvertible {
        var expected: FailureClass
        var name: String
        var breakRoot: @Sendable (OverlayCopy) throws -> Void
        var testDescription: String { "\(expected.rawValue): \(name)" }
    }

    static func edit(_ path: String, _ transform: (String) -> String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try FileManager.default.removeItem(atPath: path)
        try transform(text).write(toFile: path, atomically: false, encoding: .utf8)
    }

    static let scenarios: [Scenario] = [
        Scenario(expected: .bootloaderEnvCorrupt, name: "grubenv torn") { copy in
            _ = try Tool.run("/usr/bin/truncate", ["-s", "300", copy.at("/boot/grub/grubenv")])
        },
        Scenario(expected: .fstabUnresolvableSource, name: "fstab line for a disk that is gone") { copy in
            try edit(copy.at("/etc/fstab")) { $0 + "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2\n" }
        },
        Scenario(expected: .accountDatabaseBroken, name: "passwd without root") { copy in
            try edit(copy.at("/etc/passwd")) { $0.split(separator: "\n").filter { !$0.hasPrefix("root:") }.joined(separator: "\n") + "\n" }
        },
        Scenario(expected: .kernelModulesMissing, name: "module index removed") { copy in
            for name in ["modules.dep", "modules.dep.bin"] {
                try FileManager.default.removeItem(atPath: copy.at("/lib/modules/\(TestRoot.kernelVersion)/\(name)"))
            }
        },
        Scenario(expected: .initMissing, name: "systemd deleted") { copy in
            try FileManager.default.removeItem(atPath: copy.at("/lib/systemd/systemd"))
        },
        Scenario(expected: .systemFileCorrupt, name: "update-initramfs tampered") { copy in
            try edit(copy.at("/usr/sbin/update-initramfs")) { $0 + "# tampered\n" }
        },
    ]

    /// Where the packages are kept for the whole run.
    static let store: TemporaryDirectory = {
        do { return try TemporaryDirectory(prefix: "apply-packages") } catch { fatalError("\(error)") }
    }()
    nonisolated(unsafe) static var made: [FailureClass: String] = [:]
    static let lock = NSLock()

    /// The package `repair` writes for `scenario` (made on first use).
    static func package(_ scenario: Scenario) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let path = made[scenario.expected] { return path }
        let broken = try TestRoot.writableCopy()
        try scenario.breakRoot(broken)
        let out = store.path + "/" + scenario.expected.rawValue
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let scratch = try TemporaryDirectory(prefix: "scratch")
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--root", broken.path, "--device", TestRoot.image,
                                                     "--out", out, "--scratch", scratch.path, "--json"])
        struct Output: Decodable { var fixPackage: String? }
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        guard let path = output.fixPackage else { throw Tool.Failure(message: "repair made no package: \(result.stderr)") }
        made[scenario.expected] = path
        return path
    }

    /// What stands at `path` in `root`: type, contents hash, mode, owner, link target.
    static func snapshot(_ root: String, _ path: String) -> String {
        let host = root + path
        var st = stat()
        guard lstat(host, &st) == 0 else { return "absent" }
        let mode = String(st.st_mode & 0o7777, radix: 8)
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            let digest = (try? Tool.run("/usr/bin/sha256sum", [host]).stdout.prefix(64)).map(String.init) ?? "?"
            return "file \(digest) \(mode) \(st.st_uid):\(st.st_gid)"
        case S_IFLNK:
            return "link " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: host)) ?? "?")
        case S_IFDIR:
            return "dir \(mode) \(st.st_uid):\(st.st_gid)"
        default:
            return "other"
        }
    }

    /// What the fix puts at each of its paths.
    static func expectedNew(_ manifest: FixManifest) -> [String: String] {
        var out: [String: String] = [:]
        for change in manifest.changes {
            let mode = String((change.mode ?? 0) & 0o7777, radix: 8), owner = "\(change.owner ?? 0):\(change.group ?? 0)"
            out[change.path] = switch change.kind {
            case .file: "file \(change.sha256 ?? "") \(mode) \(owner)"
            case .symlink: "link \(change.target ?? "")"
            case .directory: "dir \(mode) \(owner)"
            case .removed: "absent"
            }
        }
        return out
    }

    /// Hash of the whole tree (contents, links, modes, owners), clarity-heal's state folder
    /// excepted (a refusal is recorded in its ledger; tests check the folder on its own).
    static func hashTree(_ path: String) throws -> String {
        try Tool.run("/bin/sh", ["-c", """
            cd "$1" && { find . -xdev -type f ! -path './var/lib/clarity-heal*' -print0 | sort -z | xargs -0 sha256sum; \
            find . -xdev ! -path './var/lib/clarity-heal*' -printf '%p %y %m %U %G %l\\n' | sort; } | sha256sum
            """, "hash", path]).stdout
    }

    /// Temporary and trash names apply uses, left anywhere below the fix's folders.
    static func leftovers(_ root: String, _ manifest: FixManifest) -> [String] {
        Set(manifest.changes.map { PackagePath.parent($0.path) }).flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: root + folder)) ?? [])
                .filter { $0.hasSuffix(".clarity-heal.tmp") || $0.hasSuffix(".clarity-heal.trash") }
                .map { folder + "/" + $0 }
        }
    }

    /// The ledger's records of `fix`.
    static func ledger(_ root: String, fix: String) throws -> [LedgerRecord] {
        try Ledger(root: SystemRoot(root)).records().records(of: fix)
    }
}
