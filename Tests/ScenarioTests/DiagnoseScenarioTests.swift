import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// Diagnosis on broken copies of the real Debian root, with the real crash records of
/// scripts/make-pstore-fixtures: the plan, its adaptive steps, and the root cause.
@Suite("DiagnoseScenarios", .serialized)
struct DiagnoseScenarioTests {
    static let kernel = TestRoot.kernelVersion
    static let pstore = TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore"

    static func diagnose(_ path: String, pstore: String? = nil) throws -> Diagnosis {
        let root = try SystemRoot(path)
        let context = DetectionContext(root: root, extraDevices: [TestRoot.image], pstoreDirectory: pstore)
        return Diagnoser(knowledgeBase: try KnowledgeBase.load(root: root)).run(context)
    }

    /// Puts a real record where systemd-pstore archives it on the copy.
    static func archive(_ scenario: String, in copy: OverlayCopy, transform: (String) -> String = { $0 }) throws {
        let folder = copy.at("/var/lib/systemd/pstore")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: pstore + "/" + scenario + "/dmesg-ramoops-0", encoding: .utf8)
        try transform(text).write(toFile: folder + "/dmesg-ramoops-0", atomically: false, encoding: .utf8)
    }

    /// A live pstore folder holding one real record.
    static func live(_ scenario: String) throws -> TemporaryDirectory {
        let folder = try TemporaryDirectory(prefix: "pstore-live")
        try FileManager.default.copyItem(atPath: pstore + "/" + scenario + "/dmesg-ramoops-0",
                                         toPath: folder.path + "/dmesg-ramoops-0")
        return folder
    }

    static func step(_ diagnosis: Diagnosis, named prefix: String) throws -> DiagnosisStep {
        try #require(diagnosis.steps.first { $0.name.hasPrefix(prefix) }, "no step \(prefix)")
    }

    @Test func healthyRootHasNoRootCause() throws {
        let diagnosis = try Self.diagnose(TestRoot.root)
        #expect(diagnosis.rootCause == nil)
        #expect(diagnosis.isHealthy, "\(diagnosis.otherFindings) \(diagnosis.errors)")
        #expect(diagnosis.estimatedRepair == nil)
        #expect(diagnosis.steps.map(\.stage) == DiagnosisStage.allCases)
        #expect(diagnosis.steps.allSatisfy { !$0.significant && $0.found.isEmpty && $0.reason == nil })
        // Every detector ran, each once, in its stage.
        let ran = diagnosis.steps.flatMap(\.ran)
        #expect(ran.count == Detectors.all.count)
        #expect(Set(ran.map { String($0.split(separator: " ")[1]) }) == Set(Detectors.all.map(\.name)))
    }

    @Test func moduleOopsOnTheLastBoot() throws {
        let copy = try TestRoot.writableCopy()
        try Self.archive("oops-module", in: copy)
        let diagnosis = try Self.diagnose(copy.path)
        let cause = try #require(diagnosis.rootCause)
        #expect(cause.failureClass == .kernelPanic)
        #expect(cause.signature == "panic-in-module")
        #expect(cause.specifics["module"] == "clarity_oops")
        #expect(cause.specifics["kernel"] == "6.1.0-50-cloud-amd64")
        #expect(cause.specifics["record"] == "/var/lib/systemd/pstore/dmesg-ramoops-0")
        #expect(cause.explanation.hasPrefix("module clarity_oops crashed kernel 6.1.0-50-cloud-amd64: BUG: kernel NULL pointer"))
        #expect(diagnosis.otherFindings.isEmpty)
        #expect(diagnosis.affectedComponents == [.kernel])
        #expect(diagnosis.estimatedRepair?.seconds ?? 0 > 0)

        // The plan adapted right after the kernel step: four steps about the module.
        #expect(diagnosis.steps.map(\.name).prefix(6) == [
            DiagnosisStage.bootloader.title, DiagnosisStage.kernel.title,
            "module clarity_oops: its file in /lib/modules/\(Self.kernel)",
            "module clarity_oops: its dependencies",
            "module clarity_oops: in the initramfs of \(Self.kernel)?",
            "module clarity_oops: the package that owns it",
        ])
        #expect(diagnosis.steps[2...5].allSatisfy { $0.reason == "the crash record names module clarity_oops" })
        #expect(diagnosis.steps.count == DiagnosisStage.allCases.count + 4)

        // clarity_oops was built outside the kernel's tree: each step says so.
        let file = try Self.step(diagnosis, named: "module clarity_oops: its file")
        #expect(file.significant)
        #expect(file.found.map(\.detail) == ["clarity_oops is not in the modules tree of \(Self.kernel): no file, not built in, no alias"])
        let oracle = try Tool.run("/sbin/modinfo", ["-b", copy.path, "-k", Self.kernel, "clarity_oops"])
        #expect(oracle.status != 0, "modinfo agrees: \(oracle.stderr)")
        let initramfs = try Self.step(diagnosis, named: "module clarity_oops: in the initramfs")
        #expect(initramfs.found.first?.source == "/boot/initrd.img-\(Self.kernel)")
        #expect(initramfs.found.first?.detail.hasPrefix("clarity_oops is not in the image (") == true)
        let package = try Self.step(diagnosis, named: "module clarity_oops: the package")
        #expect(package.found.map(\.detail) == ["no installed package ships clarity_oops.ko: it came from outside the package manager"])
        #expect(cause.specifics["moduleFile"] == "not in /lib/modules/\(Self.kernel)")
        #expect(cause.specifics["moduleInInitramfs"] == "no")
        #expect(cause.specifics["modulePackage"] == "none")
    }

    /// The same real record with the module renamed to one the kernel ships: the steps
    /// find its file, dependencies, place in the initramfs and package, as the real tools do.
    @Test func oopsInAModuleTheKernelShips() throws {
        let copy = try TestRoot.writableCopy()
        try Self.archive("oops-module", in: copy) { $0.replacingOccurrences(of: "clarity_oops", with: "xfs") }
        let diagnosis = try Self.diagnose(copy.path)
        let cause = try #require(diagnosis.rootCause)
        #expect(cause.specifics["module"] == "xfs")

        let filename = try Tool.run("/sbin/modinfo", ["-b", copy.path, "-k", Self.kernel, "-F", "filename", "xfs"])
        let expectedFile = filename.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: copy.path, with: "")
        #expect(expectedFile.hasSuffix("/kernel/fs/xfs/xfs.ko"))
        #expect(cause.specifics["moduleFile"] == "/lib/modules/\(Self.kernel)/kernel/fs/xfs/xfs.ko")
        let depends = try Tool.run("/sbin/modinfo", ["-b", copy.path, "-k", Self.kernel, "-F", "depends", "xfs"])
        #expect(cause.specifics["moduleDependencies"] == depends.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(cause.specifics["moduleInInitramfs"]?.hasPrefix("yes: ") == true)
        #expect(cause.specifics["moduleInInitramfs"]?.hasSuffix("/kernel/fs/xfs/xfs.ko") == true)
        let owner = try Tool.run("/usr/bin/dpkg", ["--admindir", copy.at("/var/lib/dpkg"), "-S", "/lib/modules/\(Self.kernel)/kernel/fs/xfs/xfs.ko"])
        let package = String(owner.stdout.split(separator: ":").first ?? "")
        #expect(package == "linux-image-\(Self.kernel)")
        #expect(cause.specifics["modulePackage"] == "\(package) (/lib/modules/\(Self.kernel)/kernel/fs/xfs/xfs.ko)")
        let initramfs = try Self.step(diagnosis, named: "module xfs: in the initramfs")
        #expect(initramfs.significant, "a module the initramfs loads matters for the repair")
    }

    @Test func rootFsPanicAndRootEqualsNoDevice() throws {
        let copy = try TestRoot.writableCopy()
        try CatalogueTests.edit(copy.at("/boot/grub/grub.cfg")) {
            $0.replacingOccurrences(of: "root=UUID=\(TestRoot.rootUUID)", with: "root=UUID=0b2c6a6e-0000-4000-8000-00000000beef")
        }
        let live = try Self.live("vfs-no-root")
        let diagnosis = try Self.diagnose(copy.path, pstore: live.path)
        let cause = try #require(diagnosis.rootCause)
        #expect(cause.failureClass == .rootDeviceMismatch)
        #expect(cause.signature == "vfs-panic-root-device-mismatch")
        #expect(cause.confidence >= 0.9)
        #expect(cause.findings.map(\.failureClass) == [.rootDeviceMismatch, .kernelPanic], "the panic supports it")
        #expect(cause.specifics["reason"] == "VFS: Unable to mount root fs on unknown-block(0,0)")
        #expect(cause.specifics["line"]?.hasPrefix("/boot/grub/grub.cfg:") == true)
        #expect(diagnosis.otherFindings.isEmpty)
        // The panic moved the root device and initramfs steps up, in that order.
        #expect(diagnosis.steps.map(\.stage).prefix(4) == [.bootloader, .kernel, .rootDevice, .initramfs])
        #expect(diagnosis.steps[2].reason?.hasPrefix("moved up: the kernel could not mount the root fs") == true)
        #expect(diagnosis.steps[2].findings == [.rootDeviceMismatch])
    }

    @Test func rootFsPanicAndInitramfsWithoutTheDriver() throws {
        // The root is switched to xfs and xfs.ko left out of the image (see
        // InitramfsScenarioTests); blkid still sees ext4, so fstab is wrong too.
        let copy = try TestRoot.writableCopy()
        try BootChainDetectors.shell("sed -i 's| /  *ext4 | / xfs |' etc/fstab && grep -q ' / xfs ' etc/fstab", in: copy.path)
        try BootChainDetectors.repackInitrd(copy, edit: "rm usr/lib/modules/*/kernel/fs/xfs/xfs.ko usr/lib/modules/*/kernel/lib/libcrc32c.ko")
        let live = try Self.live("vfs-no-root")
        let diagnosis = try Self.diagnose(copy.path, pstore: live.path)
        let cause = try #require(diagnosis.rootCause)
        #expect(cause.failureClass == .initramfsMissingDriver)
        #expect(cause.signature == "vfs-panic-initramfs-missing-driver")
        #expect(cause.specifics["modules"] == "libcrc32c, xfs")
        #expect(cause.specifics["initrd"] == "/boot/initrd.img-\(Self.kernel)")
        #expect(cause.findings.map(\.failureClass) == [.initramfsMissingDriver, .kernelPanic])
        #expect(diagnosis.otherFindings.map(\.failureClass) == [.fstabInvalidEntry])
        #expect(diagnosis.affectedComponents == [.drivers, .kernel, .fileSystem])
    }

    @Test func noWorkingInitAndInitDeleted() throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.removeItem(atPath: copy.at("/lib/systemd/systemd"))
        let live = try Self.live("no-working-init")
        let diagnosis = try Self.diagnose(copy.path, pstore: live.path)
        let cause = try #require(diagnosis.rootCause)
        #expect(cause.failureClass == .initMissing)
        #expect(cause.signature == "no-init-panic-init-missing")
        #expect(cause.findings.map(\.failureClass) == [.initMissing, .kernelPanic])
        #expect(diagnosis.steps.map(\.stage).prefix(4) == [.bootloader, .kernel, .`init`, .initramfs])
    }

    @Test func rootFsPanicNothingConfirms() throws {
        let live = try Self.live("vfs-no-root")
        let diagnosis = try Self.diagnose(TestRoot.root, pstore: live.path)
        let cause = try #require(diagnosis.rootCause)
        #expect(cause.failureClass == .kernelPanic)
        #expect(cause.signature == "vfs-panic-unconfirmed")
        #expect(cause.confidence < 0.5)
    }

    @Test func independentFaultsTheEarliestIsTheRootCause() throws {
        let copy = try TestRoot.writableCopy()
        try CatalogueTests.append(copy.at("/etc/fstab"), "UUID=\(TestRoot.rootUUID) /data ext4 defaults zero 2")
        try CatalogueTests.edit(copy.at("/etc/passwd")) { text in
            text.split(separator: "\n").filter { !$0.hasPrefix("root:") }.joined(separator: "\n") + "\n"
        }
        let diagnosis = try Self.diagnose(copy.path)
        let cause = try #require(diagnosis.rootCause)
        #expect(cause.failureClass == .fstabInvalidEntry)
        #expect(cause.specifics["fstabLine"]?.hasSuffix("/data ext4 defaults zero 2") == true)
        #expect(cause.specifics["fstabLine"]?.hasPrefix("/etc/fstab:") == true)
        #expect(diagnosis.otherFindings.map(\.failureClass) == [.accountDatabaseBroken])
        #expect(diagnosis.affectedComponents == [.fileSystem, .securitySubsystems])
    }

    @Test func siteKnowledgeFileReweighsASignature() throws {
        let copy = try TestRoot.writableCopy()
        try Self.archive("oops-module", in: copy)
        try FileManager.default.createDirectory(atPath: copy.at(KnowledgeBase.siteDirectory), withIntermediateDirectories: true)
        try #"{ "confidence": { "panic-in-module": 0.4 } }"#
            .write(toFile: copy.at(KnowledgeBase.siteDirectory + "/site.json"), atomically: false, encoding: .utf8)
        let diagnosis = try Self.diagnose(copy.path)
        #expect(diagnosis.rootCause?.signature == "panic-in-module")
        #expect(diagnosis.rootCause?.confidence == 0.4)
    }

    @Test(arguments: [
        (#"{ "signatures": [ { "id": "x", "when": [ { "class": "init-missing" } ], "then": { "rootCause": "no-such-class", "confidence": 0.5, "explanation": "x" } } ] }"#,
         "at signatures[0].then.rootCause: "),
        (#"{ "signatures": [ { "id": "x", "when": [ { "class": "init-missing" } ], "then": { "rootCause": "init-missing", "confidence": 2, "explanation": "x" } } ] }"#,
         "signature \"x\" is invalid: confidence 2.0 is not between 0 and 1"),
        (#"{ "confidence": { "no-such-signature": 0.5 } }"#,
         "cannot override the confidence of \"no-such-signature\": no signature has that id"),
        ("{ not json", "at the top level: The given data was not valid JSON."),
    ])
    func badSiteFileNamesTheFile(_ contents: String, _ reason: String) throws {
        let copy = try TestRoot.writableCopy()
        try FileManager.default.createDirectory(atPath: copy.at(KnowledgeBase.siteDirectory), withIntermediateDirectories: true)
        try contents.write(toFile: copy.at(KnowledgeBase.siteDirectory + "/bad.json"), atomically: false, encoding: .utf8)
        let root = try SystemRoot(copy.path)
        do throws(KnowledgeFileError) {
            _ = try KnowledgeBase.load(root: root)
            Issue.record("a bad knowledge file was accepted")
        } catch {
            #expect(error.path == "/etc/clarity-heal/knowledge.d/bad.json")
            #expect(error.description.hasPrefix("cannot load knowledge file /etc/clarity-heal/knowledge.d/bad.json: "))
            #expect(error.reason.contains(reason), "\(error.reason)")
            #expect(!error.reason.isEmpty)
        }
    }
}
