// swift-tools-version:6.0
import PackageDescription

// One binary runs in the initramfs, the recovery boot, the microVM guest and the running
// system. HealCore and HealSystem import FoundationEssentials at most (ArgumentParser
// already links it); full Foundation would drag ICU into every initramfs.
let package = Package(
    name: "clarity-heal",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "clarity-heal", targets: ["clarity-heal"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "CBlkid", pkgConfig: "blkid", providers: [.apt(["libblkid-dev"])]),
        .systemLibrary(name: "CMount", pkgConfig: "mount", providers: [.apt(["libmount-dev"])]),
        .systemLibrary(name: "CKmod", pkgConfig: "libkmod", providers: [.apt(["libkmod-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // Linked statically by HealSystem's linker settings: the shared libarchive pulls in
        // libxml2 and ICU (REFERENCE.md §5), and inih is small enough to carry.
        .systemLibrary(name: "CArchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CInih", providers: [.apt(["libinih-dev"])]),
        // Linux headers Glibc's module map leaves out (xattrs); nothing to link.
        .systemLibrary(name: "CLinux"),
        // libmd: the digests dpkg itself uses for its *.md5sums.
        .systemLibrary(name: "CMd", providers: [.apt(["libmd-dev"])]),

        .target(
            name: "HealCore",
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        ),
        .target(
            name: "HealSystem",
            dependencies: [
                "HealCore", "CBlkid", "CMount", "CKmod", "CSystemd", "CArchive", "CInih", "CMd", "CLinux",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])],
            linkerSettings: [
                .linkedLibrary(":libarchive.a"), .linkedLibrary(":liblzma.a"),
                .linkedLibrary(":libbz2.a"), .linkedLibrary(":libz.a"),
                .linkedLibrary(":libnettle.a"), .linkedLibrary(":libzstd.so.1"),
                .linkedLibrary(":liblz4.so.1"), .linkedLibrary(":libacl.so.1"),
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
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        ),

        // Shared by the suites: the cached Debian test root, overlay copies, real tools.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
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
    ],
    swiftLanguageModes: [.v6]
)
