import Foundation
import HealSystem
import Testing
import TestSupport

/// The recovery entry's initramfs: the one the last good boot came up with, copied once
/// per change, one release kept, never from a recovery boot.
@Suite("RecoveryInitramfs")
struct RecoveryInitramfsTests {
    static let release = "6.1.0-50-cloud-amd64"
    static let kept = "/boot/clarity-heal/initrd.img-\(release)"

    @Test func theInitramfsOfAGoodBootIsKeptOncePerChange() throws {
        let dir = try TemporaryDirectory(prefix: "recovery-initrd")
        try dir.write("boot/initrd.img-\(Self.release)", Data(repeating: 0x5a, count: 70_000))
        try dir.write("boot/clarity-heal/initrd.img-5.10.0-old", "older")
        let root = try SystemRoot(dir.path)

        #expect(RecoveryInitramfs.keep(root: root, release: Self.release, commandLine: "root=UUID=x ro quiet\n") == .kept(Self.kept))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + Self.kept)) == Data(repeating: 0x5a, count: 70_000))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/boot/clarity-heal/initrd.img-5.10.0-old"))
        #expect(RecoveryInitramfs.keep(root: root, release: Self.release, commandLine: "") == .unchanged(Self.kept))

        // update-initramfs wrote a new one, same size: the bytes decide.
        try dir.write("boot/initrd.img-\(Self.release)", Data(repeating: 0x5b, count: 70_000))
        #expect(RecoveryInitramfs.keep(root: root, release: Self.release, commandLine: "") == .kept(Self.kept))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + Self.kept)) == Data(repeating: 0x5b, count: 70_000))
    }

    @Test func aRecoveryBootKeepsNothing() throws {
        let dir = try TemporaryDirectory(prefix: "recovery-initrd")
        try dir.write("boot/initrd.img-\(Self.release)", "possibly the broken one")
        let outcome = RecoveryInitramfs.keep(root: try SystemRoot(dir.path), release: Self.release,
                                             commandLine: "root=UUID=x ro panic=10 clarity.heal=recover\n")
        guard case .skipped(let why) = outcome else { Issue.record("\(outcome)"); return }
        #expect(why.contains("recovery boot"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + Self.kept))
    }

    @Test func aLinkOrAStrangeReleaseIsNotFollowed() throws {
        let dir = try TemporaryDirectory(prefix: "recovery-initrd")
        let outside = try TemporaryDirectory(prefix: "outside")
        try outside.write("secret", "host file")
        try FileManager.default.createDirectory(atPath: dir.path + "/boot", withIntermediateDirectories: true)
        #expect(symlink(outside.path + "/secret", dir.path + "/boot/initrd.img-\(Self.release)") == 0)
        let root = try SystemRoot(dir.path)
        guard case .skipped = RecoveryInitramfs.keep(root: root, release: Self.release, commandLine: "") else {
            Issue.record("a link was copied"); return
        }
        guard case .skipped(let why) = RecoveryInitramfs.keep(root: root, release: "../../etc", commandLine: "") else {
            Issue.record("a path was taken for a release"); return
        }
        #expect(why.contains("not a file name"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/boot/clarity-heal"))
    }
}
