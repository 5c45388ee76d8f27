import Crypto
import FleetProtocol
import Foundation
import Hummingbird

/// The rollout routes: a machine publishes a fix that held; the service checks it and keeps
/// it as a pending rollout of the machine's profile; once an administrator approves it, it
/// is offered and handed out signed by the fleet key; a rollout whose fixes fail too often
/// stops (`FleetStore.stopIfFailing`), or is stopped by a person, and is no longer offered.
extension FleetService {
    func addRollouts(to router: Router<BasicRequestContext>) {
        addRolloutDecisions(to: router)
        router.post("/v1/rollouts") { request, _ in
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: FleetPackage.maximumBytes + 64 << 10)
            } catch {
                return try Self.json(PublicationResponse(status: "refused", reason: "larger than \(FleetPackage.maximumBytes) bytes"),
                                     status: .contentTooLarge)
            }
            let (status, answer) = try await publish(Data(buffer: body))
            return try Self.json(answer, status: status)
        }
        router.get("/v1/rollouts") { request, _ in
            let profile: String
            switch try await readerProfile(request) {
            case .success(let value): profile = value
            case .failure(let refusal): return try refusal.response
            }
            let offers = try await store.rollouts(profile: profile).filter { $0.state == "offered" }
            return try Self.json(try SignedEnvelope.sign(RolloutOffers(received: clock(), offers: offers), signer: "fleet", key: key),
                                 status: .ok)
        }
        router.get("/v1/rollouts/:id") { request, context in
            let profile: String
            switch try await readerProfile(request) {
            case .success(let value): profile = value
            case .failure(let refusal): return try refusal.response
            }
            guard let id = context.parameters.get("id"), let stored = try await store.rolloutPackage(id), stored.profile == profile,
                  stored.approved, let package = try? JSONDecoder().decode(FleetPackage.self, from: stored.body) else {
                return try Self.json(PublicationResponse(status: "refused", reason: "no such rollout for this machine's profile"),
                                     status: .notFound)
            }
            guard !stored.stopped else {
                return try Self.json(PublicationResponse(status: "refused", rollout: id, reason: "the rollout stopped"), status: .gone)
            }
            return try Self.json(try SignedEnvelope.sign(RolloutPackage(rollout: id, published: stored.published, package: package),
                                                         signer: "fleet", key: key), status: .ok)
        }
    }

    /// `POST /v1/rollouts/<id>/approve|stop`, with the admin token: a person approves a
    /// published package before any machine is offered it, and may stop it at any time.
    func addRolloutDecisions(to router: Router<BasicRequestContext>) {
        for decision in FleetStore.Decision.allCases {
            router.post("/v1/rollouts/:id/\(decision.rawValue)") { request, context in
                if let refusal = adminRefusal(request) { return refusal }
                guard let id = context.parameters.get("id"), let standing = try await store.decide(decision, rollout: id, now: clock()) else {
                    return try Self.json(PublicationResponse(status: "refused", reason: "no such rollout"), status: .notFound)
                }
                logger.notice("rollout \(decision.rawValue)", metadata: ["rollout": "\(id)", "state": "\(standing.state)"])
                return try Self.json(standing, status: .ok)
            }
        }
    }

    /// Checks and stores one publication: an enrolled machine's signature, fresh, naming that
    /// machine, a package without problems made on a machine of the publisher's own profile.
    public func publish(_ bytes: Data) async throws -> (HTTPResponse.Status, PublicationResponse) {
        func refuse(_ status: HTTPResponse.Status, _ reason: String) -> (HTTPResponse.Status, PublicationResponse) {
            logger.notice("publication refused", metadata: ["reason": "\(reason)"])
            return (status, PublicationResponse(status: "refused", reason: reason))
        }
        let publication: Publication
        switch try await machineSigned(bytes, limit: FleetPackage.maximumBytes, as: Publication.self) {
        case .success(let checked): publication = checked.0
        case .failure(let refusal): return refuse(refusal.status, refusal.reason)
        }
        let now = clock()
        let package = publication.package
        if let problem = package.problem() { return refuse(.badRequest, "the package: \(problem)") }
        let profile = package.profile
        guard [profile.release, profile.kernelSeries, profile.bootloader, profile.initramfsTool].allSatisfy({ SystemProfile.token($0) == $0 }),
              try await store.database.execute("SELECT profile FROM machines WHERE id = $1", [.text(publication.machine)]).first?.first?.text
                == profile.key else {
            return refuse(.badRequest, "the package's profile is not the publishing machine's")
        }
        // The package alone is kept, as the bytes the fleet key will sign: the same package
        // from another publication (another time, another machine) is the same rollout.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let packageBytes = try encoder.encode(package)
        switch try await store.publish(package, body: packageBytes, publisher: publication.machine, now: now) {
        case .published(let id):
            logger.info("rollout published", metadata: ["rollout": "\(id)", "signature": "\(package.signature)"])
            return (.created, PublicationResponse(status: "published", rollout: id))
        case .duplicate(let id):
            return (.ok, PublicationResponse(status: "duplicate", rollout: id))
        }
    }
}
