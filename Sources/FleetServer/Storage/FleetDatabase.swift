/// A value bound to or read from a statement: the four kinds the fleet's schema uses.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int64)
    case double(Double)
    case text(String)
    case null

    public var int: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value): Int64(value)
        case .text(let value): Int64(value)
        case .null: nil
        }
    }

    public var text: String? {
        switch self {
        case .text(let value): value
        case .int(let value): "\(value)"
        case .double(let value): "\(value)"
        case .null: nil
        }
    }

    public var description: String { text ?? "NULL" }
}

/// What the fleet's store needs of a database engine: statements with `$1`-style
/// placeholders, rows as values, and transactions. SQLite (embedded, the default for one
/// site) and PostgreSQL (a fleet) implement it; every statement of the store is written once,
/// in the SQL both accept.
public protocol FleetDatabase: Sendable {
    /// `sqlite` or `postgresql`, for messages.
    var engine: String { get }
    func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]]
    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func transaction<T: Sendable>(_ body: @Sendable (any FleetStatements) async throws -> T) async throws -> T
    func close() async
}

/// Statements inside a transaction.
public protocol FleetStatements: Sendable {
    func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]]
}

/// Runs one body at a time, in the order they asked (an actor alone would let a second
/// transaction start while the first awaits its statements).
actor SerialGate {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
    }

    func leave() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}
