import FleetProtocol
import Foundation
import HealCore
import HealSystem

/// A rollout's package as a repair strategy, so a machine revalidates it exactly as it
/// validates its own strategies: the pipeline clones the root, runs the package's changes in
/// the clone, detects and validates there, and writes a local fix package only when the
/// clone passes (`FleetAgent.adopt`).
///
/// It refuses (unmet precondition) unless every path the package changes is, in the clone,
/// in the state the package was made for on the publishing machine.
struct FleetPackageStrategy: RepairStrategy {
    let rollout: String
    let package: FleetPackage

    var descriptor: StrategyDescriptor {
        StrategyDescriptor(
            id: FleetPackage.strategyID(rollout: rollout),
            title: "Fix package \(rollout) from the fleet (\(package.strategy) on a machine of this profile: \(package.title))",
            classes: FailureClass(rawValue: package.signature).map { [$0] } ?? [],
            risk: 2,
            sideEffects: "the \(package.changes.count) paths the package names get the contents another machine of this profile was repaired with",
            priorEffectiveness: 0.5,
            estimatedSeconds: 30)
    }

    /// Largest file whose contents are hashed (streamed) to compare with the package's `before`.
    static let compareLimit = FixPackage.fileLimit

    func unmetPrecondition(_ context: RepairContext) -> String? {
        if let problem = package.problem() { return "the package: \(problem)" }
        for change in package.changes {
            let here = Self.state(of: change.path, in: context.root)
            guard here == change.before else {
                return "\(change.path) is not what the package was made for: here \(Self.describe(here)), "
                    + "on the machine that made it \(Self.describe(change.before))"
            }
        }
        return nil
    }

    func plan(_ context: RepairContext) throws -> [RepairOperation] {
        var changeset = Changeset()
        for change in package.changes {
            switch change.kind {
            case .file:
                guard let digest = change.sha256, let bytes = package.files[digest].flatMap({ Data(base64Encoded: $0) }) else {
                    throw PlanError(strategy: descriptor.id, reason: "the contents of \(change.path) are missing")
                }
                changeset.changes[change.path] = .file(contents: Array(bytes), mode: change.mode ?? 0o644, owner: 0, group: 0)
            case .symlink:
                changeset.changes[change.path] = .symlink(target: change.target ?? "", owner: 0, group: 0)
            case .directory:
                // A folder that is here already keeps its mode: the package names the folders
                // above what it writes (overlayfs copied them up on the machine that made it),
                // and another machine's modes are not this one's to change.
                if let status = context.root.files.statusIfPresent(change.path), status.st_mode & S_IFMT == S_IFDIR { continue }
                changeset.changes[change.path] = .directory(mode: change.mode ?? 0o755, owner: 0, group: 0)
            case .removed:
                changeset.changes[change.path] = .removed
            }
        }
        return changeset.asOperations
    }

    /// What stands at `path` in `root` (the last component not followed).
    static func state(of path: String, in root: SystemRoot) -> FleetPackage.State {
        guard let status = root.files.statusIfPresent(path) else { return .init(kind: .absent) }
        switch status.st_mode & S_IFMT {
        case S_IFREG:
            // Opened without blocking and checked to be a regular file again (it may have
            // changed since the lstat), then hashed as it streams: never the whole in memory.
            let digest = try? StreamingSHA256.digest(of: root.files.open(path, limit: compareLimit, followLast: false))
            return .init(kind: .file, sha256: digest ?? "unreadable")
        case S_IFLNK:
            return .init(kind: .symlink, target: (try? root.files.linkTarget(path)) ?? nil)
        case S_IFDIR:
            return .init(kind: .directory)
        default:
            return .init(kind: .file, sha256: "not a regular file")
        }
    }

    static func describe(_ state: FleetPackage.State) -> String {
        switch state.kind {
        case .absent: "absent"
        case .directory: "a folder"
        case .symlink: "a link to \(state.target ?? "?")"
        case .file: "a file with SHA-256 \(state.sha256?.prefix(12) ?? "?")…"
        }
    }
}
