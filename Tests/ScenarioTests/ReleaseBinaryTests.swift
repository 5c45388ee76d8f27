import Foundation
import HealSystem
import Testing
import TestSupport

/// The release binary that goes into every initramfs (Package.swift's release link flags,
/// Sources/CLazyLibraries): what it loads at start and what it opens later.
struct ReleaseBinaryTests {
    static var releaseBinary: String { TestRoot.repository + "/.build/release/clarity-heal" }

    /// Only glibc is loaded at start: every other library is opened on first use, the C++
    /// runtime and the unwinder are static, and the relocations are packed.
    @Test func startsWithOnlyTheCLibrary() throws {
        let dynamic = try Tool.run("readelf", ["-d", "-W", Self.releaseBinary])
        #expect(dynamic.status == 0, "\(dynamic.stderr)")
        let needed = dynamic.stdout.split(separator: "\n")
            .filter { $0.contains("(NEEDED)") }
            .compactMap { line in line.split(separator: "[").last?.split(separator: "]").first.map(String.init) }
        #expect(Set(needed) == ["libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"], "\(needed)")
        #expect(dynamic.stdout.contains("(RELR)"))
        let symbols = try Tool.run("readelf", ["--dyn-syms", "-W", Self.releaseBinary])
        #expect(!symbols.stdout.contains("HealSystem"), "our symbols are not exported")
    }

    /// Issue 2's budget for what every initramfs carries: at most 5 MB once stripped and
    /// compressed with `zstd -19` (scripts/bench reports the figure next to its floor).
    @Test func fitsTheInitramfsBudgetOnceStrippedAndCompressed() throws {
        let directory = try TemporaryDirectory(prefix: "size")
        let stripped = directory.path + "/clarity-heal"
        let strip = try Tool.run("strip", ["-o", stripped, Self.releaseBinary])
        #expect(strip.status == 0, "\(strip.stderr)")
        let compressed = stripped + ".zst"
        let zstd = try Tool.run("zstd", ["-19", "-q", "-f", stripped, "-o", compressed])
        #expect(zstd.status == 0, "\(zstd.stderr)")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: compressed)[.size] as? Int)
        #expect(size <= 5_000_000, "\(size) bytes compressed")
    }

    /// link/discard-unwind-tables.ld drops the unwind tables: no .eh_frame section and no
    /// PT_GNU_EH_FRAME header are left for an unwinder to find.
    @Test func carriesNoUnwindTables() throws {
        let sections = try Tool.run("readelf", ["-S", "-W", Self.releaseBinary])
        #expect(sections.status == 0, "\(sections.stderr)")
        #expect(!sections.stdout.contains(" .eh_frame "), "\(sections.stdout)")
        let headers = try Tool.run("readelf", ["-l", "-W", Self.releaseBinary])
        #expect(!headers.stdout.contains("GNU_EH_FRAME"), "\(headers.stdout)")
    }

    /// Without unwind tables the release binary still ends every way it can: with findings
    /// (1) and with a usage error (2), through ArgumentParser and the async main; exit 0 is
    /// `everyLibraryOpensOnFirstUse`.
    @Test func endsWithEveryExitStatusWithoutUnwindTables() throws {
        let copy = try TestRoot.writableCopy()
        let fstab = try String(contentsOfFile: copy.at("/etc/fstab"), encoding: .utf8)
        try? FileManager.default.removeItem(atPath: copy.at("/etc/fstab"))
        try (fstab + "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2\n")
            .write(toFile: copy.at("/etc/fstab"), atomically: false, encoding: .utf8)
        let findings = try Tool.run(Self.releaseBinary, [
            "detect", "--root", copy.path, "--class", "fstab-unresolvable-source", "--json",
        ])
        #expect(findings.status == 1, "\(findings.stdout)\(findings.stderr)")
        #expect(findings.stdout.contains("\"fstab-unresolvable-source\""), "\(findings.stdout)")

        let usage = try Tool.run(Self.releaseBinary, ["detect", "--no-such-option"])
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("Unknown option '--no-such-option'"), "\(usage.stderr)")
        let missingRoot = try Tool.run(Self.releaseBinary, ["detect", "--root", copy.path + "/no-such-folder"])
        #expect(missingRoot.status == 2)
        #expect(missingRoot.stderr.contains("cannot use \(copy.path)/no-such-folder as a root"), "\(missingRoot.stderr)")
    }

    /// Each library is found by its soname here, and the forwarders call into it: a
    /// full detect uses libkmod, libmount, libblkid, sd-journal and libarchive.
    @Test func everyLibraryOpensOnFirstUse() throws {
        for library in SharedLibrary.allCases {
            try library.load()
        }
        #expect(SharedLibrary.allCases.map(\.soname) == [
            "libkmod.so.2", "libmount.so.1", "libblkid.so.1", "libsystemd.so.0",
            "libzstd.so.1", "liblz4.so.1", "libacl.so.1", "libbz2.so.1.0", "liblzma.so.5",
        ])
        let result = try Tool.run(Self.releaseBinary, ["detect", "--root", TestRoot.root, "--device", TestRoot.image])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }
}
