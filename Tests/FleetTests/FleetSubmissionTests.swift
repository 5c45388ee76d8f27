import Crypto
import FleetProtocol
import Foundation
import HealCore
import Testing
import TestSupport

/// What the service refuses and what it stores once (issue 12): forged, tampered, unsigned,
/// stale (replayed later) and unknown-machine submissions, each sent over HTTP to a real
/// `clarity-fleet serve`; a submission sent twice; an offline machine's outbox; and a
/// service killed with SIGKILL in the middle of a load.
@Suite(.serialized)
struct FleetSubmissionTests {
    /// An enrolled machine's key and id, read from its state folder as the agent keeps them.
    static func identity(_ machine: FleetMachine) throws -> (id: String, key: Curve25519.Signing.PrivateKey) {
        struct Enrollment: Decodable { var machine: String }
        let state = machine.copy.at("/var/lib/clarity-heal/fleet")
        let enrollment = try JSONDecoder().decode(Enrollment.self, from: Data(contentsOf: URL(fileURLWithPath: state + "/enrollment.json")))
        let raw = try #require(Data(base64Encoded: try String(contentsOfFile: state + "/key", encoding: .utf8)))
        return (enrollment.machine, try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
    }

    static func post(_ url: String, _ body: Data) throws -> (status: Int, body: String) {
        let result = try Tool.run("/usr/bin/curl", ["-s", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
                                                    "--data-binary", "@-", url + "/v1/submissions"], input: body)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    static func submission(_ id: String, machine: String, sent: Int64 = Int64(Date().timeIntervalSince1970)) -> Submission {
        Submission(id: id, machine: machine, sent: sent,
                   profile: SystemProfile(release: "debian-12", kernelSeries: "6.1", bootloader: "grub", initramfsTool: "initramfs-tools"),
                   outcomes: [Outcome(id: String(sha256Hex(id).prefix(32)), signature: "fstab-unresolvable-source",
                                      strategy: "fstab-add-nofail", result: .verified, day: "2026-12-07")])
    }

    static func encode<T: Encodable>(_ value: T) throws -> Data { try JSONEncoder().encode(value) }

    @Test func forgedTamperedUnsignedStaleAndUnknownSubmissionsAreRefusedAndStoreNothing() throws {
        let backend = try FleetLearningTests.Backend("sqlite")
        let machine = try FleetMachine(number: 1)
        try machine.enroll(backend.service, tokenFile: backend.tokenFile)
        let (id, key) = try Self.identity(machine)
        let url = backend.service.url

        // A genuine one is stored; the same envelope again is a duplicate: stored once.
        let genuine = try SignedEnvelope.sign(Self.submission("s-genuine", machine: id), signer: id, key: key)
        #expect(try Self.post(url, Self.encode(genuine)).status == 201)
        let again = try Self.post(url, Self.encode(genuine))
        #expect(again.status == 200 && again.body.contains("\"duplicate\""), "\(again)")

        // Forged: signed by another key in the machine's name.
        let forged = try SignedEnvelope.sign(Self.submission("s-forged", machine: id), signer: id, key: Curve25519.Signing.PrivateKey())
        let forgedAnswer = try Self.post(url, Self.encode(forged))
        #expect(forgedAnswer.status == 403 && forgedAnswer.body.contains("signature"), "\(forgedAnswer)")

        // Tampered: one outcome changed after signing.
        var tampered = try SignedEnvelope.sign(Self.submission("s-tampered", machine: id), signer: id, key: key)
        var body = String(decoding: try #require(Data(base64Encoded: tampered.body)), as: UTF8.self)
        body = body.replacingOccurrences(of: "\"verified\"", with: "\"failed-after-apply\"")
        tampered.body = Data(body.utf8).base64EncodedString()
        #expect(try Self.post(url, Self.encode(tampered)).status == 403)

        // Unsigned.
        var unsigned = try SignedEnvelope.sign(Self.submission("s-unsigned", machine: id), signer: id, key: key)
        unsigned.signature = ""
        #expect(try Self.post(url, Self.encode(unsigned)).status == 400)

        // Replayed later: a genuine envelope signed 20 minutes ago.
        let stale = try SignedEnvelope.sign(Self.submission("s-stale", machine: id, sent: Int64(Date().timeIntervalSince1970) - 1200),
                                            signer: id, key: key)
        let staleAnswer = try Self.post(url, Self.encode(stale))
        #expect(staleAnswer.status == 409 && staleAnswer.body.contains("replay"), "\(staleAnswer)")

        // In the name of a machine that never enrolled; and naming another machine in the body.
        let stranger = Curve25519.Signing.PrivateKey()
        #expect(try Self.post(url, Self.encode(SignedEnvelope.sign(Self.submission("s-stranger", machine: "m-nobody"),
                                                                   signer: "m-nobody", key: stranger))).status == 401)
        #expect(try Self.post(url, Self.encode(SignedEnvelope.sign(Self.submission("s-other", machine: "m-nobody"),
                                                                   signer: id, key: key))).status == 403)
        // Not a slug where only slugs go.
        var hostile = Self.submission("s-hostile", machine: id)
        hostile.outcomes[0].strategy = "../../etc/passwd"
        #expect(try Self.post(url, Self.encode(SignedEnvelope.sign(hostile, signer: id, key: key))).status == 400)
        // Garbage and an oversized body.
        #expect(try Self.post(url, Data("{not json".utf8)).status == 400)
        #expect(try Self.post(url, Data(repeating: 0x41, count: 2 << 20)).status == 413)

        #expect(try backend.query("SELECT id FROM submissions") == "s-genuine")
        #expect(try backend.query("SELECT COUNT(*) FROM outcomes") == "1")
    }

    /// An enrollment with the wrong token is refused, and the machine stays unenrolled.
    @Test func aWrongEnrollmentTokenIsRefused() throws {
        let backend = try FleetLearningTests.Backend("sqlite")
        let machine = try FleetMachine(number: 2)
        let wrong = try backend.scratch.write("wrong.token", "not-the-fleet-token-at-all")
        let result = try machine.fleet(["enroll", "--server", backend.service.url, "--token-file", wrong])
        #expect(result.status != 0)
        #expect(result.stderr.contains("wrong enrollment token"), "\(result.stderr)")
        #expect(try backend.query("SELECT COUNT(*) FROM machines") == "0")
        let submit = try machine.fleet(["submit"])
        #expect(submit.status != 0 && submit.stderr.contains("not enrolled"), "\(submit.stderr)")
    }

    /// Offline: the batch stays in the outbox (exit 3); once the service is back it is sent
    /// and leaves the outbox.
    @Test func anOfflineMachineKeepsItsOutboxAndSendsItLater() throws {
        let backend = try FleetLearningTests.Backend("sqlite")
        let machine = try FleetMachine(number: 3)
        try machine.enroll(backend.service, tokenFile: backend.tokenFile)
        try machine.recordEpisode(signature: "fstab-unresolvable-source", first: "fstab-add-nofail", second: "fstab-comment-out", episode: 1)
        backend.service.stop()
        let offline = try machine.fleet(["submit"])
        #expect(offline.status == 3, "\(offline.stdout)\(offline.stderr)")
        #expect(offline.stdout.contains("queued 4 outcomes") && offline.stdout.contains("1 kept for later"), "\(offline.stdout)")
        let outbox = machine.copy.at("/var/lib/clarity-heal/outbox")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outbox).filter { $0.hasSuffix(".json") }.count == 1)
        // Pull says so the same way (the agent's unit takes 3 as "try tomorrow").
        let pull = try machine.fleet(["pull"])
        #expect(pull.status == 3 && pull.stderr.contains("cannot be reached"), "\(pull.stdout)\(pull.stderr)")
        // Not enrolled, --if-enrolled: nothing to do, nothing said.
        let stranger = try FleetMachine(number: 4)
        let quiet = try stranger.fleet(["pull", "--if-enrolled"])
        #expect(quiet.status == 0 && quiet.stdout.isEmpty && quiet.stderr.isEmpty, "\(quiet.stdout)\(quiet.stderr)")
        #expect(try stranger.fleet(["pull"]).status != 0)

        // Back on the same store (and a new port: the machine is told where by its config).
        try backend.restart("serve-2")
        try Self.repoint(machine, to: backend.service.url)
        let online = try machine.fleet(["submit"])
        #expect(online.status == 0, "\(online.stdout)\(online.stderr)")
        #expect(online.stdout.contains("queued 0 outcomes; sent 1 batches (4 outcomes stored)"), "\(online.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outbox).filter { $0.hasSuffix(".json") }.isEmpty)
        #expect(try backend.query("SELECT COUNT(*) FROM outcomes") == "4")
    }

    /// The service listens on a new port after a restart in these tests: the machine's
    /// config names it (`[Fleet] Server=`), as an administrator moving the service would do;
    /// the enrollment, which names the old one, is left as it was.
    static func repoint(_ machine: FleetMachine, to url: String) throws {
        let folder = machine.copy.at("/etc/clarity-heal")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: folder + "/clarity-heal.conf")
        try "[Fleet]\nServer=\(url)\n".write(toFile: folder + "/clarity-heal.conf", atomically: false, encoding: .utf8)
    }

    /// SIGKILL in the middle of a load of 3000 submissions: everything acknowledged before
    /// the crash is stored; sending the whole load again after the restart stores each
    /// submission and each outcome exactly once.
    @Test(arguments: ["postgresql", "sqlite"])
    func aServiceKilledMidLoadLosesNothingAndStoresNothingTwice(_ engine: String) throws {
        let backend = try FleetLearningTests.Backend(engine)
        let total = 3000, perSubmission = 3
        let acknowledged = backend.scratch.path + "/acknowledged-1"
        let load = Process()
        load.executableURL = URL(fileURLWithPath: Tool.clarityFleet)
        load.arguments = ["load", "--server", backend.service.url, "--token-file", backend.tokenFile, "--submissions", "\(total)",
                          "--outcomes", "\(perSubmission)", "--concurrency", "8", "--seed", "crash", "--acknowledged", acknowledged]
        load.standardOutput = FileHandle.nullDevice
        try load.run()
        // Kill once a part of the load is stored.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, (Int((try? backend.query("SELECT COUNT(*) FROM submissions")) ?? "") ?? 0) < total / 5 { usleep(20_000) }
        backend.service.kill9()
        load.waitUntilExit()
        let before = Set(try String(contentsOfFile: acknowledged, encoding: .utf8).split(separator: "\n").map(String.init))
        #expect(!before.isEmpty && before.count < total, "the crash came mid-load: \(before.count) of \(total) acknowledged")

        try backend.restart("serve-after-crash")
        let stored = Set(try backend.query("SELECT id FROM submissions").split(separator: "\n").map(String.init))
        #expect(before.isSubset(of: stored), "acknowledged but lost: \(before.subtracting(stored).sorted().prefix(5))")

        let resend = try Tool.run(Tool.clarityFleet, ["load", "--server", backend.service.url, "--token-file", backend.tokenFile,
                                                     "--submissions", "\(total)", "--outcomes", "\(perSubmission)", "--concurrency", "8",
                                                     "--seed", "crash", "--json"])
        #expect(resend.status == 0, "\(resend.stderr)")
        struct Report: Decodable { var stored: Int; var duplicates: Int; var refused: Int; var unanswered: Int }
        let report = try JSONDecoder().decode(Report.self, from: Data(resend.stdout.utf8))
        #expect(report.refused == 0 && report.unanswered == 0)
        #expect(report.stored + report.duplicates == total)
        #expect(report.duplicates >= before.count)
        #expect(try backend.query("SELECT COUNT(*) FROM submissions") == "\(total)")
        #expect(try backend.query("SELECT COUNT(*) FROM outcomes") == "\(total * perSubmission)")
        #expect(try backend.query("SELECT COUNT(*) FROM (SELECT submission FROM outcomes GROUP BY submission HAVING COUNT(*) <> \(perSubmission)) AS odd") == "0")
    }
}
