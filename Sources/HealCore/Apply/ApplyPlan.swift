/// The steps that put a fix on a root, computed in pure code from the manifest and checked
/// before anything is written: every path normalised, inside the root, named once.
///
/// Order: folders first (parents before children), then files and links, then removals
/// (deepest first), the order `Changeset.asOperations` replays in a clone. Each step is
/// idempotent, so recovery may redo any of them.
public struct ApplyPlan: Sendable, Hashable, Codable {
    public struct Step: Sendable, Hashable, Codable, CustomStringConvertible {
        public enum Action: String, Sendable, Hashable, Codable {
            case makeDirectory = "mkdir", writeFile = "write", makeSymlink = "link", remove
        }

        public var index: Int
        public var action: Action
        /// The path as the examined system sees it, every link on the way followed inside the
        /// root: the one place the step writes (`/lib/modules/…` on merged /usr becomes
        /// `/usr/lib/modules/…`).
        public var path: String
        /// The path as the manifest names it.
        public var manifestPath: String
        public var mode: UInt32?
        public var owner: UInt32?
        public var group: UInt32?
        /// SHA-256 of the new contents, for `writeFile`.
        public var sha256: String?
        public var size: Int?
        /// The link target, for `makeSymlink`.
        public var target: String?

        public var description: String {
            switch action {
            case .makeDirectory: "mkdir \(path)"
            case .writeFile: "write \(path) (\(size ?? 0) bytes)"
            case .makeSymlink: "link \(path) -> \(target ?? "")"
            case .remove: "remove \(path)"
            }
        }
    }

    public var fixID: String
    public var steps: [Step]

    /// The plan for `manifest`.
    /// - Parameter resolve: maps a checked manifest path to the path inside the root with the
    ///   links of its parents checked; throws `ApplyRefusal.passesThroughLink` or
    ///   `.parentNotDirectory`. The identity for a plan that does not look at a root.
    /// - Throws: `ApplyRefusal` for a bad fix id, a bad or repeated path, a file without
    ///   contents or a link without a target.
    public static func make(_ manifest: FixManifest,
                            resolve: (String) throws(ApplyRefusal) -> String = { $0 }) throws(ApplyRefusal) -> ApplyPlan {
        let fix = manifest.id
        guard PackagePath.isUsableFixID(fix) else { throw .invalidFixID(fix) }
        var seenManifest: Set<String> = [], seenResolved: Set<String> = []
        var folders: [Step] = [], writes: [Step] = [], removals: [Step] = []
        for change in manifest.changes {
            if let problem = PackagePath.problem(change.path) {
                throw .invalidPath(fix: fix, path: change.path, reason: problem)
            }
            guard seenManifest.insert(change.path).inserted else { throw .duplicatePath(fix: fix, path: change.path) }
            let resolved = try resolve(change.path)
            guard seenResolved.insert(resolved).inserted else { throw .duplicatePath(fix: fix, path: resolved) }
            var step = Step(index: 0, action: .remove, path: resolved, manifestPath: change.path,
                            mode: change.mode, owner: change.owner, group: change.group)
            switch change.kind {
            case .directory:
                step.action = .makeDirectory
                step.mode = (change.mode ?? 0o755) & 0o7777
                folders.append(step)
            case .file:
                guard let digest = change.sha256, digest.utf8.count == 64 else {
                    throw .incomplete(fix: fix, path: change.path, reason: "is a file without a checksum of its contents")
                }
                step.action = .writeFile
                step.sha256 = digest
                step.size = change.size
                step.mode = (change.mode ?? 0o644) & 0o7777
                writes.append(step)
            case .symlink:
                guard let target = change.target, !target.isEmpty, !target.utf8.contains(0) else {
                    throw .incomplete(fix: fix, path: change.path, reason: "is a link without a target")
                }
                step.action = .makeSymlink
                step.target = target
                writes.append(step)
            case .removed:
                removals.append(step)
            }
        }
        // A path below a link the package makes would be written through that link, which
        // can point anywhere, the host's folders included.
        let links = writes.filter { $0.action == .makeSymlink }
        for step in folders + writes + removals {
            if let link = links.first(where: { step.path.hasPrefix($0.path + "/") }) {
                throw .passesThroughLink(fix: fix, path: step.manifestPath, link: link.path, target: link.target ?? "")
            }
        }
        folders.sort { $0.path < $1.path }
        writes.sort { $0.path < $1.path }
        removals.sort { $0.path > $1.path }
        var steps = folders + writes + removals
        for index in steps.indices { steps[index].index = index }
        return ApplyPlan(fixID: fix, steps: steps)
    }

    public init(fixID: String, steps: [Step]) {
        self.fixID = fixID
        self.steps = steps
    }

    /// Every path the plan writes or removes, in step order.
    public var paths: [String] { steps.map(\.path) }

    /// Paths the backup must hold: everything but folders the fix only (re)creates.
    public var replacedPaths: [String] { steps.map(\.path) }
}
