import AsyncHTTPClient
import Crypto
import FleetProtocol
import Foundation
import HealCore
import HealSystem
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The machine's side of the fleet (docs/fleet.md), run on the running system by
/// `clarity-fleet enroll|submit|pull` (a systemd timer, and after every `heal`):
///
/// ```
///  <root>/var/lib/clarity-heal/
///  ├── fleet/enrollment.json   server, machine id, salt, the fleet's public key
///  ├── fleet/key               the machine's Ed25519 private key, 0600
///  ├── fleet/cursor            the last ledger record queued
///  ├── outbox/<id>.json        batches not yet acknowledged (unsigned: signed when sent)
///  └── insights.json           the fleet's insights, as verified with the fleet key
/// ```
///
/// Everything lives in clarity-heal's own state folder (`StateDirectory`: trusted only when
/// root-owned and reached without a link).
public struct FleetAgent: Sendable {
    public let root: SystemRoot
    public let logger: Logger
    public let clock: @Sendable () -> Int64
    /// `[Fleet] Server=` of the config: when set, the service to talk to instead of the one
    /// enrolled with (a service that moved keeps its keys and its machines).
    public var server: String?

    public init(root: SystemRoot, logger: Logger, server: String? = nil,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.root = root
        self.logger = logger
        self.server = server.flatMap { $0.isEmpty ? nil : ($0.hasSuffix("/") ? String($0.dropLast()) : $0) }
        self.clock = clock
    }

    public struct Enrollment: Sendable, Codable, Equatable {
        public var server: String
        public var machine: String
        public var salt: String
        public var fleetKey: String
        public var machineHash: String
    }

    public enum Failure: Error, CustomStringConvertible {
        case notEnrolled
        case refused(status: UInt, reason: String)
        case unreachable(String)
        case state(String)
        /// A fix that may not leave this machine as a fleet package.
        case notPublishable(String)

        public var description: String {
            switch self {
            case .notEnrolled: "this machine is not enrolled: run clarity-fleet enroll --server URL --token-file FILE"
            case .refused(let status, let reason): "the service refused (HTTP \(status)): \(reason)"
            case .unreachable(let why): "the service cannot be reached: \(why)"
            case .state(let why): "the state folder: \(why)"
            case .notPublishable(let why): why
            }
        }
    }

    static let timeout = TimeAmount.seconds(15)

    func state() throws -> StateDirectory {
        do { return try StateDirectory.make(root) } catch { throw Failure.state("\(error)") }
    }

    func write(_ path: String, _ bytes: Data, mode: UInt32 = 0o644) throws {
        let files = try state().files
        do {
            try files.makeDirectories((path as NSString).deletingLastPathComponent, mode: 0o700)
            try files.replaceFile(path, bytes: Array(bytes), mode: mode)
        } catch {
            throw Failure.state("cannot write \(StateDirectory.path)\(path): \(error)")
        }
    }

    func read(_ path: String, limit: Int = 1 << 20) throws -> Data? {
        do {
            return try state().files.readIfPresent(path, limit: limit, links: .refuse).map { Data($0) }
        } catch {
            throw Failure.state("cannot read \(StateDirectory.path)\(path): \(error)")
        }
    }

    public func enrollment() throws -> (Enrollment, Curve25519.Signing.PrivateKey) {
        guard var enrollment = try read("/fleet/enrollment.json").flatMap({ try? JSONDecoder().decode(Enrollment.self, from: $0) }),
              let keyText = try read("/fleet/key"), let raw = Data(base64Encoded: keyText),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else { throw Failure.notEnrolled }
        if let server { enrollment.server = server }
        return (enrollment, key)
    }

    // MARK: HTTP

    func http(_ method: HTTPMethod, _ url: String, body: Data? = nil, limit: Int = 8 << 20,
              headers: [(String, String)] = []) async throws -> (UInt, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: Self.timeout)
            let bytes = try await response.body.collect(upTo: limit)
            return (response.status.code, Data(buffer: bytes))
        } catch {
            throw Failure.unreachable("\(error)")
        }
    }

    /// A GET of `target` (path and query) signed by this machine (`SignedRequest`).
    func signedGet(_ target: String, _ enrollment: Enrollment, _ key: Curve25519.Signing.PrivateKey,
                   limit: Int = 8 << 20) async throws -> (UInt, Data) {
        let headers = try SignedRequest.headers(method: "GET", target: target, machine: enrollment.machine, time: clock(), key: key)
        return try await http(.GET, enrollment.server + target, limit: limit, headers: headers)
    }

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    static func reason(_ data: Data) -> String {
        (try? JSONDecoder().decode(SubmissionResponse.self, from: data))?.reason ?? String(decoding: data.prefix(200), as: UTF8.self)
    }

    // MARK: enroll

    /// Enrolls with `server`: fetches the fleet's salt and key, makes this machine's key,
    /// and sends its public half with the token and the salted hash of its machine-id.
    public func enroll(server: String, token: String) async throws -> Enrollment {
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        let (status, data) = try await http(.GET, base + "/v1/fleet")
        guard status == 200, let info = try? JSONDecoder().decode(FleetInfo.self, from: data) else {
            throw Failure.refused(status: status, reason: Self.reason(data))
        }
        let machineID = (try? root.files.text("/etc/machine-id", limit: 4096)) ?? ""
        guard !machineID.isEmpty else { throw Failure.state("/etc/machine-id is missing: it names the machine in the fleet (hashed)") }
        let hash = Anonymizer.machineHash(machineID: machineID, salt: info.salt)
        let key = Curve25519.Signing.PrivateKey()
        let request = EnrollRequest(token: token, publicKey: key.publicKey.base64, machineHash: hash, profile: SystemProfile.read(root))
        let (enrolled, answer) = try await http(.POST, base + "/v1/enroll", body: try Self.encode(request))
        guard enrolled == 201, let response = try? JSONDecoder().decode(EnrollResponse.self, from: answer) else {
            throw Failure.refused(status: enrolled, reason: Self.reason(answer))
        }
        let enrollment = Enrollment(server: base, machine: response.machine, salt: info.salt, fleetKey: info.fleetKey, machineHash: hash)
        try write("/fleet/key", Data(key.rawRepresentation.base64EncodedString().utf8), mode: 0o600)
        try write("/fleet/enrollment.json", try Self.encode(enrollment))
        return enrollment
    }

    // MARK: submit

    struct Batch: Codable {
        var id: String
        var profile: SystemProfile
        var outcomes: [Outcome]
    }

    /// Puts the ledger's records since the last call into the outbox, as one batch. The batch
    /// is written durably before the cursor moves: a crash between the two queues the same
    /// outcomes again, and their ids keep the service from storing them twice.
    /// - Returns: how many outcomes were queued.
    public func queue() throws -> Int {
        let (enrollment, _) = try enrollment()
        let cursor = try read("/fleet/cursor").flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
        let records: [LedgerRecord]
        do { records = try Ledger(root: root).records().records } catch { throw Failure.state("the ledger: \(error)") }
        let last = records.last?.seq ?? cursor
        var outcomes = Anonymizer.outcomes(records, machineHash: enrollment.machineHash, afterSeq: cursor)
        guard last > cursor else { return 0 }
        var queued = 0
        while !outcomes.isEmpty {
            let chunk = Array(outcomes.prefix(Submission.maximumOutcomes))
            outcomes.removeFirst(chunk.count)
            let batch = Batch(id: UUID().uuidString.lowercased(), profile: SystemProfile.read(root), outcomes: chunk)
            try write("/outbox/\(batch.id).json", try Self.encode(batch), mode: 0o600)
            queued += chunk.count
        }
        try write("/fleet/cursor", Data("\(last)".utf8))
        return queued
    }

    public struct SendReport: Sendable, Codable, Equatable {
        public var sent = 0
        public var duplicates = 0
        public var kept = 0
        public var refused: [String] = []
        public var outcomes = 0
    }

    /// Sends every batch of the outbox, each signed now. A batch the service stored (or had
    /// stored) leaves the outbox; one that could not be sent stays for the next run; one the
    /// service refused moves to `outbox/refused/` so it neither blocks nor disappears.
    public func send() async throws -> SendReport {
        let (enrollment, key) = try enrollment()
        var report = SendReport()
        let files = try state().files
        let names = files.entriesIfPresent("/outbox").filter { $0.hasSuffix(".json") }.sorted()
        for name in names {
            guard let data = try read("/outbox/" + name, limit: Submission.maximumBytes),
                  let batch = try? JSONDecoder().decode(Batch.self, from: data) else { continue }
            let submission = Submission(id: batch.id, machine: enrollment.machine, sent: clock(), profile: batch.profile, outcomes: batch.outcomes)
            let envelope = try SignedEnvelope.sign(submission, signer: enrollment.machine, key: key)
            let status: UInt, answer: Data
            do {
                (status, answer) = try await http(.POST, enrollment.server + "/v1/submissions", body: try Self.encode(envelope))
            } catch {
                // Unreachable: the rest would wait as long; all of it stays for the next run.
                logger.notice("the service cannot be reached; the outbox is kept", metadata: ["batches": "\(names.count - report.sent - report.duplicates - report.refused.count)", "reason": "\(error)"])
                report.kept = names.count - report.sent - report.duplicates - report.refused.count
                break
            }
            switch status {
            case 201, 200:
                let response = try? JSONDecoder().decode(SubmissionResponse.self, from: answer)
                if response?.status == "duplicate" { report.duplicates += 1 } else { report.sent += 1 }
                report.outcomes += response?.outcomes ?? 0
                try? files.remove("/outbox/" + name)
            case 500...:
                report.kept += 1
            default:
                report.refused.append("\(batch.id): HTTP \(status): \(Self.reason(answer))")
                try? files.makeDirectories("/outbox/refused", mode: 0o700)
                try? files.rename("/outbox/" + name, to: "/outbox/refused/" + name)
            }
        }
        return report
    }

    // MARK: pull

    /// Fetches the insights for this machine's profile that pass `settings`, checks the
    /// fleet's signature, and stores them where ranking reads them.
    /// - Returns: the insights stored.
    public func pull(settings: FleetSettings) async throws -> [FleetInsight] {
        let (enrollment, key) = try enrollment()
        let (status, data) = try await signedGet("/v1/insights?minConfidence=\(settings.minConfidence)&maxAgeDays=\(settings.maxAgeDays)",
                                                 enrollment, key)
        guard status == 200, let envelope = try? JSONDecoder().decode(SignedEnvelope.self, from: data) else {
            throw Failure.refused(status: status, reason: Self.reason(data))
        }
        let fleetKey: Curve25519.Signing.PublicKey
        do { fleetKey = try Curve25519.Signing.PublicKey(base64: enrollment.fleetKey) } catch { throw Failure.state("the stored fleet key: \(error)") }
        let body: Data
        do { body = try envelope.verifiedBody(key: fleetKey, limit: FleetInsights.maximumBytes) } catch {
            throw Failure.refused(status: status, reason: "the insights are not signed by the fleet's key: \(error)")
        }
        guard let insights = try? JSONDecoder().decode(FleetInsights.self, from: body) else {
            throw Failure.refused(status: status, reason: "the insights do not decode")
        }
        try write(FleetInsights.relativePath.replacingOccurrences(of: StateDirectory.path, with: ""), body)
        return insights.insights
    }
}
