import Foundation
import HealCore
@testable import HealSystem
import Testing
import TestSupport

@Suite struct KernelPanicDetectorTests {
    func detect(_ root: TemporaryDirectory, threshold: Int = 1) throws -> [Finding] {
        var thresholds = Thresholds()
        thresholds.kernelPanics = threshold
        return try KernelPanicDetector().detect(DetectionContext(root: try SystemRoot(root.path), thresholds: thresholds))
    }

    @Test func isQuickAndReportsKernelPanic() {
        #expect(KernelPanicDetector().isQuick)
        #expect(KernelPanicDetector().classes == [.kernelPanic])
    }

    @Test func oneFindingPerDistinctCrashNewestFirst() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try PstoreFixtures.place("panic-sysrq", in: root, at: "sys/fs/pstore/dmesg-ramoops-0", secondsAgo: 7200)
        try PstoreFixtures.place("oops-module", in: root, at: "sys/fs/pstore/dmesg-ramoops-1", secondsAgo: 60)
        let findings = try detect(root)
        #expect(findings.map(\.summary) == [
            "kernel Oops in module clarity_oops: BUG: kernel NULL pointer dereference, address: 0000000000000000 on kernel 6.1.0-50-cloud-amd64",
            "kernel panic: sysrq triggered crash on kernel 6.1.0-50-cloud-amd64",
        ])
        #expect(findings.allSatisfy { $0.failureClass == .kernelPanic && $0.severity == .critical })
        let evidence = try #require(findings.first?.evidence)
        #expect(evidence.first?.source == "/sys/fs/pstore/dmesg-ramoops-1")
        #expect(evidence.first?.detail.hasPrefix("live record, written ") == true)
        #expect(evidence.contains(Evidence(source: "/sys/fs/pstore/dmesg-ramoops-1",
                                           detail: "RIP: 0010:clarity_oops_init+0x11/0x1000 [clarity_oops]")))
        #expect(evidence.contains(Evidence(source: "/sys/fs/pstore/dmesg-ramoops-1",
                                           detail: "Modules linked in: clarity_oops(OE+) ramoops reed_solomon")))
    }

    @Test func theSameCrashTwiceIsOneFindingWithBothRecords() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try PstoreFixtures.place("oops-module", in: root, at: "var/lib/systemd/pstore/dmesg-ramoops-0", secondsAgo: 86400)
        let again = String(decoding: try PstoreFixtures.bytes("oops-module"), as: UTF8.self)
            .replacingOccurrences(of: "PID: 87 ", with: "PID: 90 ")
        let path = try root.write("sys/fs/pstore/dmesg-ramoops-0", again)
        try PstoreFixtures.setModified(path, secondsAgo: 5)
        let findings = try detect(root)
        #expect(findings.count == 1)
        #expect(findings.first?.summary.hasSuffix("on kernel 6.1.0-50-cloud-amd64, 2 times") == true)
        #expect(findings.first?.evidence.prefix(2).map(\.source) == ["/sys/fs/pstore/dmesg-ramoops-0",
                                                                     "/var/lib/systemd/pstore/dmesg-ramoops-0"])
    }

    @Test(arguments: [(1, 2), (2, 2), (3, 0)])
    func threshold(_ threshold: Int, _ expectedFindings: Int) throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try PstoreFixtures.place("vfs-no-root", in: root, at: "sys/fs/pstore/dmesg-ramoops-0")
        try PstoreFixtures.place("init-exit", in: root, at: "sys/fs/pstore/dmesg-ramoops-1")
        #expect(try detect(root, threshold: threshold).count == expectedFindings)
    }

    @Test func hintedClassesAreNamedInTheSummary() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try PstoreFixtures.place("vfs-no-root", in: root, at: "sys/fs/pstore/dmesg-ramoops-0")
        #expect(try detect(root).map(\.summary) == [
            "kernel panic: VFS: Unable to mount root fs on unknown-block(0,0) on kernel 6.1.0-50-cloud-amd64 "
                + "(the text points to root-device-mismatch)",
        ])
    }

    @Test func unusableRecordsAreNotesNeverCrashes() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try root.write("sys/fs/pstore/dmesg-ramoops-5", Data([0x00, 0xff, 0x13, 0x37, 0x0a, 0x41]))
        try root.write("sys/fs/pstore/dmesg-efi-177249561401001.enc.z", Data([0x78, 0x9c, 0x03, 0x00]))
        try root.write("sys/fs/pstore/dmesg-ramoops-6", "")
        // Without a crash record, unusable ones alone are no finding.
        #expect(try detect(root) == [])

        try PstoreFixtures.place("no-working-init", in: root, at: "sys/fs/pstore/dmesg-ramoops-0")
        let findings = try detect(root)
        #expect(findings.count == 1)
        #expect(findings.first?.summary.contains("No working init found") == true)
        let notes = findings.first?.evidence.filter { $0.detail.hasPrefix("skipped: ") } ?? []
        #expect(Set(notes.map(\.source)) == ["/sys/fs/pstore/dmesg-ramoops-5", "/sys/fs/pstore/dmesg-ramoops-6",
                                             "/sys/fs/pstore/dmesg-efi-177249561401001.enc.z"])
        #expect(notes.contains(Evidence(source: "/sys/fs/pstore/dmesg-ramoops-6",
                                        detail: "skipped: not a kernel log record: it is empty")))
        #expect(notes.contains(Evidence(source: "/sys/fs/pstore/dmesg-efi-177249561401001.enc.z",
                                        detail: "skipped: compressed record (4 bytes) that cannot be inflated: the deflate stream ends early")))
    }

    @Test func shutdownDumpsAndOlderPartsAreNotCrashes() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try root.write("sys/fs/pstore/dmesg-ramoops-0", "Shutdown#1 Part1\n<6>[   10.0] reboot: Restarting system\n")
        try root.write("sys/fs/pstore/dmesg-ramoops-1", "Panic#1 Part2\n<6>[    1.0] Linux version 6.1.0-50-cloud-amd64\n")
        #expect(try detect(root) == [])
    }

    @Test func readingGroupsForTheRepairPlanner() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        try PstoreFixtures.place("oops-module", in: root, at: "sys/fs/pstore/dmesg-ramoops-0")
        let reading = KernelPanicDetector.read(PstoreArchive(root: try SystemRoot(root.path)))
        #expect(reading.crashRecordCount == 1)
        #expect(reading.crashes.first?.signature.faultingModule == "clarity_oops")
        #expect(reading.crashes.first?.signature.kernelVersion == "6.1.0-50-cloud-amd64")
        #expect(reading.crashes.first?.records.map(\.path) == ["/sys/fs/pstore/dmesg-ramoops-0"])
    }

    /// More records than are read: the newest crash is found, and one note says how many
    /// older records were left unread.
    @Test func recordsBeyondTheLimitAreNotedNotRead() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        let panic = try PstoreFixtures.bytes("panic-sysrq")
        let count = PstoreArchive.examinedRecordLimit + 50
        for index in 0..<count - 1 {
            let path = try root.write("var/lib/systemd/pstore/dmesg-ramoops-\(index)", panic + Data("record \(index)\n".utf8))
            try PstoreFixtures.setModified(path, secondsAgo: Double(10_000 - index))
        }
        try PstoreFixtures.place("oops-module", in: root, at: "sys/fs/pstore/dmesg-ramoops-0", secondsAgo: 1)
        let findings = try detect(root)
        #expect(findings.map { String($0.summary.prefix(29)) } == ["kernel Oops in module clarity", "kernel panic: sysrq triggered"])
        #expect(findings.last?.summary.hasSuffix(", \(PstoreArchive.examinedRecordLimit - 1) times") == true)
        #expect(findings.first?.evidence.last == Evidence(
            source: "pstore", detail: "skipped: 50 older kernel log records not examined: only the newest \(PstoreArchive.examinedRecordLimit) are read"))
    }

    @Test func aCompressedRecordIsACrashLikeAnyOther() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: PstoreFixtures.folder + "/compressed-oops/dmesg-ramoops-0.enc.z"))
        try root.write("sys/fs/pstore/dmesg-efi-177249561401001.enc.z", bytes)
        let crash = try #require(KernelPanicDetector.read(PstoreArchive(root: try SystemRoot(root.path))).crashes.first)
        #expect(crash.signature.faultingModule == "clarity_oops")
        #expect(crash.records.map(\.path) == ["/sys/fs/pstore/dmesg-efi-177249561401001.enc.z"])
    }

    /// The real oops record cut into three EFI parts, as efi-pstore stores a dump: Part1 the
    /// newest lines. Alone, no part names the module and the kernel; joined they do.
    @Test func thePartsOfOneDumpAreJoinedHighestPartFirst() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        let lines = String(decoding: try PstoreFixtures.bytes("oops-module"), as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
        let cpu = try #require(lines.firstIndex { $0.contains("CPU: 0 PID: 87") })
        let rip = try #require(lines.firstIndex { $0.contains("RIP: 0010:") })
        let chunks = [lines[rip...], lines[(cpu + 1)..<rip], lines[..<(cpu + 1)]]  // Part1 newest
        for (index, chunk) in chunks.enumerated() {
            let part = index + 1
            try root.write("sys/fs/pstore/dmesg-efi-17724956140\(part)001", "Oops#1 Part\(part)\n" + chunk.joined(separator: "\n"))
        }
        // Another dump of the same boot (other time): never joined with these.
        try root.write("sys/fs/pstore/dmesg-efi-177249570001001", "Panic#1 Part1\n<0>[ 9.0] Kernel panic - not syncing: sysrq triggered crash\n")
        let reading = KernelPanicDetector.read(PstoreArchive(root: try SystemRoot(root.path)))
        let oops = try #require(reading.crashes.first { $0.signature.kind == .oops })
        #expect(oops.signature.faultingModule == "clarity_oops")
        #expect(oops.signature.kernelVersion == "6.1.0-50-cloud-amd64")
        #expect(oops.signature.oopsCause == "BUG: kernel NULL pointer dereference, address: 0000000000000000")
        #expect(oops.records.map(\.name.id) == ["177249561401001", "177249561402001", "177249561403001"])
        #expect(reading.crashes.count == 2)
        #expect(reading.crashRecordCount == 2)
    }

    /// Each finding says where its crash was routed: a machine check to a person, a record
    /// of a kernel the root has no modules for to nothing, a module's crash to kernel-panic.
    @Test func findingsSayWhereTheCrashWasRouted() throws {
        let root = try TemporaryDirectory(prefix: "pstore-root")
        let corpus = CrashCorpusTests.folder + "/records/"
        let mce = try String(contentsOfFile: corpus + "049-mce-fatal-local-dax-metadata.txt", encoding: .utf8)
        try root.write("sys/fs/pstore/dmesg-ramoops-0", "Panic#1 Part1\n" + mce)
        try PstoreFixtures.place("oops-module", in: root, at: "sys/fs/pstore/dmesg-ramoops-1")
        var findings = try detect(root)
        #expect(findings.count == 2)
        let hardware = try #require(findings.first { $0.summary.contains("machine check") })
        #expect(hardware.summary.hasSuffix("(hardware: needs a person)"))
        #expect(hardware.evidence.last?.source == "routing")
        #expect(hardware.evidence.last?.detail.hasPrefix("needs a person, nothing repaired: the machine check") == true)
        let module = try #require(findings.first { $0.summary.contains("clarity_oops") })
        #expect(module.evidence.last == Evidence(source: "routing", detail: "routed to kernel-panic: the crash names module "
            + "clarity_oops: keep it from loading, or boot a kernel without it"))

        // The root has modules for another kernel only: the Oops' kernel is not its own.
        try root.write("lib/modules/6.12.0-1-amd64/modules.dep", "")
        findings = try detect(root)
        let foreign = try #require(findings.first { $0.summary.contains("clarity_oops") })
        #expect(foreign.summary.hasSuffix("(a kernel this root does not have: not acted on)"))
        #expect(foreign.evidence.last?.detail.hasPrefix("not acted on: kernel 6.1.0-50-cloud-amd64 is not installed here") == true)
    }

    @Test(arguments: [(0, "1970-01-01 00:00:00 UTC"), (1795988732, "2026-11-29 21:45:32 UTC")])
    func utcTimes(_ seconds: Int, _ text: String) {
        #expect(KernelPanicDetector.utc(seconds) == text)
    }
}
