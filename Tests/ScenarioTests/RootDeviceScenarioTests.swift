import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("root device scenarios on the real test root", .serialized)
struct RootDeviceScenarioTests {
    @Test("root=UUID=<nonexistent> in grub.cfg while root.img holds the root", arguments: [
        "UUID=00000000-1111-2222-3333-444444444444", "LABEL=no-such-label", "PARTUUID=deadbeef-01",
        "/dev/disk/by-uuid/00000000-1111-2222-3333-444444444444",
    ])
    func grubCfgRootNamesNothing(spec: String) throws {
        let copy = try TestRoot.writableCopy()
        let cfg = try BootScenario.original("/boot/grub/grub.cfg")
            .replacing("root=UUID=\(BootScenario.uuid)", with: "root=\(spec)")
        try BootScenario.write(copy, "/boot/grub/grub.cfg", cfg)
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.rootDeviceMismatch])
        let finding = try #require(findings.first)
        #expect(finding.summary == "root=\(spec) names no block device, but the root filesystem is on \(TestRoot.image)")
        #expect(finding.evidence[0].source == "/boot/grub/grub.cfg:32")
        #expect(finding.evidence[1].detail.contains("UUID=\(BootScenario.uuid) LABEL=clarity-root"))
    }

    @Test("root= in GRUB_CMDLINE_LINUX naming nothing")
    func defaultGrubRootNamesNothing() throws {
        let copy = try TestRoot.writableCopy()
        try BootScenario.write(copy, "/etc/default/grub", try BootScenario.original("/etc/default/grub")
            .replacing("GRUB_CMDLINE_LINUX=\"console=ttyS0\"", with: "GRUB_CMDLINE_LINUX=\"console=ttyS0 root=LABEL=old-root\""))
        let findings = try BootScenario.detect(copy.path)
        #expect(BootScenario.classes(findings) == [.rootDeviceMismatch])
        #expect(findings.first?.evidence.first == Evidence(source: "/etc/default/grub",
                                                          detail: "line 6: GRUB_CMDLINE_LINUX=\"console=ttyS0 root=LABEL=old-root\""))
    }

    @Test("root= by LABEL and by image path resolve: no finding", arguments: ["LABEL=clarity-root", "PLACEHOLDER"])
    func otherFormsResolve(spec: String) throws {
        let copy = try TestRoot.writableCopy()
        let value = spec == "PLACEHOLDER" ? TestRoot.image : spec
        let cfg = try BootScenario.original("/boot/grub/grub.cfg")
            .replacing("root=UUID=\(BootScenario.uuid)", with: "root=\(value)")
        try BootScenario.write(copy, "/boot/grub/grub.cfg", cfg)
        let context = DetectionContext(root: try SystemRoot(copy.path), extraDevices: [TestRoot.image])
        #expect(try RootDeviceDetector().detect(context) == [])
    }

    @Test("without the root's disk the root device is simply not here: nothing reported")
    func noRootFilesystemVisible() throws {
        let copy = try TestRoot.writableCopy()
        let cfg = try BootScenario.original("/boot/grub/grub.cfg")
            .replacing("root=UUID=\(BootScenario.uuid)", with: "root=UUID=00000000-1111-2222-3333-444444444444")
        try BootScenario.write(copy, "/boot/grub/grub.cfg", cfg)
        let context = DetectionContext(root: try SystemRoot(copy.path), extraDevices: [])
        #expect(try RootDeviceDetector().detect(context) == [])
    }
}
