import Foundation
import Logging
import PostgresNIO

/// A fleet's store on PostgreSQL (postgres-nio's pooled client). Each request's statements
/// run on a pooled connection; a submission is one transaction.
public final class PostgresFleetDatabase: FleetDatabase, @unchecked Sendable {
    public let engine = "postgresql"
    private let client: PostgresClient
    private let running: Task<Void, Never>
    private let logger: Logger

    /// `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or with `?host=/run/postgresql`
    /// (a folder) for the server's Unix socket.
    public init(url: String, logger: Logger) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let user = components.user, !user.isEmpty else {
            throw FleetServiceError.configuration("expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, got \(url)")
        }
        let database = String(components.path.dropFirst())
        let socketFolder = components.queryItems?.first { $0.name == "host" }?.value
        let configuration: PostgresClient.Configuration
        if let socketFolder, socketFolder.hasPrefix("/") {
            let port = components.port ?? 5432
            configuration = .init(unixSocketPath: "\(socketFolder)/.s.PGSQL.\(port)", username: user, password: components.password,
                                  database: database.isEmpty ? nil : database)
        } else {
            configuration = .init(host: components.host ?? "127.0.0.1", port: components.port ?? 5432, username: user,
                                  password: components.password, database: database.isEmpty ? nil : database, tls: .disable)
        }
        let client = PostgresClient(configuration: configuration)
        self.client = client
        self.logger = logger
        running = Task { await client.run() }
    }

    public func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
        try await Self.rows(client.query(Self.query(sql, binds), logger: logger))
    }

    public func transaction<T: Sendable>(_ body: @Sendable (any FleetStatements) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            try await body(Inside(connection: connection, logger: logger))
        }
    }

    public func close() async {
        running.cancel()
    }

    private struct Inside: FleetStatements {
        let connection: PostgresConnection
        let logger: Logger
        func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
            try await PostgresFleetDatabase.rows(connection.query(PostgresFleetDatabase.query(sql, binds), logger: logger))
        }
    }

    static func query(_ sql: String, _ binds: [SQLValue]) throws -> PostgresQuery {
        var bindings = PostgresBindings()
        for bind in binds {
            switch bind {
            case .int(let value): bindings.append(value)
            case .double(let value): bindings.append(value)
            case .text(let value): bindings.append(value)
            case .null: bindings.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    static func rows(_ sequence: PostgresRowSequence) async throws -> [[SQLValue]] {
        var rows: [[SQLValue]] = []
        for try await row in sequence {
            rows.append(try row.map { cell -> SQLValue in
                guard cell.bytes != nil else { return .null }
                switch cell.dataType {
                case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
                case .float4, .float8: return .double(try cell.decode(Double.self))
                case .numeric: return .double(Double(try cell.decode(String.self)) ?? 0)
                default: return .text(try cell.decode(String.self))
                }
            })
        }
        return rows
    }
}

public enum FleetServiceError: Error, CustomStringConvertible {
    case configuration(String)
    public var description: String {
        switch self {
        case .configuration(let text): text
        }
    }
}
