import Foundation
@testable import HealSystem
import Testing
import TestSupport

/// `Paths.removeTree`, how scratch folders go (the stale ones of dead processes too): it
/// never follows a link, never enters a mount it did not unmount, and removes names that
/// are not UTF-8 and trees deeper than the descriptors it keeps open.
@Suite(.serialized)
struct PathsRemoveTreeTests {
    /// Creates a file whose name is `bytes` (not necessarily UTF-8) in `folder`.
    static func createFile(named bytes: [UInt8], in folder: String) throws {
        let path = Array(folder.utf8).map { CChar(bitPattern: $0) } + [CChar(bitPattern: UInt8(ascii: "/"))]
            + bytes.map { CChar(bitPattern: $0) } + [0]
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw Tool.Failure(message: "cannot create a file in \(folder): errno \(errno)") }
        close(fd)
    }

    @Test func aTreeGoesWithoutFollowingItsLinks() throws {
        let directory = try TemporaryDirectory(prefix: "rmtree")
        let outside = try directory.write("outside/keep", "kept\n")
        let tree = directory.path + "/tree"
        try directory.write("tree/etc/fstab", "# fstab\n")
        try FileManager.default.createSymbolicLink(atPath: tree + "/absolute", withDestinationPath: directory.path + "/outside")
        try FileManager.default.createSymbolicLink(atPath: tree + "/etc/relative", withDestinationPath: "../../outside")
        try FileManager.default.createSymbolicLink(atPath: tree + "/file-link", withDestinationPath: outside)
        #expect(mkfifo(tree + "/fifo", 0o644) == 0)
        // A name that is not UTF-8, as a copied root may hold.
        try Self.createFile(named: [0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e], in: tree + "/etc")
        // Deeper than the folders removal keeps open at once (Paths.openFolderLimit).
        var deep = tree
        for level in 0..<100 { deep += "/d\(level)" }
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        try "bottom\n".write(toFile: deep + "/file", atomically: false, encoding: .utf8)

        try Paths.removeTree(tree)

        #expect(!FileManager.default.fileExists(atPath: tree))
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "kept\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["outside"])
        // Gone already: nothing to do.
        try Paths.removeTree(tree)
    }

    @Test func aMountInsideIsLeftWithItsFilesAndNamed() throws {
        let directory = try TemporaryDirectory(prefix: "rmtree")
        let tree = directory.path + "/tree"
        try directory.write("tree/a/file", "a\n")
        try directory.write("tree/z/file", "z\n")
        try FileManager.default.createDirectory(atPath: tree + "/m/mnt", withIntermediateDirectories: true)
        try TmpfsFixture.tmpfs(at: tree + "/m/mnt")
        defer { umount2(tree + "/m/mnt", Int32(MNT_DETACH)) }
        try "inside\n".write(toFile: tree + "/m/mnt/file", atomically: false, encoding: .utf8)

        let error = try #require(throws: EnvironmentError.self) { try Paths.removeTree(tree) }

        #expect(error == .io(path: tree + "/m/mnt", reason: "is a mount point; refusing to remove below it"))
        #expect(try String(contentsOfFile: tree + "/m/mnt/file", encoding: .utf8) == "inside\n")
        // Everything beside the mount went, whatever the order of the entries.
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree) == ["m"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree + "/m") == ["mnt"])
    }

    @Test func aMountPointGivenItselfIsNeverEmptied() throws {
        let directory = try TemporaryDirectory(prefix: "rmtree")
        let mountPoint = directory.path + "/mnt"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try TmpfsFixture.tmpfs(at: mountPoint)
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        try "inside\n".write(toFile: mountPoint + "/file", atomically: false, encoding: .utf8)

        #expect(throws: EnvironmentError.io(path: mountPoint, reason: "is a mount point; refusing to remove below it")) {
            try Paths.removeTree(mountPoint)
        }
        #expect(try String(contentsOfFile: mountPoint + "/file", encoding: .utf8) == "inside\n")
    }
}

enum TmpfsFixture {
    /// Mounts a small tmpfs on `path` (an existing folder).
    static func tmpfs(at path: String) throws {
        let result = try Tool.run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", path])
        guard result.status == 0 else { throw Tool.Failure(message: "mount tmpfs on \(path): \(result.stderr)") }
    }
}
