import Glibc
import HealCore
import Logging

/// `clarity-heal boot`: in the initramfs, before the root is used, applies every fix
/// staged for the next boot with the same code as `apply --now` (`Applier.apply`: checks,
/// verified backup, journal), oldest first, then marks the boot as after a repair.
///
/// ```
///  <root>/var/lib/clarity-heal/
///  ├── staged/<fix-id>/      Applier.stage put it here; removed once applied
///  ├── applied/<fix-id>/     Applier.apply keeps the package copy and the backup here
///  ├── refused/<fix-id>/     a staged fix apply refused (nothing written); kept for a person
///  └── verify-pending        VerifyFlag for the last fix applied
/// ```
public struct StagedBoot {
    public struct Applied: Sendable, Codable, Hashable {
        public var fix: String
        public var failureClass: FailureClass
        public var strategy: String
        public var backup: String
        public var backupSHA256: String
        public var rebootPaths: [String]
    }

    public struct Refused: Sendable, Codable, Hashable {
        public var fix: String
        public var reason: String
        /// Whether the root is certainly unchanged by the failed apply.
        public var leftRootUnchanged: Bool
    }

    public struct Result: Sendable, Codable {
        public var root: String
        /// Fixes applied, in order.
        public var applied: [Applied]
        public var refused: [Refused]
        /// An interrupted apply or rollback the run finished first.
        public var recovered: RecoveryReport?
        /// The verify flag written for the next verification, when a fix was applied.
        public var verifyPending: VerifyFlag?
        /// True when an applied fix changed what this boot already loaded (kernel, initrd,
        /// boot loader under /boot): the initramfs should reboot at once for it to count.
        public var rebootNow: Bool
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        case recovery(String)
        case state(String)

        public var description: String {
            switch self {
            case .recovery(let reason): "cannot finish the interrupted operation first: \(reason)"
            case .state(let reason): reason
            }
        }
    }

    public var root: SystemRoot
    public var ledger: Ledger
    public var clock: any Clock
    public var logger: Logger

    public init(root: SystemRoot, clock: any Clock = SystemClock(), logger: Logger = Logger(label: "clarity-heal.boot")) {
        self.root = root
        self.clock = clock
        self.logger = logger
        ledger = Ledger(root: root, logger: logger, clock: clock)
    }

    /// The staged fix ids, oldest first (ids start with their UTC creation time).
    public func stagedFixes() -> [String] {
        guard let state = try? StateDirectory.open(root) else { return [] }
        return state.files.entriesIfPresent(ApplyLayout.staged)
            .filter { PackagePath.isUsableFixID($0) }
            .sorted()
    }

    public func run() throws(StagedBoot.Error) -> Result {
        let applier = Applier(root: root, clock: clock)
        let recovered: RecoveryReport?
        do {
            recovered = try applier.recover()
        } catch {
            throw .recovery(error.description)
        }
        if let recovered {
            record(.init(kind: .bootApply, fix: recovered.fixID, class: nil, outcome: recovered.action == .rolledForward
                            ? .recovered : .undone,
                         detail: ["operation": recovered.operation.rawValue]))
        }
        var result = Result(root: root.path, applied: [], refused: [], recovered: recovered, verifyPending: nil, rebootNow: false)
        let state: StateDirectory
        do {
            guard let existing = try StateDirectory.open(root) else { return result }
            state = existing
        } catch {
            throw .state(error.description)
        }
        for id in stagedFixes() {
            let directory = ApplyLayout.staged(id)
            let package: FixPackage
            do {
                package = try FixPackage.open(state.files.subdirectory(directory, links: .refuse))
            } catch {
                try refuse(id, reason: "\(error)", unchanged: true, into: &result, state: state)
                continue
            }
            let manifest = package.manifest
            let applied: ApplyResult
            do {
                applied = try applier.apply(package)
            } catch {
                // Whether the root changed is read from what is left on it: an I/O failure
                // before `begin` left no journal past `prepare`, so nothing was touched.
                let unchanged = error.leftTargetUnchanged || [nil, .discard, .remove].contains(applier.pendingRecovery()?.action)
                try refuse(id, reason: error.description, unchanged: unchanged, into: &result,
                           failureClass: manifest.failureClass, strategy: manifest.strategy.id, state: state)
                continue
            }
            // The Applier recorded the apply; the record below says the initramfs did it.
            // applied/<id>/ holds the verified package copy now: the staged one goes.
            do {
                try state.files.remove(directory)
            } catch {
                throw .state("cannot remove the applied staged fix \(state.host(directory)): \(error)")
            }
            record(.init(kind: .bootApply, fix: id, failure: manifest.failureClass, strategy: manifest.strategy.id,
                         outcome: .applied,
                         detail: ["by": "initramfs", "backup": applied.backup, "backupSHA256": applied.backupSHA256,
                                  "paths": applied.changes.map(\.path).joined(separator: " ")]))
            logger.notice("applied staged fix", metadata: ["fix": "\(id)"])
            let loaded = applied.changes.map(\.path).filter { $0.hasPrefix("/boot/") }
            result.rebootNow = result.rebootNow || !loaded.isEmpty
            result.applied.append(Applied(fix: id, failureClass: manifest.failureClass, strategy: manifest.strategy.id,
                                          backup: applied.backup, backupSHA256: applied.backupSHA256,
                                          rebootPaths: applied.reboot.paths))
        }
        if let last = result.applied.last {
            let attempt = Verification.failedStrategies(of: last.failureClass, in: records()).count + 1
            let flag = VerifyFlag(fix: last.fix, failureClass: last.failureClass, strategy: last.strategy,
                                  attempt: attempt, since: clock.now())
            do {
                try flag.write(root: root)
            } catch {
                throw .state(error.description)
            }
            result.verifyPending = flag
        }
        return result
    }

    private func refuse(_ id: String, reason: String, unchanged: Bool, into result: inout Result,
                        failureClass: FailureClass? = nil, strategy: String? = nil,
                        state: StateDirectory) throws(StagedBoot.Error) {
        logger.error("staged fix not applied", metadata: ["fix": "\(id)", "reason": "\(reason)"])
        record(.init(kind: .bootApply, fix: id, failure: failureClass, strategy: strategy,
                     outcome: unchanged ? .refused : .failed,
                     detail: ["reason": reason]))
        result.refused.append(Refused(fix: id, reason: reason, leftRootUnchanged: unchanged))
        // Out of staged/, so the next boot does not try it again; kept for a person.
        do {
            try state.files.makeDirectories(ApplyLayout.refused)
            try state.files.removeTree(ApplyLayout.refused + "/" + id)
            try state.files.rename(ApplyLayout.staged(id), to: ApplyLayout.refused + "/" + id)
        } catch {
            throw .state("cannot set aside the refused fix \(id): \(error)")
        }
    }

    private func record(_ record: LedgerRecord) {
        do {
            _ = try ledger.append(record)
        } catch {
            // The record is lost, the repair is not: the apply engine's folders still tell.
            logger.error("cannot write the ledger", metadata: ["error": "\(error)"])
        }
    }

    private func records() -> [LedgerRecord] {
        (try? ledger.records().records) ?? []
    }
}
