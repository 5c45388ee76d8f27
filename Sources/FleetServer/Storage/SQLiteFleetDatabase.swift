import NIOCore
import SQLiteNIO

/// The embedded default: one SQLite file, written in WAL mode with `synchronous=FULL`, so a
/// transaction the service acknowledged survives `kill -9` and power loss. One connection,
/// one statement at a time (SQLite has one writer anyway).
public final class SQLiteFleetDatabase: FleetDatabase, FleetStatements, @unchecked Sendable {
    public let engine = "sqlite"
    private let connection: SQLiteConnection
    private let gate = SerialGate()

    public static func open(path: String) async throws -> SQLiteFleetDatabase {
        let connection = try await SQLiteConnection.open(storage: .file(path: path))
        let database = SQLiteFleetDatabase(connection)
        _ = try await database.raw("PRAGMA journal_mode=WAL", [])
        _ = try await database.raw("PRAGMA synchronous=FULL", [])
        _ = try await database.raw("PRAGMA busy_timeout=5000", [])
        return database
    }

    private init(_ connection: SQLiteConnection) {
        self.connection = connection
    }

    public func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
        await gate.enter()
        do {
            let rows = try await raw(sql, binds)
            await gate.leave()
            return rows
        } catch {
            await gate.leave()
            throw error
        }
    }

    public func transaction<T: Sendable>(_ body: @Sendable (any FleetStatements) async throws -> T) async throws -> T {
        await gate.enter()
        do {
            _ = try await raw("BEGIN IMMEDIATE", [])
            let result: T
            do {
                result = try await body(Inside(database: self))
            } catch {
                _ = try? await raw("ROLLBACK", [])
                throw error
            }
            _ = try await raw("COMMIT", [])
            await gate.leave()
            return result
        } catch {
            await gate.leave()
            throw error
        }
    }

    /// Statements of a transaction in flight (the gate is held by it).
    private struct Inside: FleetStatements {
        let database: SQLiteFleetDatabase
        func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
            try await database.raw(sql, binds)
        }
    }

    public func close() async {
        try? await connection.close()
    }

    /// `$1` placeholders are written `?1` for SQLite.
    static func sqliteText(_ sql: String) -> String {
        var out = ""
        var previous: Character = " "
        for character in sql {
            out.append(character == "$" && previous != "'" ? "?" : character)
            previous = character
        }
        return out
    }

    private func raw(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
        let data: [SQLiteData] = binds.map {
            switch $0 {
            case .int(let value): .integer(Int(value))
            case .double(let value): .float(value)
            case .text(let value): .text(value)
            case .null: .null
            }
        }
        let rows = try await connection.query(Self.sqliteText(sql), data)
        return rows.map { row in
            row.columns.map { column in
                switch column.data {
                case .integer(let value): .int(Int64(value))
                case .float(let value): .double(value)
                case .text(let value): .text(value)
                case .blob(let buffer): .text(String(buffer: buffer))
                case .null: .null
                }
            }
        }
    }
}
