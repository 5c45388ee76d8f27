import Crypto
import FoundationEssentials
import HealCore

/// A fix that held on one machine, made portable for others of the same profile (issue 12,
/// fix packages across similar machines; docs/fleet.md, "Rollouts").
///
/// It holds only what the fix changes: each path with its new state and the state the fix
/// found there on the machine that made it (`before`), and the new contents. Nothing else of
/// the local fix package travels: no findings, evidence, diagnosis, console or fix id.
///
/// A machine adopts a package only when every path it changes is, on this machine, in the
/// state the package was made for (same contents, same link, or absent alike): a file that
/// differs here (an fstab naming other disks) is not what the package was validated against.
/// Then it revalidates the package on its own clone before anything is applied.
public struct FleetPackage: Sendable, Hashable, Codable {
    /// What stood at a path: as apply's backup index records it (its kinds and values).
    public struct State: Sendable, Hashable, Codable {
        public typealias Kind = BackupIndex.Entry.Kind
        public var kind: Kind
        /// SHA-256 of the contents, for files.
        public var sha256: String?
        public var target: String?

        public init(kind: Kind, sha256: String? = nil, target: String? = nil) {
            self.kind = kind
            self.sha256 = sha256
            self.target = target
        }
    }

    public struct Change: Sendable, Hashable, Codable {
        public var path: String
        /// `file`, `symlink`, `directory` or `removed` (`FixManifest.Change.Kind`).
        public var kind: FixManifest.Change.Kind
        public var mode: UInt32?
        /// SHA-256 of the new contents (a key of `files`), for files.
        public var sha256: String?
        public var target: String?
        /// What stood at the path before the fix, on the machine that made it.
        public var before: State

        public init(path: String, kind: FixManifest.Change.Kind, mode: UInt32? = nil, sha256: String? = nil,
                    target: String? = nil, before: State) {
            self.path = path
            self.kind = kind
            self.mode = mode
            self.sha256 = sha256
            self.target = target
            self.before = before
        }
    }

    public static let currentFormat = 1
    /// Largest package body accepted anywhere (base64 of the contents included).
    public static let maximumBytes = 24 << 20
    public static let maximumChanges = 256

    public var format: Int
    /// The failure class slug the fix repaired.
    public var signature: String
    /// The strategy that made the fix on the publishing machine.
    public var strategy: String
    public var title: String
    public var profile: SystemProfile
    public var needsReboot: Bool
    public var changes: [Change]
    /// The new contents, base64, by SHA-256.
    public var files: [String: String]

    public init(signature: String, strategy: String, title: String, profile: SystemProfile, needsReboot: Bool,
                changes: [Change], files: [String: String]) {
        self.format = Self.currentFormat
        self.signature = signature
        self.strategy = strategy
        self.title = title
        self.profile = profile
        self.needsReboot = needsReboot
        self.changes = changes
        self.files = files
    }

    /// What is wrong with the package, or nil: checked by the service before it signs it and
    /// by a machine before it plans from it. Paths are absolute, normalized and outside
    /// clarity-heal's state; every file change names contents present and matching their
    /// digest; nothing is carried that no change names.
    public func problem() -> String? {
        guard format == Self.currentFormat else { return "package format \(format) is not \(Self.currentFormat)" }
        guard SystemProfile.token(signature) == signature, SystemProfile.token(strategy) == strategy else {
            return "the signature or strategy is not a slug"
        }
        guard !changes.isEmpty, changes.count <= Self.maximumChanges else { return "it changes nothing, or more than \(Self.maximumChanges) paths" }
        var named: Set<String> = []
        for change in changes {
            guard Self.isSafePath(change.path) else { return "unsafe path \(change.path.debugDescription)" }
            if let mode = change.mode, mode & ~0o7777 != 0 { return "mode of \(change.path) is not a permission mode" }
            switch change.kind {
            case .file:
                guard let digest = change.sha256, let text = files[digest], let bytes = Data(base64Encoded: text),
                      SHA256.hash(data: bytes).hex == digest else {
                    return "the contents of \(change.path) are missing or do not match their SHA-256"
                }
                named.insert(digest)
            case .symlink:
                guard let target = change.target, !target.isEmpty, target.utf8.count < 4096, !target.contains("\0") else {
                    return "the link \(change.path) has no target"
                }
            case .directory, .removed:
                break
            }
        }
        guard Set(files.keys) == named else { return "it carries contents no change names" }
        return nil
    }

    /// Absolute, no `.`/`..`/empty component, no NUL, not inside clarity-heal's own state.
    public static func isSafePath(_ path: String) -> Bool {
        guard path.hasPrefix("/"), path.utf8.count < 4096, !path.contains("\0") else { return false }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return false }
        return !(path == "/var/lib/clarity-heal" || path.hasPrefix("/var/lib/clarity-heal/"))
    }

    /// The rollout id the service gives a package: the same package published twice is one
    /// rollout.
    public static func rolloutID(body: Data) -> String {
        "r" + String(SHA256.hash(data: body).hex.prefix(16))
    }

    /// The strategy id a machine records for a fix it made from rollout `id`: its outcomes
    /// reach the service like every other strategy's, and the service counts them against
    /// the rollout.
    public static func strategyID(rollout id: String) -> String { "fleet-" + id }

    /// The rollout a strategy id names, when it names one.
    public static func rollout(ofStrategy strategy: String) -> String? {
        strategy.hasPrefix("fleet-r") ? String(strategy.dropFirst("fleet-".count)) : nil
    }
}

/// What a machine sends to publish a fix: signed by its key like a submission.
public struct Publication: Sendable, Hashable, Codable, MachineSigned {
    public var machine: String
    /// Seconds since the epoch when it was signed (a replay is refused as for submissions).
    public var sent: Int64
    public var package: FleetPackage

    public init(machine: String, sent: Int64, package: FleetPackage) {
        self.machine = machine
        self.sent = sent
        self.package = package
    }
}

/// What the service answers to a publication.
public struct PublicationResponse: Sendable, Hashable, Codable {
    /// `published`, `duplicate` or `refused`.
    public var status: String
    public var rollout: String?
    public var reason: String?

    public init(status: String, rollout: String? = nil, reason: String? = nil) {
        self.status = status
        self.rollout = rollout
        self.reason = reason
    }
}

/// A rollout's package as the service hands it out: the body the fleet key signs. The
/// rollout id is inside the signed bytes, so a package cannot be passed off as another
/// rollout's.
public struct RolloutPackage: Sendable, Hashable, Codable {
    public var rollout: String
    public var published: Int64
    public var package: FleetPackage

    public init(rollout: String, published: Int64, package: FleetPackage) {
        self.rollout = rollout
        self.published = published
        self.package = package
    }
}

/// A rollout's standing: how its fixes fared on the machines that applied them.
public struct RolloutStanding: Sendable, Hashable, Codable {
    public var rollout: String
    public var signature: String
    public var strategy: String
    public var profile: String
    public var published: Int64
    /// When an administrator approved it: before that it is pending and offered to no one.
    public var approved: Int64?
    /// Fixes made from the package that were verified good after their reboot.
    public var verified: Int
    /// Fixes made from it that failed: on a machine's clone or after apply.
    public var failed: Int
    /// When the rollout stopped (its failure rate passed the threshold), else nil.
    public var stopped: Int64?
    public var stopReason: String?

    public init(rollout: String, signature: String, strategy: String, profile: String, published: Int64,
                approved: Int64? = nil, verified: Int = 0, failed: Int = 0, stopped: Int64? = nil, stopReason: String? = nil) {
        self.rollout = rollout
        self.signature = signature
        self.strategy = strategy
        self.profile = profile
        self.published = published
        self.approved = approved
        self.verified = verified
        self.failed = failed
        self.stopped = stopped
        self.stopReason = stopReason
    }

    public var failureRate: Double { verified + failed == 0 ? 0 : Double(failed) / Double(verified + failed) }

    /// `pending` (waiting for an administrator), `offered` or `stopped`.
    public var state: String { stopped != nil ? "stopped" : approved == nil ? "pending" : "offered" }
}

/// When a rollout stops by itself: once at least `minimumOutcomes` fixes made from it came
/// to an outcome and more than `maximumFailureRate` of them failed.
public struct RolloutPolicy: Sendable, Hashable, Codable {
    public var maximumFailureRate: Double
    public var minimumOutcomes: Int

    public init(maximumFailureRate: Double = 0.25, minimumOutcomes: Int = 3) {
        self.maximumFailureRate = maximumFailureRate
        self.minimumOutcomes = minimumOutcomes
    }

    /// Why a rollout with these outcomes must stop, or nil.
    public func stopReason(verified: Int, failed: Int) -> String? {
        let outcomes = verified + failed
        guard outcomes >= minimumOutcomes, Double(failed) > maximumFailureRate * Double(outcomes) else { return nil }
        return "\(failed) of \(outcomes) fixes made from it failed, more than the \(Int((maximumFailureRate * 100).rounded())) % allowed"
    }
}

/// The rollouts offered to a machine (those of its profile that have not stopped): the body
/// the fleet key signs.
public struct RolloutOffers: Sendable, Hashable, Codable {
    public var received: Int64
    public var offers: [RolloutStanding]

    public init(received: Int64, offers: [RolloutStanding]) {
        self.received = received
        self.offers = offers
    }

    public static let maximumBytes = 4 << 20
}

extension Digest {
    /// Lower-case hex of the digest.
    public var hex: String { map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
}
