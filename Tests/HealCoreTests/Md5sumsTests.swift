import Testing
@testable import HealCore

@Suite("Md5sums")
struct Md5sumsTests {
    @Test func parsesDpkgLines() {
        let text = """
        3b1ee1bd4d1f3e29a5e67f1e1b9f3b71  usr/bin/bash
        D41D8CD98F00B204E9800998ECF8427E  usr/share/doc/bash/file with spaces

        """
        let sums = Md5sums.parse(text, source: "/var/lib/dpkg/info/bash.md5sums")
        #expect(sums.errors.isEmpty)
        #expect(sums.entries == [
            .init(digest: "3b1ee1bd4d1f3e29a5e67f1e1b9f3b71", path: "/usr/bin/bash", line: 1),
            .init(digest: "d41d8cd98f00b204e9800998ecf8427e", path: "/usr/share/doc/bash/file with spaces", line: 2),
        ])
    }

    @Test(arguments: [
        ("3b1ee1bd4d1f3e29  usr/bin/bash", "too short for a digest and a path"),
        ("3b1ee1bd4d1f3e29a5e67f1e1b9f3bzz  usr/bin/bash", "the digest is not 32 hex digits"),
        ("3b1ee1bd4d1f3e29a5e67f1e1b9f3b71 usr/bin/bash", "expected two spaces after the digest"),
        ("3b1ee1bd4d1f3e29a5e67f1e1b9f3b71\tusr/bin/bash", "expected two spaces after the digest"),
        ("3b1ee1bd4d1f3e29a5e67f1e1b9f3b71  ", "too short for a digest and a path"),
    ])
    func reportsEachBadLine(line: String, reason: String) {
        let good = "3b1ee1bd4d1f3e29a5e67f1e1b9f3b71  usr/bin/sh"
        let sums = Md5sums.parse(good + "\n" + line + "\n" + good, source: "/info/x.md5sums")
        #expect(sums.entries.map(\.line) == [1, 3])
        #expect(sums.errors == [.badLine(source: "/info/x.md5sums", line: 2, reason: reason)])
        #expect(sums.errors.first?.description == "cannot parse /info/x.md5sums line 2: \(reason)")
    }

    @Test(arguments: [
        ("libc6:amd64.md5sums", "libc6", "amd64"),
        ("linux-image-6.1.0-50-cloud-amd64.md5sums", "linux-image-6.1.0-50-cloud-amd64", nil),
        ("bash.md5sums", "bash", nil),
    ] as [(String, String, String?)])
    func packageFromInfoFileName(file: String, name: String, architecture: String?) throws {
        let parsed = try #require(Md5sums.package(fromFileName: file))
        #expect(parsed.name == name)
        #expect(parsed.architecture == architecture)
    }

    @Test func otherInfoFilesAreNotChecksums() {
        #expect(Md5sums.package(fromFileName: "bash.list") == nil)
        #expect(Md5sums.package(fromFileName: ".md5sums") == nil)
    }

    @Test func diversionsComeInTriples() throws {
        let text = "/bin/sh\n/bin/sh.distrib\ndash\n/usr/bin/true\n/usr/bin/true.orig\n:\n"
        let diversions = try Diversion.parseAll(text, source: "/var/lib/dpkg/diversions")
        #expect(diversions == [
            Diversion(from: "/bin/sh", to: "/bin/sh.distrib", package: "dash"),
            Diversion(from: "/usr/bin/true", to: "/usr/bin/true.orig", package: nil),
        ])
        // dpkg checks the file of every other package at the new name; the diverting
        // package's own file stays where it is.
        #expect(Diversion.installedPath(of: "/bin/sh", package: "bash", in: diversions) == "/bin/sh.distrib")
        #expect(Diversion.installedPath(of: "/bin/sh", package: "dash", in: diversions) == "/bin/sh")
        #expect(Diversion.installedPath(of: "/usr/bin/true", package: "coreutils", in: diversions) == "/usr/bin/true.orig")
        #expect(Diversion.installedPath(of: "/usr/bin/false", package: "coreutils", in: diversions) == "/usr/bin/false")
    }

    @Test func truncatedDiversions() {
        #expect(throws: Diversion.Error.truncated(source: "d", line: 4)) {
            try Diversion.parseAll("/a\n/b\np\n/c\n/d\n", source: "d")
        }
        #expect(throws: Diversion.Error.notAbsolute(source: "d", line: 2, path: "b")) {
            try Diversion.parseAll("/a\nb\np\n", source: "d")
        }
    }

    @Test(arguments: [
        ("linux-image-6.1.0-50-cloud-amd64", true), ("libc6:amd64", true), ("systemd", true),
        ("grub-efi-amd64-bin", true), ("util-linux", true), ("tzdata", false), ("perl-base", false),
        ("apt", false), ("libc6-dev", false),
    ])
    func bootCriticalPackages(package: String, critical: Bool) {
        #expect(BootCriticalPackages.contains(package) == critical)
    }

    @Test(arguments: [
        ("/lib/systemd/systemd", true),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/drivers/block/virtio_blk.ko", true),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/fs/ext4/ext4.ko", true),
        ("/boot/vmlinuz-6.1.0-50-cloud-amd64", true),
        ("/lib/modules/6.1.0-50-cloud-amd64/modules.order", true),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/net/ipv6/ipv6.ko", false),
        ("/usr/lib/modules/6.1.0-50-cloud-amd64/kernel/drivers/net/virtio_net.ko", false),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/sound/core/snd.ko", false),
        ("/usr/share/doc/systemd/copyright", false),
        ("/usr/share/locale/de/LC_MESSAGES/coreutils.mo", false),
        ("/usr/share/systemd/language-fallback-map", true),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/fs/nfs/nfs.ko", false),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/fs/smb/client/cifs.ko", false),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/arch/x86/kvm/kvm.ko", false),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/fs/xfs/xfs.ko", true),
        ("/lib/modules/6.1.0-50-cloud-amd64/kernel/drivers/md/dm-mod.ko", true),
        ("/lib/udev/hwdb.d/20-pci-vendor-model.hwdb", false),
        ("/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so", false),
        ("/usr/lib/aarch64-linux-gnu/gconv/gconv-modules.cache", false),
        ("/lib/x86_64-linux-gnu/libc.so.6", true),
        ("/lib/udev/rules.d/60-persistent-storage.rules", true),
    ])
    func filesThatMatterToTheBoot(path: String, matters: Bool) {
        #expect(BootCriticalPackages.matters(path: path) == matters)
    }
}
