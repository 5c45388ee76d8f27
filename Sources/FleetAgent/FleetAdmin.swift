import AsyncHTTPClient
import FleetProtocol
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// An administrator's side of the service (`clarity-fleet rollout …`): the admin token,
/// not a machine's key. Lists the rollouts and approves or stops one.
public struct FleetAdmin: Sendable {
    public let server: String
    let token: String

    public init(server: String, token: String) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
    }

    func request(_ method: HTTPMethod, _ path: String) async throws -> (UInt, Data) {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: FleetAgent.timeout)
            return (response.status.code, Data(buffer: try await response.body.collect(upTo: 64 << 20)))
        } catch {
            throw FleetAgent.Failure.unreachable("\(error)")
        }
    }

    /// Every rollout, as the service's export lists it.
    public func rollouts() async throws -> [RolloutStanding] {
        struct Export: Decodable { var rollouts: [RolloutStanding] }
        let (status, data) = try await request(.GET, "/v1/export.json")
        guard status == 200, let export = try? JSONDecoder().decode(Export.self, from: data) else {
            throw FleetAgent.Failure.refused(status: status, reason: String(decoding: data.prefix(200), as: UTF8.self))
        }
        return export.rollouts
    }

    /// Approves or stops a rollout (`approve`, `stop`); the rollout as it stands afterwards.
    public func decide(_ decision: String, rollout: String) async throws -> RolloutStanding {
        guard SystemProfile.token(rollout) == rollout else { throw FleetAgent.Failure.refused(status: 0, reason: "\(rollout) is not a rollout id") }
        let (status, data) = try await request(.POST, "/v1/rollouts/\(rollout)/\(decision)")
        guard status == 200, let standing = try? JSONDecoder().decode(RolloutStanding.self, from: data) else {
            throw FleetAgent.Failure.refused(status: status, reason: FleetAgent.reason(data))
        }
        return standing
    }
}
