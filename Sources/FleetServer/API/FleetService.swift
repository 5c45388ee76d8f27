import Crypto
import FleetProtocol
import Foundation
import HealCore
import Hummingbird
import Logging
import NIOFoundationCompat

/// The fleet service: the HTTP API of `FleetAPI` over a `FleetStore`.
///
/// Every submission is checked before anything is stored: the machine must be enrolled, the
/// Ed25519 signature must be its key's over the exact body bytes, the body must decode and
/// name that machine, and it must be fresh (`FleetAPI.freshnessSeconds`). A submission is
/// acknowledged only after its transaction committed, so a service killed mid-load loses
/// nothing a machine was told is stored; the machine sends again what was not acknowledged,
/// and ids keep it from being stored twice.
public struct FleetService: Sendable {
    public let store: FleetStore
    /// SHA-256 of the enrollment token (the token itself is not kept in memory).
    let tokenSHA256: String
    /// SHA-256 of the token the dashboard and the exports ask for; nil: they are refused.
    let adminTokenSHA256: String?
    let salt: String
    let key: Curve25519.Signing.PrivateKey
    let logger: Logger
    let clock: @Sendable () -> Int64

    public init(store: FleetStore, enrollmentToken: String, adminToken: String? = nil, logger: Logger,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) async throws {
        self.store = store
        self.tokenSHA256 = sha256Hex(enrollmentToken)
        self.adminTokenSHA256 = adminToken.map(sha256Hex)
        self.logger = logger
        self.clock = clock
        try await store.migrate(now: clock())
        (salt, key) = try await store.identity()
    }

    static let maximumRequestBytes = Submission.maximumBytes * 2

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/v1/fleet") { _, _ in
            try Self.json(FleetInfo(salt: salt, fleetKey: key.publicKey.base64), status: .ok)
        }
        router.post("/v1/enroll") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 64 << 10)
            guard let enroll = try? JSONDecoder().decode(EnrollRequest.self, from: Data(buffer: body)) else {
                return try Self.json(SubmissionResponse(status: "refused", reason: "malformed enrollment"), status: .badRequest)
            }
            guard Self.constantTimeEqual(sha256Hex(enroll.token), tokenSHA256) else {
                return try Self.json(SubmissionResponse(status: "refused", reason: "wrong enrollment token"), status: .forbidden)
            }
            guard (try? Curve25519.Signing.PublicKey(base64: enroll.publicKey)) != nil,
                  enroll.machineHash.count == 64, enroll.machineHash.allSatisfy(\.isHexDigit) else {
                return try Self.json(SubmissionResponse(status: "refused", reason: "malformed key or machine hash"), status: .badRequest)
            }
            let machine = try await store.enroll(hash: enroll.machineHash, publicKey: enroll.publicKey,
                                                 profile: enroll.profile.key, now: clock())
            logger.info("enrolled", metadata: ["machine": "\(machine)"])
            return try Self.json(EnrollResponse(machine: machine), status: .created)
        }
        router.post("/v1/submissions") { request, _ in
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: Self.maximumRequestBytes)
            } catch {
                return try Self.json(SubmissionResponse(status: "refused", reason: "larger than \(Self.maximumRequestBytes) bytes"),
                                     status: .contentTooLarge)
            }
            let (status, answer) = try await submit(Data(buffer: body))
            return try Self.json(answer, status: status)
        }
        router.get("/v1/insights") { request, _ in
            let query = request.uri.queryParameters
            let minConfidence = query["minConfidence"].flatMap { Double(String($0)) }.map { max(0, min(1, $0)) } ?? 0.7
            let maxAgeDays = query["maxAgeDays"].flatMap { Int(String($0)) }.map { max(1, min(3650, $0)) } ?? 30
            let profile: String
            switch try await readerProfile(request) {
            case .success(let value): profile = value
            case .failure(let refusal): return try refusal.response
            }
            let now = clock()
            let insights = try await store.insights(profile: profile, minConfidence: minConfidence, maxAgeDays: maxAgeDays, now: now)
            return try Self.json(try SignedEnvelope.sign(FleetInsights(received: now, insights: insights), signer: "fleet", key: key),
                                 status: .ok)
        }
        addRollouts(to: router)
        router.get("/dashboard") { request, _ in
            if let refusal = adminRefusal(request) { return refusal }
            return Self.body(DashboardPage.render(try await store.summary()), type: "text/html; charset=utf-8")
        }
        router.get("/v1/export.csv") { request, _ in
            if let refusal = adminRefusal(request) { return refusal }
            return Self.body(DashboardPage.csv(try await store.summary()), type: "text/csv; charset=utf-8")
        }
        router.get("/v1/export.json") { request, _ in
            if let refusal = adminRefusal(request) { return refusal }
            return try Self.json(try await store.summary(), status: .ok)
        }
        return router
    }

    static func body(_ text: String, type: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Checks and stores one envelope; the HTTP status and the answer.
    public func submit(_ bytes: Data) async throws -> (HTTPResponse.Status, SubmissionResponse) {
        func refuse(_ status: HTTPResponse.Status, _ reason: String) -> (HTTPResponse.Status, SubmissionResponse) {
            logger.notice("submission refused", metadata: ["reason": "\(reason)"])
            return (status, SubmissionResponse(status: "refused", reason: reason))
        }
        let submission: Submission, body: Data
        switch try await machineSigned(bytes, limit: Submission.maximumBytes, as: Submission.self) {
        case .success(let checked): (submission, body) = checked
        case .failure(let refusal): return refuse(refusal.status, refusal.reason)
        }
        guard submission.outcomes.count <= Submission.maximumOutcomes, Self.isSafe(submission) else {
            return refuse(.badRequest, "a field is not a slug, or too many outcomes")
        }
        let now = clock()
        switch try await store.store(submission, bodySHA256: sha256Hex(String(decoding: body, as: UTF8.self)), now: now) {
        case .stored(let outcomes): return (.created, SubmissionResponse(status: "stored", outcomes: outcomes))
        case .duplicate: return (.ok, SubmissionResponse(status: "duplicate"))
        }
    }

    struct Refusal: Error {
        var status: HTTPResponse.Status
        var reason: String

        var response: Response {
            get throws { try FleetService.json(SubmissionResponse(status: "refused", reason: reason), status: status) }
        }
    }

    /// The body of the envelope in `bytes` and its bytes, when the enrolled machine it names
    /// signed it, lately: the signature is checked before the body is decoded.
    func machineSigned<T: MachineSigned>(_ bytes: Data, limit: Int, as type: T.Type) async throws -> Result<(T, Data), Refusal> {
        let envelope: SignedEnvelope, body: Data
        switch try await verified(bytes, limit: limit) {
        case .success(let checked): (envelope, body) = checked
        case .failure(let refusal): return .failure(refusal)
        }
        guard let value = try? JSONDecoder().decode(T.self, from: body) else {
            return .failure(Refusal(status: .badRequest, reason: "the body is not a \(T.self)"))
        }
        guard value.machine == envelope.signer else { return .failure(Refusal(status: .forbidden, reason: "the \(T.self) names another machine")) }
        let now = clock()
        guard abs(now - value.sent) <= FleetAPI.freshnessSeconds else {
            return .failure(Refusal(status: .conflict, reason: "signed \(now - value.sent) s ago: a replay, or a clock that is off"))
        }
        return .success((value, body))
    }

    /// The envelope in `bytes` and its body, when an enrolled machine's key signed it.
    func verified(_ bytes: Data, limit: Int) async throws -> Result<(SignedEnvelope, Data), Refusal> {
        guard let envelope = try? JSONDecoder().decode(SignedEnvelope.self, from: bytes) else {
            return .failure(Refusal(status: .badRequest, reason: "not a signed envelope"))
        }
        guard let stored = try await store.machineKey(envelope.signer),
              let key = try? Curve25519.Signing.PublicKey(base64: stored) else {
            return .failure(Refusal(status: .unauthorized, reason: "the signer is not an enrolled machine"))
        }
        do {
            return .success((envelope, try envelope.verifiedBody(key: key, limit: limit)))
        } catch .badSignature {
            return .failure(Refusal(status: .forbidden, reason: "the signature does not match the body and the machine's key"))
        } catch {
            return .failure(Refusal(status: .badRequest, reason: "\(error)"))
        }
    }

    /// The profile of the machine that signed this read, or the refusal to answer.
    func readerProfile(_ request: Request) async throws -> Result<String, Refusal> {
        try await signedReader(request).map(\.profile)
    }

    /// The enrolled machine that signed this read (`SignedRequest`), with its profile.
    func signedReader(_ request: Request) async throws -> Result<(machine: String, profile: String), Refusal> {
        func header(_ name: String) -> String? {
            request.headers.first { $0.name.canonicalName == name.lowercased() }?.value
        }
        guard let machine = header(SignedRequest.machineHeader), let time = header(SignedRequest.timeHeader).flatMap({ Int64($0) }),
              let signature = header(SignedRequest.signatureHeader) else {
            return .failure(Refusal(status: .unauthorized, reason: "the request is not signed by an enrolled machine"))
        }
        guard let row = try await store.database.execute("SELECT public_key, profile FROM machines WHERE id = $1", [.text(machine)]).first,
              let stored = row[0].text, let profile = row[1].text, let key = try? Curve25519.Signing.PublicKey(base64: stored) else {
            return .failure(Refusal(status: .unauthorized, reason: "the signer is not an enrolled machine"))
        }
        guard SignedRequest.isValid(signature: signature, method: request.method.rawValue, target: request.uri.string, time: time, key: key) else {
            return .failure(Refusal(status: .forbidden, reason: "the signature does not match the request and the machine's key"))
        }
        guard abs(clock() - time) <= FleetAPI.freshnessSeconds else {
            return .failure(Refusal(status: .conflict, reason: "signed \(clock() - time) s ago: a replay, or a clock that is off"))
        }
        return .success((machine, profile))
    }

    /// Nil when the request carries the admin token (`Authorization: Bearer TOKEN`, or Basic
    /// with TOKEN as the password, which a browser asks for); else the refusal to send.
    func adminRefusal(_ request: Request) -> Response? {
        guard let adminTokenSHA256 else {
            return Self.body("the dashboard and the exports are off: start the service with --admin-token-file\n", type: "text/plain",
                             status: .forbidden)
        }
        let authorization = request.headers[.authorization] ?? ""
        var presented: String?
        if authorization.hasPrefix("Bearer ") {
            presented = String(authorization.dropFirst("Bearer ".count))
        } else if authorization.hasPrefix("Basic "), let decoded = Data(base64Encoded: String(authorization.dropFirst("Basic ".count))) {
            presented = String(decoding: decoded, as: UTF8.self).split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init)
        }
        if let presented, Self.constantTimeEqual(sha256Hex(presented), adminTokenSHA256) { return nil }
        var response = Self.body("the admin token is required\n", type: "text/plain", status: .unauthorized)
        response.headers[.wwwAuthenticate] = "Basic realm=\"clarity-fleet\", charset=\"UTF-8\""
        return response
    }

    /// Every stored field is a slug or an id: nothing free-form enters the store.
    static func isSafe(_ submission: Submission) -> Bool {
        let profile = submission.profile
        let fields = [submission.id, profile.release, profile.kernelSeries, profile.bootloader, profile.initramfsTool]
            + submission.outcomes.flatMap { [$0.id, $0.signature, $0.strategy, $0.day] }
        return fields.allSatisfy { SystemProfile.token($0) == $0.lowercased() && $0 == $0.lowercased() }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
