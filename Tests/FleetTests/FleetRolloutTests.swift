import Crypto
import FleetProtocol
import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Fix packages across similar machines (issue 12), end to end on `clarity-fleet serve`
/// (SQLite) and overlay copies of the Debian root, each its own machine: a fix made,
/// applied and verified by the real `clarity-heal` on one machine is published, signed by
/// the fleet key, offered to the machines of its profile, revalidated on each one's own
/// clone, applied and verified there; an altered or unsigned package, or one made for a file
/// that differs here, is refused; the rollout stops by itself once its fixes fail too often.
@Suite(.serialized)
struct FleetRolloutTests {
    static let token = "rollout-token-0123456789abcdef"

    struct Published: Decodable { var rollout: String; var status: String; var paths: Int }
    struct Pulled: Decodable {
        struct Offer: Decodable { var rollout: String; var verified: Int; var failed: Int }
        var offers: [Offer]
    }
    struct Adopted: Decodable {
        struct Result: Decodable {
            struct Attempt: Decodable { var strategy: String; var validated: Bool; var notes: [String] }
            var status: String
            var fixPackage: String?
            var attempts: [Attempt]
        }
        var rollout: String?
        var result: Result?
        var refused: [String]
    }
    struct Standing: Decodable {
        var rollout: String; var verified: Int; var failed: Int; var approved: Int64?; var stopped: Int64?; var stopReason: String?
    }

    /// `clarity-fleet rollout approve|stop ID` with the service's admin token.
    static func decide(_ decision: String, _ rollout: String, _ service: RunningFleetService) throws -> Standing {
        let result = try Tool.run(Tool.clarityFleet, ["rollout", decision, rollout, "--server", service.url,
                                                      "--admin-token-file", service.adminTokenFile, "--json"])
        try #require(result.status == 0, "\(result.stdout)\(result.stderr)")
        return try JSONDecoder().decode(Standing.self, from: Data(result.stdout.utf8))
    }
    struct Export: Decodable { var rollouts: [Standing] }

    /// A machine of the fleet whose init is gone (systemd deleted: `init-missing`).
    static func machine(_ number: Int, _ service: RunningFleetService, tokenFile: String) throws -> FleetMachine {
        let machine = try FleetMachine(number: number)
        try FileManager.default.removeItem(atPath: machine.copy.at("/lib/systemd/systemd"))
        try machine.enroll(service, tokenFile: tokenFile)
        return machine
    }

    static func heal(_ arguments: [String]) throws -> Tool.Result {
        try Tool.run(Tool.clarityHeal, arguments)
    }

    static func export(_ service: RunningFleetService) throws -> [Standing] {
        let result = try Tool.run("/usr/bin/curl", ["-sf"] + RunningFleetService.adminHeader + [service.url + "/v1/export.json"])
        return try JSONDecoder().decode(Export.self, from: Data(result.stdout.utf8)).rollouts
    }

    static func pull(_ machine: FleetMachine) throws -> Pulled {
        let result = try machine.fleet(["pull", "--json"])
        try #require(result.status == 0, "\(result.stdout)\(result.stderr)")
        return try JSONDecoder().decode(Pulled.self, from: Data(result.stdout.utf8))
    }

    /// `clarity-fleet adopt` on a clone of `machine` (the overlay environment), with its
    /// exit status and JSON.
    static func adopt(_ machine: FleetMachine, out: TemporaryDirectory, scratch: TemporaryDirectory) throws -> (Int32, Adopted, String) {
        let result = try machine.fleet(["adopt", "--device", TestRoot.image, "--environment", "overlay",
                                        "--out", out.path, "--scratch", scratch.path, "--json"])
        let adopted = try JSONDecoder().decode(Adopted.self, from: Data(result.stdout.utf8))
        return (result.status, adopted, result.stderr)
    }

    /// Applies a fix package to the machine and verifies it as the boot after it would
    /// (`--device`: the root's disk is visible, as it is on the machine itself).
    static func applyAndVerify(_ package: String, on machine: FleetMachine, diskVisible: Bool = true) throws -> Tool.Result {
        let applied = try heal(["apply", package, "--root", machine.path, "--json"])
        try #require(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        return try heal(["verify", "--root", machine.path, "--json"] + (diskVisible ? ["--device", TestRoot.image] : []))
    }

    static func sha256(_ path: String) throws -> String {
        String(try Tool.run("/usr/bin/sha256sum", [path]).stdout.prefix(64))
    }

    /// Publications the service must refuse before it signs anything: each over HTTP to a
    /// real `clarity-fleet serve`, and afterwards the store holds no rollout.
    @Test func hostilePublicationsAreRefusedAndNothingIsSigned() throws {
        let backend = try FleetLearningTests.Backend("sqlite")
        let machine = try FleetMachine(number: 1)
        try machine.enroll(backend.service, tokenFile: backend.tokenFile)
        let (id, key) = try FleetSubmissionTests.identity(machine)
        let profile = SystemProfile(release: "debian-12", kernelSeries: "6.1", bootloader: "grub", initramfsTool: "initramfs-tools")
        let contents = Data("#!/bin/sh\nexec /lib/systemd/systemd\n".utf8)
        let digest = sha256Hex(String(decoding: contents, as: UTF8.self))
        func package(_ path: String = "/usr/sbin/init", digest: String = digest, files: [String: String]? = nil,
                     profile: SystemProfile = profile) -> FleetPackage {
            FleetPackage(signature: "init-missing", strategy: "init-restore-from-package", title: "t", profile: profile, needsReboot: true,
                         changes: [.init(path: path, kind: .file, mode: 0o755, sha256: digest, before: .init(kind: .absent))],
                         files: files ?? [digest: contents.base64EncodedString()])
        }
        func publish(_ package: FleetPackage, sent: Int64 = Int64(Date().timeIntervalSince1970),
                     key signing: Curve25519.Signing.PrivateKey? = nil, machine named: String? = nil) throws -> Int {
            let envelope = try SignedEnvelope.sign(Publication(machine: named ?? id, sent: sent, package: package), signer: id, key: signing ?? key)
            let result = try Tool.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                                                        "--data-binary", "@-", backend.service.url + "/v1/rollouts"],
                                      input: try JSONEncoder().encode(envelope))
            return Int(result.stdout) ?? 0
        }
        #expect(package().problem() == nil)
        #expect(try publish(package("/usr/sbin/../../etc/shadow")) == 400)
        #expect(try publish(package("usr/sbin/init")) == 400)
        #expect(try publish(package("/var/lib/clarity-heal/ledger.jsonl")) == 400)
        #expect(try publish(package(digest: String(repeating: "0", count: 64), files: [String(repeating: "0", count: 64): contents.base64EncodedString()])) == 400)
        #expect(try publish(package(files: [digest: contents.base64EncodedString(), "extra": "AAAA"])) == 400)
        #expect(try publish(package(profile: SystemProfile(release: "fedora-40", kernelSeries: "6.8", bootloader: "grub", initramfsTool: "dracut"))) == 400)
        #expect(try publish(package(), sent: Int64(Date().timeIntervalSince1970) - 1200) == 409)
        #expect(try publish(package(), key: Curve25519.Signing.PrivateKey()) == 403)
        #expect(try publish(package(), machine: "m-someone-else") == 403)
        let huge = Data(repeating: 0x41, count: FleetPackage.maximumBytes)
        let hugeDigest = SHA256.hash(data: huge).hex
        #expect(try publish(package(digest: hugeDigest, files: [hugeDigest: huge.base64EncodedString()])) == 413)
        #expect(try backend.query("SELECT COUNT(*) FROM rollouts") == "0")
        // The genuine one is stored, once; approved, then stopped by hand.
        #expect(try publish(package()) == 201)
        #expect(try publish(package()) == 200)
        #expect(try backend.query("SELECT COUNT(*) FROM rollouts") == "1")
        let rollout = try backend.query("SELECT id FROM rollouts")
        #expect(try Self.decide("approve", rollout, backend.service).approved != nil)
        let stopped = try Self.decide("stop", rollout, backend.service)
        #expect(stopped.stopped != nil && stopped.stopReason == "stopped by an administrator")
        // Decisions need the admin token.
        let refused = try Tool.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                                                     backend.service.url + "/v1/rollouts/\(rollout)/approve"]).stdout
        #expect(refused == "401")
    }

    @Test func aFixThatHeldOnOneMachineIsRevalidatedAndAppliedOnTheOthersUntilItFailsTooOften() throws {
        let scratch = try TemporaryDirectory(prefix: "rollout")
        let tokenFile = try scratch.write("token", Self.token)
        let database = scratch.path + "/store/fleet.db"
        try FileManager.default.createDirectory(atPath: scratch.path + "/store", withIntermediateDirectories: true)
        let service = try RunningFleetService(database: "sqlite:" + database, token: Self.token, in: scratch)

        // Machine 1 repairs itself with the catalogue's strategy, for real.
        let first = try Self.machine(1, service, tokenFile: tokenFile)
        let fixes = try TemporaryDirectory(prefix: "rollout-fixes")
        let work = try TemporaryDirectory(prefix: "rollout-scratch")
        let repaired = try Self.heal(["repair", "--root", first.path, "--device", TestRoot.image, "--out", fixes.path + "/1",
                                      "--scratch", work.path, "--json"])
        try #require(repaired.status == 1, "\(repaired.stderr)")
        struct Repaired: Decodable { var fix: String; var fixPackage: String }
        let made = try JSONDecoder().decode(Repaired.self, from: Data(repaired.stdout.utf8))
        let applied = try Self.heal(["apply", made.fixPackage, "--root", first.path, "--json"])
        try #require(applied.status == 0, "\(applied.stderr)")

        // Applied but not yet verified after a reboot: nothing is published.
        let early = try first.fleet(["publish", made.fix])
        #expect(early.status != 0)
        #expect(early.stderr.contains("not verified good"), "\(early.stderr)")
        #expect(try Self.export(service).isEmpty)

        let verified = try Self.heal(["verify", "--root", first.path, "--device", TestRoot.image, "--json"])
        try #require(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let publishedRun = try first.fleet(["publish", made.fix, "--json"])
        try #require(publishedRun.status == 0, "\(publishedRun.stderr)")
        let published = try JSONDecoder().decode(Published.self, from: Data(publishedRun.stdout.utf8))
        #expect(published.status == "published")
        let again = try JSONDecoder().decode(Published.self, from: Data(try first.fleet(["publish", made.fix, "--json"]).stdout.utf8))
        #expect(again.rollout == published.rollout && again.status == "duplicate")
        let rollout = published.rollout

        // The stored package names nothing of the machine that made it.
        let stored = try Tool.run("/usr/bin/sqlite3", [database, ".dump"]).stdout
        for secret in [first.machineID, first.hostname, made.fix, first.path] {
            #expect(!stored.contains(secret), "the store holds \(secret)")
        }

        // Published is not offered: the rollout waits for an administrator.
        let second = try Self.machine(2, service, tokenFile: tokenFile)
        #expect(try Self.pull(second).offers.isEmpty)
        #expect(try Self.export(service).first { $0.rollout == rollout }?.approved == nil)
        let pending = try Tool.run("/usr/bin/curl", ["-sf"] + RunningFleetService.adminHeader + [service.url + "/dashboard"]).stdout
        #expect(pending.contains("pending: waiting for an administrator"), "\(pending)")
        #expect(try Self.decide("approve", rollout, service).approved != nil)

        // Machine 2: offered the package, revalidates it on its own clone, applies, verifies.
        let offers = try Self.pull(second)
        #expect(offers.offers.map(\.rollout) == [rollout])
        #expect(FileManager.default.fileExists(atPath: second.copy.at("/var/lib/clarity-heal/offers/\(rollout).json")))
        let secondOut = try TemporaryDirectory(prefix: "rollout-out")
        let (status, adopted, log) = try Self.adopt(second, out: secondOut, scratch: work)
        #expect(status == 1, "\(log)")
        #expect(adopted.rollout == rollout && adopted.result?.status == "validated", "\(adopted)")
        #expect(adopted.result?.attempts.map(\.strategy) == ["fleet-" + rollout])
        #expect(!FileManager.default.fileExists(atPath: second.copy.at("/lib/systemd/systemd")), "adopt wrote to the machine")
        let packagePath = try #require(adopted.result?.fixPackage)
        let package = try FixPackage.open(packagePath)
        #expect(package.manifest.strategy.id == "fleet-" + rollout)
        #expect(package.manifest.validation.passed)
        let secondVerified = try Self.applyAndVerify(packagePath, on: second)
        #expect(secondVerified.status == 0, "\(secondVerified.stdout)")
        #expect(try Self.sha256(second.copy.at("/lib/systemd/systemd")) == (try Self.sha256(first.copy.at("/lib/systemd/systemd"))))
        #expect(try second.fleet(["submit"]).status == 0)
        let afterSecond = try #require(try Self.export(service).first { $0.rollout == rollout })
        #expect(afterSecond.verified == 1 && afterSecond.failed == 0)

        // Machine 3: its init is a dangling link, not absent: the package was not made for
        // that file and is not tried (nor counted against the rollout).
        let third = try Self.machine(3, service, tokenFile: tokenFile)
        try FileManager.default.createSymbolicLink(atPath: third.copy.at("/lib/systemd/systemd"), withDestinationPath: "systemd.gone")
        _ = try Self.pull(third)
        let (thirdStatus, thirdAdopted, _) = try Self.adopt(third, out: try TemporaryDirectory(prefix: "rollout-out"), scratch: work)
        #expect(thirdStatus == 4)
        #expect(thirdAdopted.result?.status == "unrepairable")
        #expect(thirdAdopted.result?.attempts.first?.notes.joined().contains("is not what the package was made for") == true,
                "\(String(describing: thirdAdopted.result?.attempts))")
        #expect(try third.fleet(["submit"]).status == 0)
        #expect(try Self.export(service).first { $0.rollout == rollout }?.failed == 0)

        // Machine 4: its kept package altered after the fleet signed it, then re-signed by
        // someone without the fleet key: refused both times, nothing written.
        let fourth = try Self.machine(4, service, tokenFile: tokenFile)
        _ = try Self.pull(fourth)
        let kept = fourth.copy.at("/var/lib/clarity-heal/offers/\(rollout).json")
        let original = try Data(contentsOf: URL(fileURLWithPath: kept))
        var envelope = try #require(try JSONSerialization.jsonObject(with: original) as? [String: String])
        let bodyText = try #require(envelope["body"])
        let body = try #require(Data(base64Encoded: bodyText))
        let altered = String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\"mode\":493", with: "\"mode\":511")
        #expect(altered != String(decoding: body, as: UTF8.self))
        envelope["body"] = Data(altered.utf8).base64EncodedString()
        try JSONSerialization.data(withJSONObject: envelope).write(to: URL(fileURLWithPath: kept))
        let out = try TemporaryDirectory(prefix: "rollout-out")
        let (alteredStatus, alteredRun, _) = try Self.adopt(fourth, out: out, scratch: work)
        #expect(alteredStatus == 5)
        #expect(alteredRun.refused.first?.contains("not signed by the fleet's key, or was altered") == true, "\(alteredRun.refused)")
        envelope["signature"] = Data(repeating: 7, count: 64).base64EncodedString()
        try JSONSerialization.data(withJSONObject: envelope).write(to: URL(fileURLWithPath: kept))
        #expect(try Self.adopt(fourth, out: out, scratch: work).0 == 5)
        envelope.removeValue(forKey: "signature")
        try JSONSerialization.data(withJSONObject: envelope).write(to: URL(fileURLWithPath: kept))
        #expect(try Self.adopt(fourth, out: out, scratch: work).0 == 5)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)

        // Machines 5 and 6 adopt it too, and its verification fails there (the boot after it
        // cannot find the root's disk): rolled back, reported; 2 of 3 failed, the rollout
        // stops by itself (more than 25 % of at least 3).
        for number in [5, 6] {
            let machine = try Self.machine(number, service, tokenFile: tokenFile)
            _ = try Self.pull(machine)
            let machineOut = try TemporaryDirectory(prefix: "rollout-out")
            let (status, adopted, log) = try Self.adopt(machine, out: machineOut, scratch: work)
            try #require(status == 1, "\(log)")
            let adoptedPackage = try #require(adopted.result?.fixPackage)
            let verification = try Self.applyAndVerify(adoptedPackage, on: machine, diskVisible: false)
            #expect(verification.status != 0, "\(verification.stdout)")
            let submitted = try machine.fleet(["submit"])
            #expect(submitted.status == 0, "\(submitted.stdout)\(submitted.stderr)")
        }
        let standing = try #require(try Self.export(service).first { $0.rollout == rollout })
        #expect(standing.verified == 1 && standing.failed == 2)
        #expect(standing.stopped != nil)
        #expect(standing.stopReason?.contains("2 of 3 fixes made from it failed") == true, "\(String(describing: standing.stopReason))")

        // Stopped: no longer offered, the kept copy is removed on the next pull, and the
        // package is no longer handed out.
        #expect(try Self.pull(fourth).offers.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: kept))
        let seventh = try Self.machine(7, service, tokenFile: tokenFile)
        #expect(try Self.pull(seventh).offers.isEmpty)
        // Asked for directly, signed by an enrolled machine: gone. Unsigned, or signed by a
        // key that is not the machine's: refused before anything is looked up.
        let (id, key) = try FleetSubmissionTests.identity(seventh)
        func get(_ target: String, signedWith signing: Curve25519.Signing.PrivateKey?) throws -> String {
            let headers = try signing.map {
                try SignedRequest.headers(method: "GET", target: target, machine: id, time: Int64(Date().timeIntervalSince1970), key: $0)
            } ?? []
            return try Tool.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}"] + headers.flatMap { ["-H", "\($0.0): \($0.1)"] }
                                + [service.url + target]).stdout
        }
        #expect(try get("/v1/rollouts/\(rollout)", signedWith: key) == "410")
        #expect(try get("/v1/rollouts/\(rollout)", signedWith: nil) == "401")
        #expect(try get("/v1/rollouts/\(rollout)", signedWith: Curve25519.Signing.PrivateKey()) == "403")
        #expect(try get("/v1/rollouts", signedWith: nil) == "401")
        #expect(try get("/v1/insights", signedWith: nil) == "401")
        #expect(try get("/v1/insights", signedWith: key) == "200")
        let dashboard = try Tool.run("/usr/bin/curl", ["-sf"] + RunningFleetService.adminHeader + [service.url + "/dashboard"]).stdout
        #expect(dashboard.contains(rollout) && dashboard.contains("stopped: 2 of 3 fixes made from it failed"))
    }
}
