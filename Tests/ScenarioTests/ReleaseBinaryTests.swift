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

    /// Each library is found by its soname here, and the forwarders call into it: a
    /// full detect uses libkmod, libmount, libblkid, sd-journal and libarchive.
    @Test func everyLibraryOpensOnFirstUse() throws {
        for library in SharedLibrary.allCases {
            try library.load()
        }
        #expect(SharedLibrary.allCases.map(\.soname) == [
            "libkmod.so.2", "libmount.so.1", "libblkid.so.1", "libsystemd.so.0",
            "libzstd.so.1", "liblz4.so.1", "libacl.so.1",
        ])
        let result = try Tool.run(Self.releaseBinary, ["detect", "--root", TestRoot.root, "--device", TestRoot.image])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }
}
