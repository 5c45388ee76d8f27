import HealCore

/// An isolated clone of the examined system where repairs are tried (docs/architecture.md).
///
/// The repair engine sees only this protocol, so the overlay sandbox, the copy fallback and
/// the microVM are interchangeable. The real root is never written through it.
public protocol Environment: AnyObject {
    /// What kind of isolation this is, for reports.
    var kind: EnvironmentKind { get }
    /// The clone as this process can read it, for detectors and validation.
    var root: SystemRoot { get }

    /// Freezes the clone's current state; later changes go to a new layer.
    func snapshot() throws(EnvironmentError) -> Snapshot
    /// Drops every change made after `snapshot`.
    func restore(_ snapshot: Snapshot) throws(EnvironmentError)
    /// What changed since `snapshot`, read from the layers above it.
    func changes(since snapshot: Snapshot) throws(EnvironmentError) -> Changeset
    /// Runs a program inside the clone: chrooted, with its own /proc, a read-only /sys, a
    /// minimal /dev (no disks), no network, its own PID and UTS namespaces.
    func run(_ arguments: [String]) throws(EnvironmentError) -> CommandResult
    /// Unmounts and removes everything the environment made. Safe to call twice.
    func tearDown()
}

public enum EnvironmentKind: String, Sendable, Codable {
    case overlay, copy, microvm
}

/// A point in an environment's history that `restore` can go back to.
public struct Snapshot: Sendable, Hashable, Codable {
    /// The number of frozen layers at the time of the snapshot.
    public let layer: Int

    public init(layer: Int) { self.layer = layer }

    /// The clone as it was made, before any change.
    public static let pristine = Snapshot(layer: 0)
}

public enum EnvironmentError: Error, Equatable, CustomStringConvertible {
    case setup(String)
    case mount(target: String, reason: String)
    case unmount(target: String, reason: String)
    case io(path: String, reason: String)
    case command(String)
    case unknownSnapshot(Int)

    public var description: String {
        switch self {
        case .setup(let why): "cannot set up the environment: \(why)"
        case .mount(let target, let reason): "cannot mount \(target): \(reason)"
        case .unmount(let target, let reason): "cannot unmount \(target): \(reason)"
        case .io(let path, let reason): "cannot use \(path): \(reason)"
        case .command(let why): "cannot run in the environment: \(why)"
        case .unknownSnapshot(let layer): "no snapshot at layer \(layer)"
        }
    }
}
