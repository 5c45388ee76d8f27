import Foundation
import Glibc
import HealSystem
import Testing
import TestSupport

/// The one file layer under every root: paths resolve inside, only regular files are read,
/// nothing blocks, sizes are bounded, writes never pass a link. Every case runs with the
/// kernel's `openat2` and with the walk used on kernels without it.
@Suite(.timeLimit(.minutes(10)))
struct ConfinedDirectoryTests {
    static let resolvers: [ConfinedDirectory.Resolver] = [.kernel, .walk]

    /// A root with `/real/fstab`, and a host folder outside it holding a secret.
    final class Layout: @unchecked Sendable {
        let base: TemporaryDirectory
        let root: String
        let outside: String

        init() throws {
            base = try TemporaryDirectory(prefix: "confined")
            root = base.path + "/root"
            outside = base.path + "/host"
            try base.write("root/real/fstab", "inside\n")
            try base.write("host/secret", "host secret\n")
            try base.write("host/real/fstab", "host fstab\n")
        }

        func link(_ at: String, _ target: String) throws {
            let path = root + at
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        }

        func directory(_ resolver: ConfinedDirectory.Resolver) throws -> ConfinedDirectory {
            try ConfinedDirectory(root, resolver: resolver)
        }

        func hostFile(_ name: String) -> String? {
            try? String(contentsOfFile: outside + "/" + name, encoding: .utf8)
        }
    }

    @Test(arguments: resolvers)
    func absoluteLinksStayInside(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        // /etc -> /real: the booted system reads /real/fstab, never the host's /real.
        try layout.link("/etc", "/real")
        // A link naming the host folder by its host path finds nothing inside.
        try layout.link("/escape", layout.outside + "/secret")
        let files = try layout.directory(resolver)
        #expect(try files.text("/etc/fstab") == "inside\n")
        #expect(throws: FileError.missing(path: "/escape")) { try files.text("/escape") }
    }

    @Test(arguments: resolvers)
    func relativeLinksNeverClimbAboveTheRoot(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        let depth = layout.root.split(separator: "/").count + 3
        try layout.link("/boot/up", String(repeating: "../", count: depth) + "real/fstab")
        try layout.link("/boot/host", String(repeating: "../", count: depth) + String(layout.outside.dropFirst()) + "/secret")
        let files = try layout.directory(resolver)
        #expect(try files.text("/boot/up") == "inside\n")
        #expect(throws: FileError.missing(path: "/boot/host")) { try files.text("/boot/host") }
        #expect(try files.text("/../../../real/fstab") == "inside\n")
    }

    @Test(arguments: resolvers)
    func fifosDevicesAndFoldersAreNeverOpenedForReading(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        #expect(mkfifo(layout.root + "/fifo", 0o644) == 0)
        #expect(try Tool.run("/usr/bin/mknod", [layout.root + "/zero", "c", "1", "5"]).status == 0)
        try layout.link("/via-link", "/fifo")
        let files = try layout.directory(resolver)
        // Opening a FIFO for reading would wait for a writer forever: it must return at once.
        #expect(throws: FileError.notRegular(path: "/fifo", kind: .fifo)) { try files.read("/fifo") }
        #expect(throws: FileError.notRegular(path: "/via-link", kind: .fifo)) { try files.read("/via-link") }
        #expect(throws: FileError.notRegular(path: "/zero", kind: .characterDevice)) { try files.read("/zero") }
        #expect(throws: FileError.notRegular(path: "/real", kind: .directory)) { try files.read("/real") }
    }

    @Test(arguments: resolvers)
    func sizesAreCheckedBeforeReading(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        try layout.base.write("root/big", Data(repeating: 0x41, count: 2 << 20))
        let files = try layout.directory(resolver)
        #expect(throws: FileError.tooLarge(path: "/big", limit: 1 << 20)) { try files.read("/big", limit: 1 << 20) }
        #expect(try files.read("/big", limit: 4 << 20).count == 2 << 20)
    }

    @Test(arguments: resolvers)
    func errorsKeepErrno(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        try layout.link("/loop-a", "/loop-b")
        try layout.link("/loop-b", "/loop-a")
        let files = try layout.directory(resolver)
        #expect(throws: FileError.missing(path: "/nope")) { try files.read("/nope") }
        // A file where a folder is expected is ENOTDIR: missing, like the kernel's lookup.
        #expect(throws: FileError.missing(path: "/real/fstab/x")) { try files.read("/real/fstab/x") }
        do {
            _ = try files.read("/loop-a")
            Issue.record("a link loop was read")
        } catch {
            #expect(error.errno == ELOOP)
        }
    }

    @Test(arguments: resolvers)
    func listingsAndLinksAreReadInside(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        try layout.link("/etc", "/real")
        let files = try layout.directory(resolver)
        #expect(try files.entries("/etc") == ["fstab"])
        #expect(try files.linkTarget("/etc") == "/real")
        #expect(try files.linkTarget("/real") == nil)
        #expect(files.canonical("/etc/fstab") == "/real/fstab")
        #expect(files.canonical("/etc/new/file") == "/real/new/file")
        #expect(files.kind("/etc") == .symlink)
        #expect(files.kind("/etc", followLast: true) == .directory)
    }

    // MARK: Writes

    @Test(arguments: resolvers)
    func writesNeverPassALink(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        try layout.link("/abs", layout.outside)
        try layout.link("/rel", String(repeating: "../", count: 12) + String(layout.outside.dropFirst()))
        try layout.link("/inside", "/real")
        let files = try layout.directory(resolver)
        for path in ["/abs/pwn", "/rel/pwn", "/inside/pwn"] {
            #expect(throws: FileError.self) { try files.replaceFile(path, bytes: Array("x".utf8)) }
            #expect(throws: FileError.self) { try files.makeDirectories(path + "/deeper") }
            #expect(throws: FileError.self) { try files.remove(path) }
        }
        #expect(layout.hostFile("pwn") == nil)
        #expect(!FileManager.default.fileExists(atPath: layout.root + "/real/pwn"))
        do {
            try files.replaceFile("/inside/pwn", bytes: [1])
        } catch {
            #expect(error == .throughLink(path: "/inside/pwn", link: "/inside"))
        }
    }

    /// The package attack at this layer: one step makes a link to a host folder, the next
    /// writes through it.
    @Test(arguments: resolvers)
    func aLinkMadeByAnEarlierWriteIsNotFollowedByTheNext(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        let files = try layout.directory(resolver)
        try files.makeDirectories("/boot")
        try files.replaceSymlink("/boot/a", target: layout.outside)
        #expect(throws: FileError.throughLink(path: "/boot/a/pwn", link: "/boot/a")) {
            try files.replaceFile("/boot/a/pwn", bytes: Array("pwned".utf8))
        }
        #expect(throws: FileError.throughLink(path: "/boot/a/secret", link: "/boot/a")) { try files.remove("/boot/a/secret") }
        #expect(layout.hostFile("pwn") == nil)
        #expect(layout.hostFile("secret") == "host secret\n")
        // Removing the link removes the link, never what it points to.
        try files.remove("/boot/a")
        #expect(files.kind("/boot/a") == nil)
        #expect(layout.hostFile("secret") == "host secret\n")
    }

    @Test(arguments: resolvers)
    func durableReplaceKeepsOwnerModeAndLeavesNoTemporary(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        let files = try layout.directory(resolver)
        try files.replaceFile("/real/fstab", bytes: Array("new\n".utf8), mode: 0o600, owner: (uid: 12, gid: 34))
        let st = try files.status("/real/fstab")
        #expect(st.st_mode & 0o7777 == 0o600)
        #expect(st.st_uid == 12 && st.st_gid == 34)
        #expect(try files.text("/real/fstab") == "new\n")
        #expect(try files.entries("/real") == ["fstab"])
        // A folder is never replaced by a file.
        #expect(throws: FileError.wrongKind(path: "/real", expected: .regular, found: .directory)) {
            try files.replaceFile("/real", bytes: [])
        }
    }

    @Test(arguments: resolvers)
    func removeTreeStopsAtAMountPoint(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        try layout.base.write("root/tree/a/b/file", "x")
        try layout.base.write("root/tree/mounted/.keep", "")
        let mountpoint = layout.root + "/tree/mounted"
        #expect(try Tool.run("/bin/mount", ["-t", "tmpfs", "tmpfs", mountpoint]).status == 0)
        defer { _ = try? Tool.run("/bin/umount", ["-l", mountpoint]) }
        try layout.base.write("root/tree/mounted/precious", "keep me")
        let files = try layout.directory(resolver)
        #expect(throws: FileError.self) { try files.removeTree("/tree") }
        #expect(FileManager.default.fileExists(atPath: mountpoint + "/precious"))
        #expect(try Tool.run("/bin/umount", [mountpoint]).status == 0)
        try files.removeTree("/tree")
        #expect(files.kind("/tree") == nil)
    }

    @Test(arguments: resolvers)
    func appendRefusesALinkAndAFifo(_ resolver: ConfinedDirectory.Resolver) throws {
        let layout = try Layout()
        try layout.link("/real/ledger", layout.outside + "/secret")
        #expect(mkfifo(layout.root + "/real/pipe", 0o644) == 0)
        let files = try layout.directory(resolver)
        #expect(throws: FileError.throughLink(path: "/real/ledger", link: "/real/ledger")) { try files.openForAppend("/real/ledger") }
        #expect(throws: FileError.notRegular(path: "/real/pipe", kind: .fifo)) { try files.openForAppend("/real/pipe") }
        let file = try files.openForAppend("/real/new")
        try file.write(Array("line\n".utf8))
        #expect(try files.text("/real/new") == "line\n")
        #expect(layout.hostFile("secret") == "host secret\n")
    }
}

/// The real Debian root, merged /usr: `/lib` is a link to `usr/lib`, as on every Debian 12.
@Suite(.serialized)
struct ConfinedDirectoryDebianTests {
    @Test(arguments: ConfinedDirectoryTests.resolvers)
    func mergedUsrLinksResolveInsideTheRootAndItsOverlayCopy(_ resolver: ConfinedDirectory.Resolver) throws {
        let copy = try TestRoot.writableCopy()
        for path in [TestRoot.root, copy.path] {
            let files = try ConfinedDirectory(path, resolver: resolver)
            #expect(files.canonical("/lib/modules") == "/usr/lib/modules", "\(path)")
            #expect(files.canonical("/lib/modules/\(TestRoot.kernelVersion)/modules.dep")
                    == "/usr/lib/modules/\(TestRoot.kernelVersion)/modules.dep", "\(path)")
            #expect(try files.linkTarget("/lib") == "usr/lib", "\(path)")
            #expect(!(try files.read("/lib/modules/\(TestRoot.kernelVersion)/modules.dep")).isEmpty, "\(path)")
        }
    }
}
