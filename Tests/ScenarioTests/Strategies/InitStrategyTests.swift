import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// init-missing repaired from the root's own package cache: systemd-sysv's /sbin/init link,
/// systemd's binary, libc6's loader link, each taken from the cached .deb of the installed
/// version and checked against dpkg's md5sums.
@Suite("InitStrategies", .serialized, .timeLimit(.minutes(5)))
struct InitStrategyTests {
    struct Break: Sendable, CustomTestStringConvertible {
        var name: String
        var breakRoot: @Sendable (OverlayCopy) throws -> Void
        /// What the plan must do, in order.
        var operations: [String]
        var changed: Set<String>
        var testDescription: String { name }
    }

    static let breaks: [Break] = [
        Break(name: "init not executable",
              breakRoot: { copy in _ = try Tool.run("/bin/chmod", ["a-x", copy.at("/lib/systemd/systemd")]) },
              operations: ["chmod 755 /usr/lib/systemd/systemd"],
              changed: ["/usr/lib/systemd/systemd"]),
        Break(name: "init deleted",
              breakRoot: { copy in try FileManager.default.removeItem(atPath: copy.at("/lib/systemd/systemd")) },
              operations: ["write /usr/lib/systemd/systemd"],
              changed: ["/usr/lib/systemd/systemd"]),
        Break(name: "/sbin/init link deleted",
              breakRoot: { copy in try FileManager.default.removeItem(atPath: copy.at("/sbin/init")) },
              operations: ["link /usr/sbin/init -> /lib/systemd/systemd"],
              changed: ["/usr/sbin/init"]),
        Break(name: "init's ELF interpreter link deleted",
              breakRoot: { copy in try FileManager.default.removeItem(atPath: copy.at("/lib64/ld-linux-x86-64.so.2")) },
              operations: ["link /usr/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"],
              changed: ["/usr/lib64/ld-linux-x86-64.so.2"]),
        Break(name: "link and binary both deleted",
              breakRoot: { copy in
                  try FileManager.default.removeItem(atPath: copy.at("/sbin/init"))
                  try FileManager.default.removeItem(atPath: copy.at("/lib/systemd/systemd"))
              },
              operations: ["link /usr/sbin/init -> /lib/systemd/systemd", "write /usr/lib/systemd/systemd"],
              changed: ["/usr/sbin/init", "/usr/lib/systemd/systemd"]),
    ]

    @Test(arguments: breaks)
    func restoredFromThePackageCache(_ scenario: Break) throws {
        let repair = try KernelRepairCase(breakRoot: scenario.breakRoot)
        let finding = try repair.finding(.initMissing)
        let outcome = try repair.repair(InitRestoreStrategy(), finding)
        #expect(outcome.operations.count == scenario.operations.count)
        for (operation, expected) in zip(outcome.operations, scenario.operations) {
            #expect(operation.description.hasPrefix(expected), "\(operation)")
        }
        KernelRepairCase.expectRepaired(outcome)
        #expect(Set(outcome.changes.modifiedPaths) == scenario.changed)
        // Byte for byte what the package installed: dpkg's md5sums agree.
        let systemd = repair.environment.root.host("/usr/lib/systemd/systemd")
        let md5 = try Tool.run("/usr/bin/md5sum", [systemd]).stdout.prefix(32)
        let recorded = try String(contentsOfFile: repair.environment.root.host("/var/lib/dpkg/info/systemd.md5sums"), encoding: .utf8)
        #expect(recorded.contains("\(md5)  usr/lib/systemd/systemd") || recorded.contains("\(md5)  lib/systemd/systemd"))
        #expect(FileManager.default.isExecutableFile(atPath: systemd))
    }

    @Test func withoutThePackageCacheTheStrategyRefuses() throws {
        let repair = try KernelRepairCase { copy in
            try FileManager.default.removeItem(atPath: copy.at("/lib/systemd/systemd"))
            let archives = copy.at("/var/cache/apt/archives")
            for name in try FileManager.default.contentsOfDirectory(atPath: archives) where name.hasSuffix(".deb") {
                try FileManager.default.removeItem(atPath: archives + "/" + name)
            }
        }
        let finding = try repair.finding(.initMissing)
        #expect(InitRestoreStrategy().unmetPrecondition(repair.context(finding))
                == "the package cache /var/cache/apt/archives holds no .deb")
    }

    @Test func anotherVersionInTheCacheIsNotUsed() throws {
        // The cached systemd .deb renamed to another version: the installed one is missing.
        let repair = try KernelRepairCase { copy in
            try FileManager.default.removeItem(atPath: copy.at("/lib/systemd/systemd"))
            let archives = copy.at("/var/cache/apt/archives")
            let deb = try #require(try FileManager.default.contentsOfDirectory(atPath: archives).first { $0.hasPrefix("systemd_") })
            try FileManager.default.moveItem(atPath: archives + "/" + deb, toPath: archives + "/systemd_251.0-1_amd64.deb")
        }
        let finding = try repair.finding(.initMissing)
        #expect(InitRestoreStrategy().unmetPrecondition(repair.context(finding)) == nil)
        let error = try #require(throws: PlanError.self) { try InitRestoreStrategy().plan(repair.context(finding)) }
        #expect(error.reason.hasPrefix("the package cache /var/cache/apt/archives has no .deb of systemd 252"), "\(error.reason)")
    }
}
