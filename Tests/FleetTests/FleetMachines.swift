import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// A simulated machine of the fleet: an overlay copy of the Debian test root (so its profile
/// is a real Debian 12 machine's: kernel series, GRUB, initramfs-tools) with an identity of
/// its own — machine-id, hostname, a user — and a ledger written by the real `Ledger`.
/// What names it is planted where an anonymizer could leak it: the ledger's details carry
/// its hostname, a home path and an address.
final class FleetMachine: @unchecked Sendable {
    let copy: OverlayCopy
    let number: Int
    let machineID: String
    var hostname: String { "host-\(number)-secret" }
    var user: String { "alice\(number)private" }
    var address: String { "192.168.77.\(number)" }

    init(number: Int, fstabBroken: Bool = false) throws {
        self.number = number
        copy = try TestRoot.writableCopy()
        machineID = (0..<2).map { _ in String(format: "%016llx", UInt64.random(in: .min ... .max)) }.joined()
        try (machineID + "\n").write(toFile: copy.at("/etc/machine-id"), atomically: false, encoding: .utf8)
        try (hostname + "\n").write(toFile: copy.at("/etc/hostname"), atomically: false, encoding: .utf8)
        if fstabBroken {
            let fstab = try String(contentsOfFile: copy.at("/etc/fstab"), encoding: .utf8)
            try FileManager.default.removeItem(atPath: copy.at("/etc/fstab"))
            try (fstab + "LABEL=nowhere /srv ext4 defaults 0 2\n").write(toFile: copy.at("/etc/fstab"), atomically: false, encoding: .utf8)
        }
    }

    var path: String { copy.path }

    /// A repair episode as the ledger records it: `first` validated on the clone, applied,
    /// failed verification and was rolled back; then `second` validated and was verified good.
    func recordEpisode(signature: String, first: String, second: String, episode: Int) throws {
        let ledger = Ledger(root: try SystemRoot(copy.path))
        let fixA = "fix-\(number)-\(episode)-a", fixB = "fix-\(number)-\(episode)-b"
        let bait = ["package": "/home/\(user)/fixes/\(fixA)", "reason": "mount \(address):/export failed on \(hostname)"]
        try ledger.append(LedgerRecord(kind: .repair, fix: fixA, class: signature, strategy: first, outcome: .validated,
                                       detail: bait.merging(["tried": first]) { a, _ in a }))
        try ledger.append(LedgerRecord(kind: .apply, fix: fixA, class: signature, strategy: first, outcome: .applied, detail: bait))
        try ledger.append(LedgerRecord(kind: .verification, fix: fixA, class: signature, strategy: first, outcome: .failed, detail: bait))
        try ledger.append(LedgerRecord(kind: .rollback, fix: fixA, class: signature, strategy: first, outcome: .rolledBack, detail: bait))
        try ledger.append(LedgerRecord(kind: .repair, fix: fixB, class: signature, strategy: second, outcome: .validated,
                                       detail: ["tried": second, "excluded": first]))
        try ledger.append(LedgerRecord(kind: .verification, fix: fixB, class: signature, strategy: second, outcome: .good))
    }

    func fleet(_ arguments: [String]) throws -> Tool.Result {
        try Tool.run(Tool.clarityFleet, arguments + ["--root", copy.path])
    }

    func enroll(_ service: RunningFleetService, tokenFile: String) throws {
        let result = try fleet(["enroll", "--server", service.url, "--token-file", tokenFile])
        try #require(result.status == 0, "\(result.stdout)\(result.stderr)")
    }
}

/// The dry run's ranking, as `repair --dry-run --json` prints it.
struct RankedDryRun: Decodable {
    struct Candidate: Decodable {
        struct Strategy: Decodable { var id: String }
        struct Rank: Decodable {
            struct Fleet: Decodable { var successes: Int; var failures: Int; var confidence: Double }
            var position: Int
            var priorPosition: Int
            var fleet: Fleet?
            var why: String
        }
        var strategy: Strategy
        var rank: Rank?
    }
    var candidates: [Candidate]

    static func of(_ machine: FleetMachine) throws -> RankedDryRun {
        let result = try Tool.run(Tool.clarityHeal, ["repair", "--root", machine.path, "--device", TestRoot.image, "--dry-run", "--json"])
        #expect(result.status == 1, "\(result.stderr)")
        return try JSONDecoder().decode(RankedDryRun.self, from: Data(result.stdout.utf8))
    }

    var order: [String] { candidates.map(\.strategy.id) }
}
