import Foundation
import HealCore
import Testing
import TestSupport
@testable import HealSystem

/// What the host and the template guest say to each other: the task on the kernel command
/// line, the report lines on the console, and how a run's end is read. No guest is booted.
@Suite struct TemplateGuestProtocolTests {
    @Test func aTaskSurvivesTheKernelCommandLine() throws {
        let task = TemplateGuestTask(kind: .repair, nonce: "0123456789abcdef", superblock: 32768, blockSize: 4096)
        let line = "BOOT_IMAGE=/vmlinuz console=ttyS0 quiet " + task.commandLine.joined(separator: " ") + " panic=-1\n"
        #expect(TemplateGuestTask(commandLine: line) == task)
        #expect(task.repairArguments(device: "/dev/vda") == ["-fy", "-b", "32768", "-B", "4096", "/dev/vda"])
        #expect(TemplateGuestTask(kind: .check, nonce: "0123456789abcdef").repairArguments(device: "/dev/vda") == ["-fy", "/dev/vda"])
    }

    @Test(arguments: [
        "console=ttyS0",  // no task
        "clarity-heal.task=format clarity-heal.nonce=0123456789abcdef",  // unknown task
        "clarity-heal.task=check clarity-heal.nonce=not-hex-at-all",  // a nonce that is not hex
        "clarity-heal.task=check clarity-heal.nonce=0123",  // too short
        "clarity-heal.task=repair clarity-heal.nonce=0123456789abcdef clarity-heal.superblock=32768",  // no block size
        "clarity-heal.task=repair clarity-heal.nonce=0123456789abcdef clarity-heal.superblock=32768 clarity-heal.blocksize=3000",
    ])
    func aBadTaskIsNoTask(commandLine: String) {
        #expect(TemplateGuestTask(commandLine: commandLine) == nil)
    }

    @Test func theReportIsReadByItsNonceAcrossCarriageReturnsAndKernelNoise() throws {
        let report = TemplateGuestReport(task: .check, kernel: "6.1.0-50-cloud-amd64", modules: ["virtio_blk"],
                                         device: "/dev/vda", steps: [.init(command: ["e2fsck", "-fn", "/dev/vda"], status: 4,
                                                                           output: "Entry 'b' has deleted/unused inode\n\"quoted\"\r\t")])
        let nonce = "00112233aabbccdd"
        let console = "[    2.1] virtio_blk virtio0: [vda] 65536 512-byte logical blocks\r\n"
            + "\r\n" + TemplateGuestReport.readyLine(nonce: nonce) + "\r\n"
            + "clarity-heal-guest ffffffffffffffff result {\"task\":\"check\"}\r\n"  // another boot's
            + "[    2.5] random: crng init done\r\n" + report.resultLine(nonce: nonce) + "\r\n[    3.0] reboot: Power down\r\n"
        let reading = TemplateGuestReport.read(console: console, nonce: nonce)
        #expect(reading.ready)
        #expect(reading.report == report)
        #expect(reading.malformed == nil)
        #expect(!report.resultLine(nonce: nonce).contains("\n"))
    }

    @Test func aResultThatDoesNotDecodeIsSaidSo() {
        let nonce = "00112233aabbccdd"
        let reading = TemplateGuestReport.read(console: "clarity-heal-guest \(nonce) result {\"task\":", nonce: nonce)
        #expect(reading.report == nil)
        #expect(reading.malformed?.hasPrefix("the result line does not decode") == true)
        let long = "clarity-heal-guest \(nonce) result " + String(repeating: "x", count: TemplateGuestReport.maximumLine + 1)
        #expect(TemplateGuestReport.read(console: long, nonce: nonce).malformed == "the result line is longer than 65536 bytes")
    }

    @Test func aQEMUFailureATimeoutAndAGuestFailureAreToldApart() {
        let nonce = "00112233aabbccdd"
        let silent = TemplateGuestReport.read(console: "", nonce: nonce)
        guard case .qemuFailed(let message) = TemplateGuest.end(of: .qemuFailed("exit status 1: bad option"), console: "", reading: silent)
        else { Issue.record("not a QEMU failure"); return }
        #expect(message == "exit status 1: bad option")
        guard case .timeout(let seconds) = TemplateGuest.end(of: .deadline(seconds: 300), console: "", reading: silent)
        else { Issue.record("not a timeout"); return }
        #expect(seconds == 300)
        let panic = "[ 3.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\r\n"
        guard case .guestFailed(let why) = TemplateGuest.end(of: .exited, console: panic, reading: silent)
        else { Issue.record("not a guest failure"); return }
        #expect(why == "the guest's kernel panicked: [ 3.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000")
        let ready = TemplateGuestReport.read(console: TemplateGuestReport.readyLine(nonce: nonce), nonce: nonce)
        guard case .guestFailed(let stopped) = TemplateGuest.end(of: .exited, console: "", reading: ready)
        else { Issue.record("not a guest failure"); return }
        #expect(stopped == "clarity-heal started as PID 1 but stopped without a result")
    }

    @Test func aBackupSuperblockIsReadFromDumpe2fs() throws {
        let directory = try TemporaryDirectory(prefix: "backup-sb")
        let image = directory.path + "/fs.img"
        let uuid = UUID().uuidString.lowercased()
        for (tool, arguments) in [("truncate", ["-s", "256M", image]), ("mkfs.ext4", ["-q", "-F", "-b", "4096", "-L", "lost", "-U", uuid, image]),
                                  ("dd", ["if=/dev/zero", "of=\(image)", "bs=1024", "seek=1", "count=3", "conv=notrunc", "status=none"])] {
            #expect(try Tool.run(tool, arguments).status == 0)
        }
        #expect(try BlockProbe.identify(image) == nil)
        let backup = try #require(ExtBackupSuperblock.find(image))
        #expect(backup.superblock == 32768 && backup.blockSize == 4096)
        #expect(backup.uuid == uuid)
        #expect(backup.label == "lost")
        #expect(backup.fsType == "ext4")
        // A blank image has no backup either.
        let blank = directory.path + "/blank.img"
        #expect(try Tool.run("truncate", ["-s", "64M", blank]).status == 0)
        #expect(ExtBackupSuperblock.find(blank) == nil)
    }

    /// The console is the guest's, and the guest reads a hostile disk: whatever it prints,
    /// reading it neither crashes nor takes more than the bounded line.
    @Test func aHostileConsoleIsReadSafely() {
        let nonce = "00112233aabbccdd"
        var generator = SystemRandomNumberGenerator()
        let marker = "clarity-heal-guest \(nonce) "
        for round in 0..<200 {
            var bytes = (0..<Int.random(in: 0...4096, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if round % 2 == 0 { bytes.insert(contentsOf: Array((marker + "result {\"task\":\"check\",\"kernel\":").utf8), at: bytes.count / 2) }
            if round % 3 == 0 { bytes.insert(contentsOf: Array((marker + "ready").utf8), at: 0) }
            let reading = TemplateGuestReport.read(console: String(decoding: bytes, as: UTF8.self), nonce: nonce)
            #expect(reading.report == nil)
        }
    }
}
