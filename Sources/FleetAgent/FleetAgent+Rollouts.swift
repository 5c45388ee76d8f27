import Crypto
import FleetProtocol
import Foundation
import HealCore
import HealSystem
import NIOHTTP1

/// Rollouts on the machine's side (docs/fleet.md, "Rollouts"):
///
/// ```
///  <root>/var/lib/clarity-heal/
///  └── offers/<rollout>.json   a rollout's package as the service signed it (the envelope, verbatim)
/// ```
///
/// `publish` sends a fix that held here; `pull` keeps the packages offered to this
/// machine's profile (and drops those that stopped); `adopt` checks a kept package's
/// signature again, then revalidates it on this machine's own clone and writes a local fix
/// package only when the clone passes. Nothing is applied here: `clarity-heal apply` does
/// that, with its backup, verification and rollback.
extension FleetAgent {
    public struct Published: Sendable, Codable, Equatable {
        public var fix: String
        public var rollout: String
        /// `published`, or `duplicate` when the same package was published before.
        public var status: String
        public var paths: Int
    }

    // MARK: publish

    /// Makes the portable package of fix `fixID`, applied on this root and verified good after
    /// its reboot, and publishes it.
    public func publish(fix fixID: String) async throws -> Published {
        let (enrollment, key) = try enrollment()
        let package = try portablePackage(fix: fixID)
        let publication = Publication(machine: enrollment.machine, sent: clock(), package: package)
        let envelope = try SignedEnvelope.sign(publication, signer: enrollment.machine, key: key)
        let (status, answer) = try await http(.POST, enrollment.server + "/v1/rollouts", body: try Self.encode(envelope))
        guard [200, 201].contains(status), let response = try? JSONDecoder().decode(PublicationResponse.self, from: answer),
              let rollout = response.rollout else {
            throw Failure.refused(status: status, reason: Self.reason(answer))
        }
        logger.notice("fix published", metadata: ["fix": "\(fixID)", "rollout": "\(rollout)"])
        return Published(fix: fixID, rollout: rollout, status: response.status, paths: package.changes.count)
    }

    /// The portable package of an applied fix: its changes and contents (from the verified
    /// copy apply kept) with what stood at each path before (from apply's backup index).
    func portablePackage(fix fixID: String) throws -> FleetPackage {
        let records: [LedgerRecord]
        do { records = try Ledger(root: root).records().records(of: fixID) } catch { throw Failure.state("the ledger: \(error)") }
        guard records.contains(where: { $0.kind == .verification && $0.outcome == .good }) else {
            throw Failure.notPublishable("fix \(fixID) was not verified good after its reboot here: only a fix that held is published")
        }
        if records.contains(where: { $0.kind == .rollback }) {
            throw Failure.notPublishable("fix \(fixID) was rolled back here")
        }
        let state = try state()
        let stored: FixPackage
        do {
            stored = try FixPackage.open(try state.files.subdirectory(ApplyLayout.package(fixID)))
        } catch {
            throw Failure.state("the applied copy of fix \(fixID): \(error)")
        }
        let manifest = stored.manifest
        if FleetPackage.rollout(ofStrategy: manifest.strategy.id) != nil {
            throw Failure.notPublishable("fix \(fixID) was made from a fleet package already: it is that rollout's outcome, not a new one")
        }
        guard manifest.filesystem == nil else { throw Failure.notPublishable("fix \(fixID) repairs a block device: only file changes travel") }
        guard let indexBytes = try read(ApplyLayout.applied(fixID) + "/backup-index.json", limit: 16 << 20),
              let index = try? JSONDecoder().decode(BackupIndex.self, from: indexBytes) else {
            throw Failure.notPublishable("fix \(fixID) has no backup index: it was not applied here")
        }
        var before: [String: FleetPackage.State] = [:]
        for entry in index.entries {
            before[entry.path] = .init(kind: entry.kind, sha256: entry.kind == .file ? entry.sha256 : nil,
                                       target: entry.kind == .symlink ? entry.target : nil)
        }
        var changes: [FleetPackage.Change] = [], files: [String: String] = [:]
        for change in manifest.changes {
            guard (change.owner ?? 0) == 0, (change.group ?? 0) == 0 else {
                throw Failure.notPublishable("\(change.path) is not owned by root: only root's files travel in a fleet package")
            }
            guard let was = before[change.path] ?? before[root.canonical(change.path)] else {
                throw Failure.state("the backup of fix \(fixID) does not say what stood at \(change.path)")
            }
            if change.kind == .file, let digest = change.sha256 {
                do { files[digest] = Data(try stored.contents(of: change)).base64EncodedString() } catch {
                    throw Failure.state("the contents of \(change.path): \(error)")
                }
            }
            changes.append(.init(path: change.path, kind: change.kind, mode: change.mode, sha256: change.sha256,
                                 target: change.target, before: was))
        }
        let package = FleetPackage(signature: manifest.failureClass.rawValue, strategy: manifest.strategy.id,
                                   title: manifest.strategy.title, profile: SystemProfile.read(root),
                                   needsReboot: manifest.needsReboot, changes: changes, files: files)
        if let problem = package.problem() { throw Failure.notPublishable("fix \(fixID) cannot travel: \(problem)") }
        return package
    }

    // MARK: offers

    /// Fetches the rollouts offered to this machine's profile, keeps each one's signed
    /// package in `offers/`, and removes those no longer offered (a rollout that stopped).
    /// - Returns: the offers kept.
    public func pullOffers() async throws -> [RolloutStanding] {
        let (enrollment, key) = try enrollment()
        let fleetKey = try fleetKey(enrollment)
        let (status, data) = try await signedGet("/v1/rollouts", enrollment, key)
        guard status == 200, let envelope = try? JSONDecoder().decode(SignedEnvelope.self, from: data),
              let body = try? envelope.verifiedBody(key: fleetKey, limit: RolloutOffers.maximumBytes),
              let offers = try? JSONDecoder().decode(RolloutOffers.self, from: body) else {
            throw Failure.refused(status: status, reason: status == 200 ? "the offers are not signed by the fleet's key" : Self.reason(data))
        }
        var kept: [RolloutStanding] = []
        for offer in offers.offers where SystemProfile.token(offer.rollout) == offer.rollout {
            if try read("/offers/\(offer.rollout).json", limit: Self.offerLimit) == nil {
                let (status, data) = try await signedGet("/v1/rollouts/\(offer.rollout)", enrollment, key, limit: Self.offerLimit)
                guard status == 200 else { continue }
                do {
                    _ = try Self.verifiedPackage(data, rollout: offer.rollout, fleetKey: fleetKey)
                } catch {
                    logger.warning("a rollout's package was refused", metadata: ["rollout": "\(offer.rollout)", "reason": "\(error)"])
                    continue
                }
                try write("/offers/\(offer.rollout).json", data, mode: 0o600)
            }
            kept.append(offer)
        }
        let offered = Set(kept.map { $0.rollout + ".json" })
        let files = try state().files
        for name in files.entriesIfPresent("/offers") where name.hasSuffix(".json") && !offered.contains(name) {
            try? files.remove("/offers/" + name)
            logger.notice("a rollout is no longer offered; its package is removed", metadata: ["rollout": "\(name.dropLast(5))"])
        }
        return kept
    }

    static let offerLimit = FleetPackage.maximumBytes * 4 / 3 + (64 << 10)

    func fleetKey(_ enrollment: Enrollment) throws -> Curve25519.Signing.PublicKey {
        do { return try Curve25519.Signing.PublicKey(base64: enrollment.fleetKey) } catch { throw Failure.state("the stored fleet key: \(error)") }
    }

    public enum Refusal: Error, CustomStringConvertible {
        case notOffered(String)
        case unsigned(String)
        case wrongPackage(String)

        public var description: String {
            switch self {
            case .notOffered(let why), .wrongPackage(let why): why
            case .unsigned(let why): "the package is refused: \(why)"
            }
        }
    }

    /// A kept envelope's package, when the fleet key signed exactly these bytes for `rollout`.
    static func verifiedPackage(_ data: Data, rollout: String, fleetKey: Curve25519.Signing.PublicKey) throws(Refusal) -> RolloutPackage {
        guard let envelope = try? JSONDecoder().decode(SignedEnvelope.self, from: data) else {
            throw .unsigned("it is not a signed envelope")
        }
        let body: Data
        do { body = try envelope.verifiedBody(key: fleetKey, limit: FleetPackage.maximumBytes) } catch {
            throw .unsigned("it is not signed by the fleet's key, or was altered after it was signed (\(error))")
        }
        guard let signed = try? JSONDecoder().decode(RolloutPackage.self, from: body) else { throw .wrongPackage("the signed body is not a rollout package") }
        guard signed.rollout == rollout else { throw .wrongPackage("the signed package is rollout \(signed.rollout), not \(rollout)") }
        if let problem = signed.package.problem() { throw .wrongPackage("the package: \(problem)") }
        return signed
    }

    // MARK: adopt

    /// The rollouts kept in `offers/`.
    public func keptOffers() throws -> [String] {
        try state().files.entriesIfPresent("/offers").filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Revalidates rollout `rollout`'s kept package on a clone of this root: its signature is
    /// checked again (the copy in `offers/` may have been altered since), its profile must be
    /// this machine's and its failure class one found here; then the repair pipeline runs it
    /// as the only candidate and, when the clone passes, writes a local fix package.
    public func adopt(rollout: String, request: RepairPipeline.Request) throws -> RepairPipeline.Result {
        let (enrollment, _) = try enrollment()
        guard SystemProfile.token(rollout) == rollout, let data = try read("/offers/\(rollout).json", limit: Self.offerLimit) else {
            throw Refusal.notOffered("rollout \(rollout) is not offered to this machine (run clarity-fleet pull)")
        }
        let signed = try Self.verifiedPackage(data, rollout: rollout, fleetKey: try fleetKey(enrollment))
        let profile = SystemProfile.read(root)
        guard signed.package.profile == profile else {
            throw Refusal.wrongPackage("the package was made on \(signed.package.profile.key), this machine is \(profile.key)")
        }
        guard let failureClass = FailureClass(rawValue: signed.package.signature) else {
            throw Refusal.wrongPackage("the package repairs \(signed.package.signature), a class this version does not know")
        }
        var request = request
        request.failureClass = failureClass
        let strategy = FleetPackageStrategy(rollout: rollout, package: signed.package)
        do {
            return try RepairPipeline(candidates: { _ in [strategy] }).run(request)
        } catch {
            throw Failure.state("\(error)")
        }
    }
}

extension FleetAgent {
    /// Records an adoption in the ledger as `heal` records a repair: the outcomes of the
    /// fixes made from a rollout then reach the service with the rest, and count for or
    /// against it. A package that did not fit this machine's files was not tried: it is not
    /// counted against the rollout.
    public func record(_ result: RepairPipeline.Result, rollout: String) {
        let record: LedgerRecord
        switch result.status {
        case .healthy:
            return
        case .unrepairable:
            guard let finding = result.finding, !result.attempts.triedDetail.isEmpty else { return }
            record = LedgerRecord(kind: .repair, failure: finding.failureClass, outcome: .unrepairable,
                                  detail: ["tried": result.attempts.triedDetail, "by": "fleet", "rollout": rollout])
        case .validated:
            guard let manifest = result.package?.manifest else { return }
            record = LedgerRecord(kind: .repair, fix: manifest.id, failure: manifest.failureClass, strategy: manifest.strategy.id,
                                  outcome: .validated,
                                  detail: ["package": result.fixPackage ?? "", "by": "fleet", "rollout": rollout,
                                           "tried": result.attempts.triedDetail,
                                           "signature": result.diagnosis?.rootCause?.signature ?? ""])
        }
        do { try Ledger(root: root).append(record) } catch {
            logger.warning("the ledger could not record the adoption", metadata: ["reason": "\(error)"])
        }
    }
}
