import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// A copy of the real root with a broken fstab (a data disk that is gone) and the fix
/// package `clarity-heal repair` makes for it: the starting point of the boot and verify
/// scenarios.
enum VerifyScenario {
    static let brokenLine = "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2\n"

    static func breakFstab(_ copy: OverlayCopy) throws {
        let path = copy.at("/etc/fstab")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try FileManager.default.removeItem(atPath: path)
        try (text + brokenLine).write(toFile: path, atomically: false, encoding: .utf8)
    }

    struct RepairOutput: Decodable {
        var status: String
        var fixPackage: String?
    }

    /// Runs the real `clarity-heal repair` on `root` and opens the package it wrote.
    static func repair(_ root: String, out: String, scratch: String) throws -> FixPackage {
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--root", root, "--device", TestRoot.image,
                                                     "--out", out, "--scratch", scratch, "--json"])
        let output = try JSONDecoder().decode(RepairOutput.self, from: Data(result.stdout.utf8))
        guard output.status == "validated", let path = output.fixPackage else {
            throw Tool.Failure(message: "repair did not validate: \(result.stdout) \(result.stderr)")
        }
        return try FixPackage.open(path)
    }

    /// Every file's contents and every link's target under `path`, except clarity-heal's
    /// own state folder (backups, journal, ledger: they differ in time stamps by nature).
    static func hashSystem(_ path: String) throws -> String {
        try Tool.run("/bin/sh", ["-c", """
            cd "$1" && { find . -xdev -path ./var/lib/clarity-heal -prune -o -type f -print0 | sort -z | xargs -0 sha256sum; \
            find . -xdev -path ./var/lib/clarity-heal -prune -o -type l -printf '%p -> %l\\n' | sort; } | sha256sum
            """, "hash", path]).stdout
    }

    /// `value` as JSON, without what depends on the machine rather than the root: how many
    /// block devices blkid probed (loop devices of other tests come and go).
    static func hostIndependent<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self).replacing(/among \d+ probed/, with: "among N probed")
    }

    static func sha256(_ path: String) throws -> String {
        try Tool.run("/usr/bin/sha256sum", [path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }

    static func ledger(_ root: String) throws -> [LedgerRecord] {
        try Ledger(root: SystemRoot(root)).records().records
    }

    static func grubenvList(_ root: String) throws -> String {
        try Tool.run("/usr/bin/grub-editenv", [root + "/boot/grub/grubenv", "list"]).stdout
    }
}

/// The real journal of scripts/make-journal-fixture (a boot with three failed units, then a
/// healthy one), to stand for "the boot after the repair".
enum VerifyJournal {
    static let cache = TestRoot.repository + "/.cache/journal-fixture"

    static func journal() throws -> String {
        if !FileManager.default.fileExists(atPath: cache + "/done") {
            let result = try Tool.run(TestRoot.repository + "/scripts/make-journal-fixture", [])
            guard result.status == 0 else { throw Tool.Failure(message: result.stderr) }
        }
        return cache + "/journal"
    }

    static func install(into copy: OverlayCopy) throws {
        let result = try Tool.run("cp", ["-a", try journal() + "/.", copy.at("/var/log/journal")])
        guard result.status == 0 else { throw Tool.Failure(message: result.stderr) }
    }

    /// A boot_id file (as /proc spells it) naming the fixture's failing or healthy boot.
    static func bootIDFile(failing: Bool, in folder: TemporaryDirectory) throws -> String {
        let boots = try Journal(directory: try journal()).boots()
        guard boots.count >= 2 else { throw Tool.Failure(message: "the fixture has \(boots.count) boots") }
        var id = boots[boots.count - (failing ? 2 : 1)].id
        for offset in [20, 16, 12, 8] { id.insert("-", at: id.index(id.startIndex, offsetBy: offset)) }
        return try folder.write(failing ? "boot_id-failing" : "boot_id-healthy", id + "\n")
    }
}
