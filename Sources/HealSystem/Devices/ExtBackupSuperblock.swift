import Glibc
import HealCore

/// An ext2/3/4 filesystem found by a backup superblock when its primary one is unreadable
/// (libblkid, which reads only the primary, then sees nothing).
///
/// mke2fs keeps copies of the superblock at the start of block groups 1, 3, 5, 7, 9, 25, …
/// (sparse_super): the first is at block 8193 with 1 KiB blocks, 16384 with 2 KiB, 32768
/// with 4 KiB — block group 1's first block (mke2fs(8), `-n`; e2fsck(8), `-b`). `dumpe2fs -o
/// superblock=N -o blocksize=S -h` reads one, only reading the disk.
public struct ExtBackupSuperblock: Sendable, Hashable, Codable {
    /// The backup's block number and the filesystem's block size (`e2fsck -b N -B S`).
    public var superblock: Int
    public var blockSize: Int
    public var uuid: String
    public var label: String?
    /// `ext4` when the features say so (extents or a 64-bit layout), `ext3` with a journal,
    /// else `ext2`.
    public var fsType: String
    /// The backup's header as dumpe2fs printed it (bounded), for the evidence.
    public var header: String

    /// Where the first backup lies for each block size, the most common size first.
    static let candidates = [(32768, 4096), (8193, 1024), (16384, 2048)]

    /// The first backup superblock of `device` that reads as ext2/3/4; nil when none does.
    public static func find(_ device: String, runner: any CommandRunner = SpawnCommandRunner()) -> ExtBackupSuperblock? {
        for (superblock, blockSize) in candidates {
            if let found = read(device, superblock: superblock, blockSize: blockSize, runner: runner) { return found }
        }
        return nil
    }

    /// The backup at `superblock` with `blockSize`, read with dumpe2fs; nil when it is not
    /// an ext superblock there.
    public static func read(_ device: String, superblock: Int, blockSize: Int,
                            runner: any CommandRunner = SpawnCommandRunner()) -> ExtBackupSuperblock? {
        guard let result = try? runner.run("dumpe2fs", ["-o", "superblock=\(superblock)", "-o", "blocksize=\(blockSize)", "-h", device]),
              result.succeeded else { return nil }
        return parse(result.output, superblock: superblock, blockSize: blockSize)
    }

    /// Reads dumpe2fs's header: the UUID, the volume name, the features, the block size.
    static func parse(_ output: String, superblock: Int, blockSize: Int) -> ExtBackupSuperblock? {
        var fields: [String: String] = [:]
        let lines = output.split(separator: "\n").prefix(200)
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            fields[String(line[..<colon])] = String(value.prefix(512))
        }
        guard fields["Filesystem magic number"] == "0xEF53", let uuid = fields["Filesystem UUID"],
              uuid.count == 36, Int(fields["Block size"] ?? "") == blockSize else { return nil }
        let features = Set((fields["Filesystem features"] ?? "").split(separator: " ").map(String.init))
        let fsType = features.contains("extent") || features.contains("64bit") ? "ext4"
            : features.contains("has_journal") ? "ext3" : "ext2"
        let label = fields["Filesystem volume name"].flatMap { $0 == "<none>" ? nil : $0 }
        return ExtBackupSuperblock(superblock: superblock, blockSize: blockSize, uuid: uuid, label: label, fsType: fsType,
                                   header: lines.prefix(12).joined(separator: "\n"))
    }
}
