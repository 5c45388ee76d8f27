import Glibc
import HealCore

extension Applier {
    /// Why an apply, rollback or recovery stopped. `refused` and `backup` leave the target
    /// untouched; `io` during steps leaves a journal that the next command finishes.
    public enum Error: Swift.Error, Sendable, CustomStringConvertible {
        /// Checks before any write failed: the target is untouched.
        case refused(ApplyRefusal)
        /// The backup could not be written or did not verify: the target is untouched.
        case backup(fix: String, reason: String)
        /// A file operation failed, with errno's message.
        case io(path: String, reason: String)
        /// The named fix has no state on this root, or is not in the state asked for.
        case notApplied(fix: String, reason: String)
        /// `rollback` without a fix id, and no applied fix on this root.
        case nothingApplied(root: String)
        /// An interrupted operation could not be finished; a person must look.
        case recovery(fix: String, reason: String)
        /// The root's state folder is not clarity-heal's own (a link, another owner, writable
        /// by others): nothing was read from it or written to it.
        case untrustedState(String)

        public var description: String {
            switch self {
            case .refused(let refusal): "\(refusal)"
            case .backup(let fix, let reason): "cannot apply \(fix): no verified backup: \(reason)"
            case .io(let path, let reason): "\(path): \(reason)"
            case .notApplied(let fix, let reason): "cannot roll back \(fix): \(reason)"
            case .nothingApplied(let root): "nothing to roll back: no fix is applied on \(root)"
            case .recovery(let fix, let reason): "cannot recover the interrupted operation on \(fix): \(reason)"
            case .untrustedState(let reason): reason
            }
        }

        /// Whether the target root is certainly unchanged (exit 3, "failed safely").
        public var leftTargetUnchanged: Bool {
            switch self {
            case .refused, .backup, .notApplied, .nothingApplied, .untrustedState: true
            case .io, .recovery: false
            }
        }

        static func errno(_ path: String, _ code: Int32 = Glibc.errno) -> Error {
            .io(path: path, reason: String(cString: strerror(code)))
        }

        /// A failed file operation inside the state folder, named by its host path.
        static func file(_ error: FileError, in state: StateDirectory) -> Error {
            .io(path: state.host(error.path), reason: error.reason)
        }
    }
}
