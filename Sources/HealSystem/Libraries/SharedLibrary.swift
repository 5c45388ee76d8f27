import CLazyLibraries

/// The C libraries clarity-heal opens on first use rather than at start (CLazyLibraries says
/// why). Each wrapper loads its library before its first call, so a missing library becomes
/// the wrapper's error ("cannot load libkmod.so.2: …") instead of an exit deep in a call.
public enum SharedLibrary: Sendable, CaseIterable {
    case kmod, mount, blkid, systemd
    /// What the static libarchive calls: compressed initramfs images (zstd, lz4, bzip2,
    /// xz and lzma), ACLs in backups.
    case zstd, lz4, acl, bzip2, lzma

    public struct LoadError: Error, Equatable, CustomStringConvertible {
        public var soname: String
        public var reason: String
        public var description: String { "cannot load \(soname): \(reason)" }
    }

    /// The soname opened, as the hooks copy it into the initramfs ("libkmod.so.2").
    public var soname: String { String(cString: heal_library_soname(cValue)) }

    /// Opens the library (once; later calls return at once).
    public func load() throws(LoadError) {
        var reason = [CChar](repeating: 0, count: 512)
        guard heal_library_load(cValue, &reason, reason.count) != 0 else { return }
        let text = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw LoadError(soname: soname, reason: text)
    }

    private var cValue: heal_library {
        switch self {
        case .kmod: HEAL_LIBRARY_KMOD
        case .mount: HEAL_LIBRARY_MOUNT
        case .blkid: HEAL_LIBRARY_BLKID
        case .systemd: HEAL_LIBRARY_SYSTEMD
        case .zstd: HEAL_LIBRARY_ZSTD
        case .lz4: HEAL_LIBRARY_LZ4
        case .acl: HEAL_LIBRARY_ACL
        case .bzip2: HEAL_LIBRARY_BZIP2
        case .lzma: HEAL_LIBRARY_LZMA
        }
    }
}
