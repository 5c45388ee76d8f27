// swift-tools-version:6.0
import PackageDescription

// One binary runs in the initramfs, the recovery boot, the microVM guest and the running
// system. HealCore and HealSystem import FoundationEssentials at most (ArgumentParser
// already links it); full Foundation would drag ICU into every initramfs.
// The release binary goes into every initramfs and starts on every boot, so our modules are
// compiled for size:
// - -Osize;
// - public symbols internalized at link and each function in its own section: by default
//   every public function is marked as used, so the linker's --gc-sections could drop none
//   of them (about 90 KB compressed).
//   The compiler skips code generation when a module's IR hash is unchanged, so a change of
//   these flags alone needs the module's .o files removed to take effect.
let releaseSwiftFlags = [
    "-Osize", "-Xfrontend", "-internalize-at-link", "-Xfrontend", "-function-sections",
]
// It is linked for size and start-up (figures in scripts/bench):
// - lld with packed relative relocations (DT_RELR, glibc >= 2.36): the relocation table
//   shrinks from 1.1 MB to 9 KB;
// - no dynamic symbol table for our own symbols (the static stdlib's link arguments export
//   everything; nothing dlopens the executable);
// - the C++ runtime from libstdc++.a (link/static-libstdc++ says why) and the unwinder from
//   libgcc_eh.a, so neither shared library is loaded on each start.
// - no unwind tables (link/discard-unwind-tables.ld says why it is safe): 0.5 MB of the
//   5.2 MB compressed.
let releaseLinkFlags = [
    "-use-ld=lld", "-Xclang-linker", "-static-libgcc",
    "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
    "-Xlinker", "--no-export-dynamic",
    // Identical functions folded into one (the generic specializations -Osize leaves are
    // often byte for byte the same) and sections nothing reaches dropped: the binary goes
    // into every initramfs.
    "-Xlinker", "--icf=all", "-Xlinker", "--gc-sections",
    "-L", Context.packageDirectory + "/link/static-libstdc++",
    "-Xlinker", "-T", "-Xlinker", Context.packageDirectory + "/link/discard-unwind-tables.ld",
]

let package = Package(
    name: "clarity-heal",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "clarity-heal", targets: ["clarity-heal"]),
        // The fleet service and the machine's agent for it (docs/fleet.md): a second product,
        // never linked into the boot binary. Build it with `--product clarity-fleet`.
        .executable(name: "clarity-fleet", targets: ["clarity-fleet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // clarity-fleet only.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3" ..< "5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Headers only: these four are opened with dlopen on first use (CLazyLibraries), so a
        // start that needs none of them (the boot path's `detect --quick`) does not load them.
        .systemLibrary(name: "CBlkid", providers: [.apt(["libblkid-dev"])]),
        .systemLibrary(name: "CMount", providers: [.apt(["libmount-dev"])]),
        .systemLibrary(name: "CKmod", providers: [.apt(["libkmod-dev"])]),
        .systemLibrary(name: "CSystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(name: "CLazyLibraries"),
        // Linked statically by HealSystem's linker settings: the shared libarchive pulls in
        // libxml2 and, through it, ICU (`ldd` of Debian 12's libarchive.so.13), and inih is
        // small enough to carry.
        .systemLibrary(name: "CArchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CInih", providers: [.apt(["libinih-dev"])]),
        // zlib: pstore's compressed records (`*.enc.z`). Headers only: HealSystem links
        // libz.a already (libarchive needs it), so nothing new is loaded.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Linux headers Glibc's module map leaves out (xattrs); nothing to link.
        .systemLibrary(name: "CLinux"),
        // libmd: the digests dpkg itself uses for its *.md5sums.
        .systemLibrary(name: "CMd", providers: [.apt(["libmd-dev"])]),

        .target(
            name: "HealCore",
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"]), .unsafeFlags(releaseSwiftFlags, .when(configuration: .release))]
        ),
        .target(
            name: "HealSystem",
            dependencies: [
                "HealCore", "CLazyLibraries", "CBlkid", "CMount", "CKmod", "CSystemd", "CArchive", "CInih", "CMd", "CLinux", "CZlib",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"]), .unsafeFlags(releaseSwiftFlags, .when(configuration: .release))],
            linkerSettings: [
                .linkedLibrary(":libarchive.a"),
                .linkedLibrary(":libz.a"),
                .linkedLibrary(":libnettle.a"),
                // libzstd, liblz4, libbz2, liblzma and libacl: opened on first use (CLazyLibraries).
                .linkedLibrary(":libinih.a"), .linkedLibrary(":libmd.a"),
            ]
        ),
        .executableTarget(
            name: "clarity-heal",
            dependencies: [
                "HealCore", "HealSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"]), .unsafeFlags(releaseSwiftFlags, .when(configuration: .release))],
            linkerSettings: [.unsafeFlags(releaseLinkFlags, .when(configuration: .release))]
        ),

        // The fleet (docs/fleet.md). FleetProtocol is what a machine and the service agree on:
        // the signed submission, the anonymized outcome, the insight.
        .target(
            name: "FleetProtocol",
            dependencies: ["HealCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        ),
        .target(
            name: "FleetServer",
            dependencies: [
                "FleetProtocol", "HealCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        ),
        .target(
            name: "FleetAgent",
            dependencies: [
                "FleetProtocol", "HealCore", "HealSystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        ),
        .executableTarget(
            name: "clarity-fleet",
            dependencies: [
                "FleetProtocol", "FleetServer", "FleetAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        ),

        // Shared by the suites: the cached Debian test root, overlay copies, real tools.
        .target(name: "TestSupport", dependencies: ["CLinux"], path: "Tests/TestSupport"),
        .testTarget(name: "HealCoreTests", dependencies: ["HealCore"]),
        .testTarget(
            name: "HealSystemTests",
            dependencies: ["HealCore", "HealSystem", "TestSupport"],
            resources: [.copy("Resources")]
        ),
        .testTarget(
            name: "ScenarioTests",
            dependencies: ["HealCore", "HealSystem", "TestSupport"]
        ),
        // The fleet: the service on SQLite and PostgreSQL, machines' agents, as real processes.
        .testTarget(
            name: "FleetTests",
            dependencies: ["HealCore", "HealSystem", "FleetProtocol", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
