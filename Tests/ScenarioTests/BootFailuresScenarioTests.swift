import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("boot counter scenarios on the real test root", .serialized)
struct BootFailuresScenarioTests {
    @Test("clarity_heal_attempts: failures = N, or N-1 during the counted boot", arguments: [
        (2, false, 1, 2), (2, true, 1, 1), (1, true, 1, nil), (1, false, 1, 1),
        (0, false, 1, nil), (2, false, 3, nil), (3, false, 3, 3),
    ] as [(Int, Bool, Int, Int?)])
    func grubenvCounter(attempts: Int, countsCurrentBoot: Bool, threshold: Int, failures: Int?) throws {
        let copy = try TestRoot.writableCopy()
        try BootScenario.editenv(copy, ["set", "clarity_heal_attempts=\(attempts)"])
        var thresholds = Thresholds()
        thresholds.bootFailures = threshold
        let findings = try BootScenario.detect(copy.path, countsCurrentBoot: countsCurrentBoot, thresholds: thresholds)
        guard let failures else {
            #expect(findings == [])
            return
        }
        #expect(BootScenario.classes(findings) == [.bootFailures])
        let finding = try #require(findings.first)
        #expect(finding.summary.hasPrefix("\(failures) failed boot attempt"))
        #expect(finding.evidence.first?.source == "/boot/grub/grubenv")
        #expect(finding.evidence.first?.detail.hasPrefix("clarity_heal_attempts=\(attempts)") == true)
        #expect(finding.severity == .critical)
    }

    @Test("a counter that is not a number is ignored, not a crash")
    func unreadableCounter() throws {
        let copy = try TestRoot.writableCopy()
        try BootScenario.editenv(copy, ["set", "clarity_heal_attempts=lots"])
        #expect(try BootScenario.detect(copy.path) == [])
    }

    @Test("BLS +LEFT-DONE counters", arguments: [
        ("+0-3", false, "is bad: all 3 tries failed"),
        ("+2-1", false, "1 failed boot attempt, 2 left"),
        ("+2-1", true, nil),
        ("+1-2", true, "1 failed boot attempt, 1 left"),
        ("+3", false, nil),
        ("", false, nil),
    ] as [(String, Bool, String?)])
    func loaderEntryCounters(counter: String, countsCurrentBoot: Bool, summary: String?) throws {
        let copy = try TestRoot.writableCopy()
        let name = "/boot/loader/entries/debian-\(BootScenario.kernel)\(counter).conf"
        try BootScenario.write(copy, name, """
            title Debian GNU/Linux
            version \(BootScenario.kernel)
            linux /boot/vmlinuz-\(BootScenario.kernel)
            initrd /boot/initrd.img-\(BootScenario.kernel)
            options root=UUID=\(BootScenario.uuid) ro

            """)
        let findings = try BootScenario.detect(copy.path, countsCurrentBoot: countsCurrentBoot)
        guard let summary else {
            #expect(findings == [])
            return
        }
        #expect(BootScenario.classes(findings) == [.bootFailures])
        #expect(findings.first?.summary.contains(summary) == true)
        #expect(findings.first?.evidence.first?.source == name)
    }

    @Test("Fedora's scheme: boot_counter=-1 with boot_success=0 means it fell back")
    func fedoraFallback() throws {
        let copy = try TestRoot.writableCopy()
        try BootScenario.editenv(copy, ["set", "boot_success=0", "boot_counter=2"])
        #expect(try BootScenario.detect(copy.path) == [])
        try BootScenario.editenv(copy, ["set", "boot_counter=-1"])
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.bootFailures])
        #expect(findings.first?.evidence.first?.detail == "boot_counter=-1 boot_success=0")
        // Marked good by userspace afterwards: no longer a failure.
        try BootScenario.editenv(copy, ["set", "boot_success=1"])
        #expect(try BootScenario.detect(copy.path) == [])
    }

    @Test("the boot counter detector is quick")
    func quick() {
        #expect(BootFailuresDetector().isQuick)
        #expect(BootFailuresDetector.failures(attempts: "4", countsCurrentBoot: true) == 3)
        #expect(BootFailuresDetector.failures(attempts: "0", countsCurrentBoot: true) == 0)
        #expect(BootFailuresDetector.failures(attempts: "-2", countsCurrentBoot: false) == nil)
    }
}
