import CBlkid
import Glibc

/// What libblkid reads from one device or image: the superblock's identity and, on a
/// partition, the partition-table entry.
///
/// `values` holds every NAME=value pair the probe produced, as `blkid -p -o export` prints
/// them (without DEVNAME); the properties name the ones the rest of the program uses.
public struct BlockInfo: Sendable, Hashable {
    /// Every value of the probe: TYPE, UUID, LABEL, VERSION, BLOCK_SIZE, USAGE,
    /// PART_ENTRY_UUID, PTTYPE, …
    public var values: [String: String]

    public init(values: [String: String]) {
        self.values = values
    }

    /// Filesystem or signature type (`ext4`, `vfat`, `swap`); nil when nothing but a
    /// partition table was found (see `partitionTableType`).
    public var type: String? { values["TYPE"] }
    public var uuid: String? { values["UUID"] }
    public var label: String? { values["LABEL"] }
    /// The GPT/MBR entry's UUID of a partition; `blkid` without `-p` calls it PARTUUID.
    public var partUUID: String? { values["PART_ENTRY_UUID"] }
    /// The GPT entry's name of a partition; `blkid` without `-p` calls it PARTLABEL.
    public var partLabel: String? { values["PART_ENTRY_NAME"] }
    /// `filesystem`, `other` (swap), `raid`, `crypto`.
    public var usage: String? { values["USAGE"] }
    /// The partition-table type when the probed object is a whole disk with one.
    public var partitionTableType: String? { values["PTTYPE"] }
}

/// One libblkid low-level probe of a device node or an image file.
///
/// Owns a `blkid_probe` (freed with `blkid_free_probe`). Use `BlockProbe.identify(_:)`
/// for the common case; keep the object only to probe the same file again.
public final class BlockProbe {
    /// Why a probe gave no identity.
    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        /// The file could not be opened (`blkid_new_probe_from_filename` failed).
        case cannotOpen(path: String, reason: String)
        /// More than one signature claims the device: `blkid_do_safeprobe` returned -2.
        /// Mounting by guess would be unsafe; `wipefs` shows them.
        case ambivalent(path: String)
        /// Reading or parsing failed (`blkid_do_safeprobe` returned -1).
        case probeFailed(path: String, reason: String)

        public var description: String {
            switch self {
            case .cannotOpen(let path, let reason): "cannot probe \(path): \(reason)"
            case .ambivalent(let path):
                "cannot probe \(path): ambivalent result (more than one signature; see wipefs)"
            case .probeFailed(let path, let reason): "cannot probe \(path): \(reason)"
            }
        }
    }

    public let path: String
    private let handle: blkid_probe

    /// Opens `path` read-only for probing (`blkid_new_probe_from_filename`) and enables
    /// the superblocks chain (label, UUID, type, secondary type, usage, version) and the
    /// partitions chain with entry details, as `blkid -p` does.
    /// - Throws: `BlockProbe.Error.cannotOpen`.
    public init(path: String) throws(BlockProbe.Error) {
        do { try SharedLibrary.blkid.load() } catch { throw .cannotOpen(path: path, reason: "\(error)") }
        errno = 0
        guard let handle = blkid_new_probe_from_filename(path) else {
            let code = errno
            throw .cannotOpen(path: path, reason: code == 0 ? "not a probeable file" : String(cString: strerror(code)))
        }
        self.path = path
        self.handle = handle
        blkid_probe_enable_superblocks(handle, 1)
        blkid_probe_set_superblocks_flags(handle, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE
            | BLKID_SUBLKS_SECTYPE | BLKID_SUBLKS_USAGE | BLKID_SUBLKS_VERSION)
        blkid_probe_enable_partitions(handle, 1)
        blkid_probe_set_partitions_flags(handle, BLKID_PARTS_ENTRY_DETAILS)
    }

    deinit {
        blkid_free_probe(handle)
    }

    /// Runs `blkid_do_safeprobe` and collects every value (`blkid_probe_get_value`).
    /// - Returns: the identity, or nil when no signature at all was found (return 1).
    /// - Throws: `.ambivalent` for -2, `.probeFailed` for -1.
    public func probe() throws(BlockProbe.Error) -> BlockInfo? {
        errno = 0
        let rc = blkid_do_safeprobe(handle)
        let code = errno
        switch rc {
        case 0: break
        case 1: return nil
        case -2: throw .ambivalent(path: path)
        default:
            throw .probeFailed(path: path, reason: code == 0 ? "probe error \(rc)" : String(cString: strerror(code)))
        }
        var values: [String: String] = [:]
        for index in 0..<max(0, blkid_probe_numof_values(handle)) {
            var name: UnsafePointer<CChar>?
            var data: UnsafePointer<CChar>?
            var length = 0
            guard blkid_probe_get_value(handle, index, &name, &data, &length) == 0,
                  let name, let data else { continue }
            // `length` counts the terminating NUL; values are NUL-terminated strings.
            values[String(cString: name)] = String(cString: data)
        }
        return BlockInfo(values: values)
    }

    /// Probes `path` once: the identity, or nil when it carries no known signature.
    public static func identify(_ path: String) throws(BlockProbe.Error) -> BlockInfo? {
        try BlockProbe(path: path).probe()
    }
}
