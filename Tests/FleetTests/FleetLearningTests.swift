import Foundation
import HealCore
import Testing
import TestSupport

/// The fleet learning end to end (issue 12): `clarity-fleet serve` on PostgreSQL (a cluster
/// the test starts) and on the SQLite default (no server process beyond `serve`); twenty
/// machines, each an overlay copy of the Debian root with its own machine-id, enrolling with
/// their own keys and sending their ledgers' outcomes through `clarity-fleet submit`; a
/// fresh machine whose fstab names a disk that is gone, ranking through
/// `clarity-heal repair --dry-run --json`.
@Suite(.serialized)
struct FleetLearningTests {
    static let token = "enroll-token-0123456789abcdef"

    /// A service on one engine, with what its store holds readable by the test.
    final class Backend: @unchecked Sendable {
        let scratch: TemporaryDirectory
        let postgres: PostgresCluster?
        let sqlite: String?
        var service: RunningFleetService
        let tokenFile: String

        init(_ engine: String) throws {
            scratch = try TemporaryDirectory(prefix: "fleet-\(engine)")
            tokenFile = try scratch.write("token", FleetLearningTests.token)
            if engine == "postgresql" {
                postgres = try PostgresCluster()
                sqlite = nil
            } else {
                postgres = nil
                sqlite = scratch.path + "/store/fleet.db"
            }
            service = try RunningFleetService(database: Self.database(postgres, sqlite), token: FleetLearningTests.token, in: scratch)
        }

        static func database(_ postgres: PostgresCluster?, _ sqlite: String?) -> String {
            postgres?.url ?? "sqlite:" + (sqlite ?? "")
        }

        /// Starts the service again on the same store (after `kill9`).
        func restart(_ name: String) throws {
            service = try RunningFleetService(database: Self.database(postgres, sqlite), token: FleetLearningTests.token, in: scratch, name: name)
        }

        func query(_ sql: String) throws -> String {
            if let postgres { return try postgres.psql(sql).trimmingCharacters(in: .whitespacesAndNewlines) }
            let result = try Tool.run("/usr/bin/sqlite3", [sqlite ?? "", sql])
            guard result.status == 0 else { throw Tool.Failure(message: "sqlite3: \(result.stderr)") }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Everything the store holds, as its engine's dump writes it.
        func dump() throws -> String {
            if let postgres { return try postgres.dump() }
            return try Tool.run("/usr/bin/sqlite3", [sqlite ?? "", ".dump"]).stdout
        }
    }

    struct Pulled: Decodable {
        struct Insight: Decodable { var strategy: String; var successes: Int; var failures: Int; var confidence: Double }
        var insights: [Insight]
    }

    static func pull(_ machine: FleetMachine) throws -> [Pulled.Insight] {
        let result = try machine.fleet(["pull", "--json"])
        try #require(result.status == 0, "\(result.stdout)\(result.stderr)")
        return try JSONDecoder().decode(Pulled.self, from: Data(result.stdout.utf8)).insights
    }

    @Test(arguments: ["postgresql", "sqlite"])
    func aFreshMachinesFirstStrategyChangesBecauseTheFleetLearnedItFails(_ engine: String) throws {
        let backend = try Backend(engine)
        let fresh = try FleetMachine(number: 0, fstabBroken: true)
        let before = try RankedDryRun.of(fresh).order
        try #require(before.count >= 2)
        let (first, second) = (before[0], before[1])
        try fresh.enroll(backend.service, tokenFile: backend.tokenFile)

        // Twenty machines where `first` failed after apply and `second` held.
        var machines: [FleetMachine] = []
        for number in 1...20 {
            let machine = try FleetMachine(number: number)
            try machine.enroll(backend.service, tokenFile: backend.tokenFile)
            try machine.recordEpisode(signature: FailureClass.fstabUnresolvableSource.rawValue, first: first, second: second, episode: 1)
            machines.append(machine)
        }
        func submit(_ range: ClosedRange<Int>) throws {
            for machine in machines[(range.lowerBound - 1)...(range.upperBound - 1)] {
                let result = try machine.fleet(["submit"])
                #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
                #expect(result.stdout.contains("queued 4 outcomes; sent 1 batches (4 outcomes stored)"), "\(result.stdout)")
            }
        }

        // Five machines: not sure enough (confidence below 0.7): nothing is sent, nothing moves.
        try submit(1...5)
        #expect(try Self.pull(fresh).isEmpty)
        #expect(try RankedDryRun.of(fresh).order == before)

        // All twenty: the fleet is sure `first` fails here.
        try submit(6...20)
        let insights = try Self.pull(fresh)
        let learned = try #require(insights.first { $0.strategy == first })
        #expect(learned.successes == 0 && learned.failures == 20 && learned.confidence >= 0.7)
        #expect(insights.first { $0.strategy == second }?.successes == 20)
        let after = try RankedDryRun.of(fresh)
        #expect(after.order.first != first, "\(after.order)")
        let moved = try #require(after.candidates.first { $0.strategy.id == first }?.rank)
        #expect(moved.priorPosition == 1 && moved.position > 1)
        #expect(moved.fleet?.failures == 20)
        #expect(moved.why.contains("fleet: 0 of 20 succeeded"), "\(moved.why)")

        // Submitting again sends nothing new; the store holds each outcome once.
        let again = try machines[0].fleet(["submit"])
        #expect(again.stdout.contains("queued 0 outcomes; sent 0 batches"), "\(again.stdout)")
        #expect(try backend.query("SELECT COUNT(*) FROM submissions") == "20")
        #expect(try backend.query("SELECT COUNT(*) FROM outcomes") == "80")
        #expect(try backend.query("SELECT COUNT(DISTINCT machine) FROM outcomes") == "20")

        // The privacy scan: nothing that names a machine, a person or a place was stored.
        let stored = try backend.dump()
        #expect(stored.contains(first), "the scan reads the real store")
        var forbidden = [TestRoot.kernelVersion, "/home/", "fix-", "192.168.", "secret", "private"]
        for machine in machines + [fresh] {
            forbidden += [machine.machineID, machine.hostname, machine.user, machine.address]
        }
        for text in forbidden {
            #expect(!stored.contains(text), "the store holds \(text)")
        }

        // A month later with nothing new: the insights are too old and change nothing.
        _ = try backend.query("UPDATE outcomes SET received = received - \(40 * 86_400)")
        #expect(try Self.pull(fresh).isEmpty)
        #expect(try RankedDryRun.of(fresh).order == before)
    }
}
