import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

@Suite("PackageIntegrity", .serialized)
struct PackageIntegrityTests {
    @Test func md5MatchesCoreutils() throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        for path in ["/usr/bin/bash", "/usr/lib/systemd/systemd", "/etc/hostname"] {
            let file = TestRoot.root + path
            let tool = try Tool.run("md5sum", [file])
            let expected = String(tool.stdout.prefix(32))
            #expect(try MD5File.digest(atPath: file, buffer: buffer) == expected)
        }
        #expect(MD5File.digest(of: []) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(throws: FileError.missing(path: TestRoot.root + "/nope")) {
            try MD5File.digest(atPath: TestRoot.root + "/nope", buffer: buffer)
        }
    }

    @Test func readsTheRealDatabase() throws {
        let database = DpkgDatabase(root: try SystemRoot(TestRoot.root))
        let files = database.checksumFiles()
        #expect(files.contains { $0.qualifiedName == "libc6:amd64" })
        #expect(files.contains { $0.qualifiedName == "systemd" })
        let systemd = try #require(files.first { $0.package == "systemd" })
        let sums = try database.checksums(systemd)
        #expect(sums.errors.isEmpty)
        #expect(sums.entries.contains { $0.path == "/lib/systemd/systemd" || $0.path == "/usr/lib/systemd/systemd" })
        #expect(try database.diversions().contains(Diversion(from: "/bin/sh", to: "/bin/sh.distrib", package: "dash")))
    }

    @Test func pristineRootVerifiesClean() throws {
        let report = try PackageIntegrity.verify(root: try SystemRoot(TestRoot.root), include: { _ in true })
        #expect(report.mismatches.isEmpty)
        #expect(report.databaseProblems.isEmpty)
        #expect(report.packages.count == DpkgDatabase(root: try SystemRoot(TestRoot.root)).checksumFiles().count)
        #expect(report.checkedFiles > 5000)
    }

    @Test func bootCriticalSubset() throws {
        let report = try PackageIntegrity.verify(root: try SystemRoot(TestRoot.root))
        #expect(report.packages.contains("systemd"))
        #expect(report.packages.contains("linux-image-\(TestRoot.kernelVersion)"))
        #expect(!report.packages.contains("tzdata"))
        #expect(report.mismatches.isEmpty)
    }

    /// The set of bad files equals what `dpkg --verify --root` reports for the same
    /// packages, conffiles (dpkg's `c` lines) aside.
    @Test func matchesDpkgVerify() throws {
        let copy = try TestRoot.writableCopy()
        // A flipped byte in PID 1, a replaced script, a deleted file, a symbolic link in place
        // of a binary, and an appended byte in a package outside the boot-critical set.
        let systemd = try Data(contentsOf: URL(fileURLWithPath: copy.at("/usr/lib/systemd/systemd")))
        var flipped = systemd
        flipped[4096] ^= 0xff
        try flipped.write(to: URL(fileURLWithPath: copy.at("/usr/lib/systemd/systemd")))
        try "#!/bin/sh\nexit 0\n".write(toFile: copy.at("/usr/sbin/update-initramfs"), atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: copy.at("/usr/bin/tac"))
        try FileManager.default.removeItem(atPath: copy.at("/usr/bin/tr"))
        try FileManager.default.createSymbolicLink(atPath: copy.at("/usr/bin/tr"), withDestinationPath: "/etc/passwd")
        try "x".write(toFile: copy.at("/usr/share/zoneinfo/Europe/Paris"), atomically: false, encoding: .utf8)
        // A conffile edit: dpkg reports it with "c", the integrity check leaves it alone.
        let loginDefs = try String(contentsOfFile: copy.at("/etc/login.defs"), encoding: .utf8)
        try (loginDefs + "# local\n").write(toFile: copy.at("/etc/login.defs"), atomically: false, encoding: .utf8)
        // A local diversion with --rename: dpkg checks coreutils' /bin/true at its new
        // name, so the replacement at the old name is not coreutils' business.
        let divert = try Tool.run("dpkg-divert", ["--root=\(copy.path)", "--local", "--rename",
                                                   "--divert", "/bin/true.orig", "--add", "/bin/true"])
        #expect(divert.status == 0, "\(divert.stderr)")
        try "#!/bin/sh\n".write(toFile: copy.at("/bin/true"), atomically: false, encoding: .utf8)

        let packages = ["systemd", "initramfs-tools", "coreutils", "tzdata", "login", "bash"]
        let dpkg = try Tool.run("dpkg", ["--verify", "--root=\(copy.path)"] + packages)
        let dpkgBad = Set(dpkg.stdout.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let path = fields.last, !fields.dropLast().contains("c") else { return nil }
            return String(path)
        })
        let report = try PackageIntegrity.verify(root: try SystemRoot(copy.path),
                                                 include: { packages.contains($0) })
        let ours = Set(report.mismatches.map(\.path))
        #expect(ours == dpkgBad)
        #expect(ours == ["/lib/systemd/systemd", "/usr/sbin/update-initramfs", "/usr/bin/tac", "/usr/bin/tr",
                         "/usr/share/zoneinfo/Europe/Paris"])
        let problems = Dictionary(uniqueKeysWithValues: report.mismatches.map { ($0.path, $0.problem) })
        #expect(problems["/usr/bin/tac"] == .missing)
        #expect(problems["/usr/bin/tr"] == .notRegularFile)
        let actual = try Tool.run("md5sum", [copy.at("/usr/lib/systemd/systemd")]).stdout.prefix(32)
        #expect(problems["/lib/systemd/systemd"] == .digestMismatch(actual: String(actual)))
    }
}
