import AsyncHTTPClient
import Crypto
import FleetProtocol
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The project's own load generator for the fleet service (`clarity-fleet load`, used by
/// scripts/bench and the crash test): synthetic machines enroll and send signed submissions
/// over loopback with a fixed concurrency; it reports throughput and latency percentiles.
///
/// Everything is derived from `seed`: the machines' keys and hashes, the submissions' ids and
/// their outcomes' ids. Running it again with the same seed sends the same submissions, so
/// after a crash of the service a second run shows what was stored: nothing twice, and
/// nothing that was acknowledged missing.
public struct FleetLoad: Sendable {
    public var server: String
    public var token: String
    public var machines = 20
    public var submissions = 1000
    public var outcomesPerSubmission = 5
    public var concurrency = 8
    public var seed = "load"
    /// GET /v1/insights requests timed after the submissions.
    public var insightQueries = 0

    public init(server: String, token: String) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
    }

    public struct Report: Sendable, Codable {
        public var submissions = 0
        public var stored = 0
        public var duplicates = 0
        public var refused = 0
        /// Requests that got no answer (connection refused or reset: the service is down).
        public var unanswered = 0
        public var seconds = 0.0
        public var perSecond = 0.0
        public var p50Milliseconds = 0.0
        public var p99Milliseconds = 0.0
        public var insightQueries = 0
        public var insightP50Milliseconds = 0.0
        public var insightP99Milliseconds = 0.0
        /// Ids the service acknowledged (stored or duplicate).
        public var acknowledged: [String] = []
    }

    struct Machine: Sendable {
        var id: String
        var key: Curve25519.Signing.PrivateKey
    }

    static let profile = SystemProfile(release: "debian-12", kernelSeries: "6.1", bootloader: "grub", initramfsTool: "initramfs-tools")
    static let signatures = ["fstab-unresolvable-source", "initramfs-corrupt", "kernel-panic", "root-device-mismatch", "init-missing"]
    static let strategies = ["strategy-a", "strategy-b", "strategy-c", "strategy-d"]

    func post(_ path: String, _ body: Data) async -> (UInt, Data)? {
        var request = HTTPClientRequest(url: server + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)),
              let bytes = try? await response.body.collect(upTo: 1 << 20) else { return nil }
        return (response.status.code, Data(buffer: bytes))
    }

    /// A GET signed by `machine`, as an agent signs its reads.
    func get(_ path: String, as machine: Machine) async -> UInt? {
        var request = HTTPClientRequest(url: server + path)
        let time = Int64(Date().timeIntervalSince1970)
        for (name, value) in (try? SignedRequest.headers(method: "GET", target: path, machine: machine.id, time: time, key: machine.key)) ?? [] {
            request.headers.add(name: name, value: value)
        }
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(30)),
              (try? await response.body.collect(upTo: 8 << 20)) != nil else { return nil }
        return response.status.code
    }

    func enrollAll(salt: String) async throws -> [Machine] {
        var enrolled: [Machine] = []
        for index in 0..<machines {
            let secret = SHA256.hash(data: Data("\(seed) machine \(index)".utf8))
            let key = try Curve25519.Signing.PrivateKey(rawRepresentation: Data(secret))
            let hash = Anonymizer.machineHash(machineID: "\(seed)-\(index)", salt: salt)
            let request = EnrollRequest(token: token, publicKey: key.publicKey.base64, machineHash: hash, profile: Self.profile)
            guard let (status, data) = await post("/v1/enroll", try FleetAgent.encode(request)), status == 201,
                  let answer = try? JSONDecoder().decode(EnrollResponse.self, from: data) else {
                throw FleetAgent.Failure.unreachable("enrolling load machine \(index) failed")
            }
            enrolled.append(Machine(id: answer.machine, key: key))
        }
        return enrolled
    }

    func submission(_ index: Int, machine: Machine) -> Submission {
        let outcomes = (0..<outcomesPerSubmission).map { n in
            let mix = index &* 31 &+ n &* 7
            return Outcome(id: String(sha256Hex("\(seed) \(index) \(n)").prefix(32)),
                           signature: Self.signatures[mix % Self.signatures.count], strategy: Self.strategies[(mix / 5) % Self.strategies.count],
                           result: Outcome.Result.allCases[(mix / 3) % Outcome.Result.allCases.count], day: Self.day(index))
        }
        return Submission(id: "\(seed)-\(index)", machine: machine.id, sent: Int64(Date().timeIntervalSince1970),
                          profile: Self.profile, outcomes: outcomes)
    }

    /// The outcomes spread over the four weeks before now.
    static func day(_ index: Int) -> String {
        Anonymizer.day(Int(Date().timeIntervalSince1970) - (index % 28) * 86_400)
    }

    public func run() async throws -> Report {
        let info: FleetInfo
        do {
            let (data, _) = try await URLSessionless.fetch(server + "/v1/fleet")
            info = try JSONDecoder().decode(FleetInfo.self, from: data)
        }
        let enrolled = try await enrollAll(salt: info.salt)
        var report = Report()
        var latencies: [Double] = []
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: (String, UInt?, String?, Double).self) { group in
            var next = 0
            func launch() throws {
                let index = next
                next += 1
                let machine = enrolled[index % enrolled.count]
                let envelope = try SignedEnvelope.sign(submission(index, machine: machine), signer: machine.id, key: machine.key)
                let body = try FleetAgent.encode(envelope)
                group.addTask {
                    let start = ContinuousClock.now
                    let answer = await post("/v1/submissions", body)
                    let elapsed = ContinuousClock.now - start
                    let status = answer.flatMap { try? JSONDecoder().decode(SubmissionResponse.self, from: $0.1) }?.status
                    return ("\(seed)-\(index)", answer?.0, status,
                            Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                }
            }
            while next < min(concurrency, submissions) { try launch() }
            for try await (id, code, status, milliseconds) in group {
                report.submissions += 1
                switch (code, status) {
                case (nil, _): report.unanswered += 1
                case (_, "stored"?): report.stored += 1; report.acknowledged.append(id); latencies.append(milliseconds)
                case (_, "duplicate"?): report.duplicates += 1; report.acknowledged.append(id); latencies.append(milliseconds)
                default: report.refused += 1
                }
                // A service that stopped answering is down: the requests still to go would
                // each wait for their deadline (the client's pool retries to connect). They
                // are counted as unanswered, not sent.
                if code == nil, next < submissions {
                    report.unanswered += submissions - next
                    report.submissions += submissions - next
                    next = submissions
                }
                if next < submissions { try launch() }
            }
        }
        let elapsed = ContinuousClock.now - started
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        report.perSecond = report.seconds > 0 ? Double(report.stored + report.duplicates) / report.seconds : 0
        (report.p50Milliseconds, report.p99Milliseconds) = Self.percentiles(latencies)
        if insightQueries > 0 {
            var times: [Double] = []
            for query in 0..<insightQueries {
                let start = ContinuousClock.now
                _ = await get("/v1/insights?minConfidence=0&maxAgeDays=3650", as: enrolled[query % enrolled.count])
                let elapsed = ContinuousClock.now - start
                times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
            }
            report.insightQueries = insightQueries
            (report.insightP50Milliseconds, report.insightP99Milliseconds) = Self.percentiles(times)
        }
        return report
    }

    static func percentiles(_ values: [Double]) -> (Double, Double) {
        guard !values.isEmpty else { return (0, 0) }
        let sorted = values.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
        return (at(0.5), at(0.99))
    }
}

/// One GET with AsyncHTTPClient, its body and status.
enum URLSessionless {
    static func fetch(_ url: String) async throws -> (Data, UInt) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        return (Data(buffer: try await response.body.collect(upTo: 1 << 20)), response.status.code)
    }
}
