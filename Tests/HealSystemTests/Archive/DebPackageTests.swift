import Foundation
import HealSystem
import Testing
import TestSupport

/// .deb reading against dpkg-deb on the packages of the cached root's apt cache.
@Suite("DebPackage")
struct DebPackageTests {
    /// The host path of the cached package (`cached` names it as the root does).
    static func package(_ name: String) throws -> String {
        let root = try SystemRoot(TestRoot.root)
        return root.host(try #require(DebPackage.cached(named: name, in: root).first))
    }

    /// `dpkg-deb -c` lines (`drwxr-xr-x root/root 0 2023-01-01 00:00 ./usr/`) → `usr`.
    static func dpkgList(_ path: String) throws -> [String] {
        let result = try Tool.run("/usr/bin/dpkg-deb", ["-c", path])
        #expect(result.status == 0)
        return result.stdout.split(separator: "\n").map { line in
            var name = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true).last.map(String.init) ?? ""
            if let arrow = name.range(of: " -> ") { name = String(name[..<arrow.lowerBound]) }
            if let link = name.range(of: " link to ") { name = String(name[..<link.lowerBound]) }
            // tar's listing escapes a backslash in a name as two.
            name = name.replacingOccurrences(of: "\\\\", with: "\\")
            while name.hasPrefix("./") { name.removeFirst(2) }
            while name.count > 1 && name.hasSuffix("/") { name.removeLast() }
            return name.isEmpty ? "." : name
        }
    }

    @Test("entries match dpkg-deb -c", arguments: ["dash", "systemd", "kmod"])
    func entriesMatchDpkgDeb(name: String) throws {
        let path = try Self.package(name)
        let entries = try DebPackage(path: path).entries()
        #expect(entries.map(\.path) == (try Self.dpkgList(path)))
    }

    @Test func membersMatchAr() throws {
        let path = try Self.package("dash")
        let result = try Tool.run("/usr/bin/ar", ["t", path])
        #expect(try DebPackage(path: path).members() == result.stdout.split(separator: "\n").map(String.init))
    }

    // Debian 12 packages still ship /bin and /lib paths; the root's merged /usr links them.
    @Test("file bytes equal the installed file", arguments: ["/lib/systemd/systemd", "/bin/dash"])
    func fileBytesMatchInstalled(file: String) throws {
        let name = file.hasSuffix("dash") ? "dash" : "systemd"
        let package = try DebPackage(path: try Self.package(name))
        let installed = try Data(contentsOf: URL(fileURLWithPath: TestRoot.root + file))
        #expect(Data(try package.contents(of: file)) == installed)
        let symlink = try #require(try package.entries().first { $0.kind == .symlink })
        #expect(symlink.linkTarget?.isEmpty == false)
        #expect(throws: DebPackage.Error.noSuchFile(path: package.path, file: "etc/none")) {
            try package.contents(of: "/etc/none")
        }
    }

    @Test func truncatedPackageIsCorrupt() throws {
        let work = try TemporaryDirectory(prefix: "deb")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: try Self.package("systemd")))
        let path = try work.write("systemd.deb", bytes.prefix(bytes.count / 2))
        #expect(throws: DebPackage.Error.self) { try DebPackage(path: path).entries() }
    }
}
