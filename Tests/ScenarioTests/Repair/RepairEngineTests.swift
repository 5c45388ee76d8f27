import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The engine on a really broken copy of the Debian root, with two strategies whose
/// outcome is known: the first makes things worse and must be rolled back, the second
/// repairs with GRUB's own tool. Runs unchanged on both environments.
@Suite(.serialized)
struct RepairEngineTests {
    /// Appends a line to fstab: "repairs" nothing and breaks fstab.
    struct WorseningStrategy: RepairStrategy {
        let descriptor = StrategyDescriptor(id: "test-worsening", title: "append to fstab", classes: [.bootloaderEnvCorrupt],
                                            risk: 1, sideEffects: "breaks fstab", priorEffectiveness: 0.99, estimatedSeconds: 1)
        func unmetPrecondition(_ context: RepairContext) -> String? { nil }
        func plan(_ context: RepairContext) throws -> [RepairOperation] {
            let fstab = try FileReading.bytes(atPath: context.root.host("/etc/fstab"))
            return [.writeFile(path: "/etc/fstab", contents: fstab + Array("LABEL=nowhere /srv ext4 defaults 0 2\n".utf8), mode: 0o644)]
        }
    }

    /// Recreates grubenv with grub-editenv inside the clone.
    struct RecreateGrubEnv: RepairStrategy {
        let descriptor = StrategyDescriptor(id: "test-recreate-grubenv", title: "grub-editenv create", classes: [.bootloaderEnvCorrupt],
                                            risk: 2, sideEffects: "drops saved variables", priorEffectiveness: 0.5, estimatedSeconds: 1)
        func unmetPrecondition(_ context: RepairContext) -> String? { nil }
        func plan(_ context: RepairContext) throws -> [RepairOperation] {
            [.removeFile(path: "/boot/grub/grubenv"),
             .runTool(arguments: ["/usr/bin/grub-editenv", "/boot/grub/grubenv", "create"], mayChange: ["/boot/grub/grubenv"])]
        }
    }

    /// Never applicable here.
    struct Inapplicable: RepairStrategy {
        let descriptor = StrategyDescriptor(id: "test-inapplicable", title: "needs a second kernel", classes: [.bootloaderEnvCorrupt],
                                            risk: 0, sideEffects: "none", priorEffectiveness: 1, estimatedSeconds: 1)
        func unmetPrecondition(_ context: RepairContext) -> String? { "only one kernel is installed" }
        func plan(_ context: RepairContext) throws -> [RepairOperation] { [] }
    }

    enum Kind: String, CaseIterable, Sendable { case overlay, copy }

    static func hashTree(_ path: String) throws -> String {
        // Regular files by content, links by target (never followed: /dev/stdin is one).
        try Tool.run("/bin/sh", ["-c", "cd \"$1\" && { find . -xdev -type f -print0 | sort -z | xargs -0 sha256sum; find . -xdev -type l -printf '%p -> %l\\n' | sort; } | sha256sum", "hash", path]).stdout
    }

    @Test(arguments: Kind.allCases)
    func firstRankedFailsIsRolledBackAndTheNextWins(_ kind: Kind) throws {
        let broken = try TestRoot.writableCopy()
        _ = try Tool.run("/usr/bin/truncate", ["-s", "300", broken.path + "/boot/grub/grubenv"])
        let before = try Self.hashTree(broken.path)
        let scratch = try TemporaryDirectory(prefix: "engine")
        let root = try SystemRoot(broken.path)
        let environment: any Environment = switch kind {
        case .overlay: try OverlayEnvironment(lower: root, scratch: scratch.path + "/env")
        case .copy: try CopyEnvironment(source: root, scratch: scratch.path + "/env")
        }
        defer { environment.tearDown() }
        let detection = DetectionContext(root: root, extraDevices: [TestRoot.image])
        let finding = try #require(DetectionEngine().run(detection).findings.first)
        #expect(finding.failureClass == .bootloaderEnvCorrupt)

        let engine = RepairEngine(candidates: { _ in
            let strategies: [any RepairStrategy] = [WorseningStrategy(), RecreateGrubEnv(), Inapplicable()]
            let order = StrategyRanking.rank(strategies.map(\.descriptor)).map(\.id)
            return order.compactMap { id in strategies.first { $0.descriptor.id == id } }
        })
        let outcome = engine.repair(finding, in: environment, detection: detection)

        #expect(outcome.attempts.map(\.strategy) == ["test-inapplicable", "test-worsening", "test-recreate-grubenv"])
        #expect(outcome.attempts.map(\.validated) == [false, false, true])
        #expect(outcome.attempts[0].notes == ["precondition not met: only one kernel is installed"])
        let worse = outcome.attempts[1].notes.joined(separator: "\n")
        #expect(worse.contains("validation failed: resolved"))
        #expect(worse.contains("validation failed: no-regressions: new: fstab-unresolvable-source"))
        #expect(worse.contains("clone restored"))

        let repair = try #require(outcome.repair)
        #expect(repair.strategy.id == "test-recreate-grubenv")
        #expect(repair.changes.modifiedPaths == ["/boot/grub/grubenv"], "the rolled-back fstab edit must not be in the changeset")
        #expect(repair.validation.checks.first { $0.name == "boot" }?.verdict == .notRun)
        let clonedFstab = try String(contentsOfFile: environment.root.path + "/etc/fstab", encoding: .utf8)
        #expect(!clonedFstab.contains("nowhere"))

        // The changeset applied to another broken copy repairs it.
        let second = try TestRoot.writableCopy()
        _ = try Tool.run("/usr/bin/truncate", ["-s", "300", second.path + "/boot/grub/grubenv"])
        let applyScratch = try TemporaryDirectory(prefix: "apply")
        let target = try OverlayEnvironment(lower: SystemRoot(second.path), scratch: applyScratch.path + "/env")
        defer { target.tearDown() }
        #expect(target.execute(repair.changes.asOperations).allSatisfy { $0.succeeded })
        let after = DetectionEngine().run(DetectionContext(root: target.root, extraDevices: [TestRoot.image]))
        #expect(after.findings.isEmpty, "\(after.findings)")
        let list = try Tool.run("/usr/bin/grub-editenv", [target.root.path + "/boot/grub/grubenv", "list"])
        #expect(list.status == 0)

        environment.tearDown()
        #expect(try Self.hashTree(broken.path) == before, "the examined root was written")
    }
}
