/// What a fix package records of a block-level filesystem repair (`e2fsck -fy` tried on a
/// copy-on-write snapshot of the device): enough for apply to tell it is still the same
/// filesystem, and for a person to see what the check found before.
public struct FilesystemRepair: Sendable, Codable, Hashable {
    /// The device as the examined system named it: a block device node or an image file.
    public var device: String
    /// The filesystem UUID (libblkid); apply refuses a device that no longer carries it.
    public var uuid: String
    /// `ext2`, `ext3` or `ext4`.
    public var fsType: String
    /// Size of the device in bytes when the fix was made.
    public var size: Int64
    /// `e2fsck -fn` on the device before the repair: its exit status and output.
    public var checkStatus: Int32
    public var checkOutput: String
    /// `e2fsck -fy` on the snapshot: its exit status and output.
    public var repairStatus: Int32
    public var repairOutput: String
    /// A repair from a backup superblock (the primary one unreadable): its block number and
    /// the filesystem's block size, given to e2fsck as `-b N -B S` at apply too. Nil for a
    /// repair from the primary superblock.
    public var backupSuperblock: Int?
    public var blockSize: Int?

    public init(device: String, uuid: String, fsType: String, size: Int64, checkStatus: Int32, checkOutput: String,
                repairStatus: Int32, repairOutput: String) {
        self.device = device
        self.uuid = uuid
        self.fsType = fsType
        self.size = size
        self.checkStatus = checkStatus
        self.checkOutput = checkOutput
        self.repairStatus = repairStatus
        self.repairOutput = repairOutput
    }

    /// What e2fsck is given before the device to repair it: `-fy`, and `-b N -B S` for a
    /// repair from a backup superblock.
    public var repairArguments: [String] {
        var arguments = ["-fy"]
        if let backupSuperblock, let blockSize { arguments += ["-b", "\(backupSuperblock)", "-B", "\(blockSize)"] }
        return arguments
    }

    /// What an `e2fsck` exit status means (e2fsck(8), EXIT CODE; the bits add up).
    public enum Outcome: Sendable, Hashable {
        /// 0: nothing to fix; 1: errors corrected.
        case clean, corrected
        /// 2: errors corrected, the system should be rebooted (a mounted root was checked).
        case correctedRebootNeeded
        /// 4 and above: errors left uncorrected, an operational error, a usage error,
        /// cancelled, or a shared-library error.
        case failed(Int32)

        public init(status: Int32) {
            switch status {
            case 0: self = .clean
            case 1: self = .corrected
            case 2, 3: self = .correctedRebootNeeded
            default: self = .failed(status)
            }
        }

        public var succeeded: Bool {
            if case .failed = self { return false }
            return true
        }
    }

    /// The last `lines` lines of a tool's output, for a manifest or a note.
    public static func tail(_ text: String, lines: Int = 40) -> String {
        let all = text.split(separator: "\n", omittingEmptySubsequences: true)
        let kept = all.suffix(lines).joined(separator: "\n")
        return all.count > lines ? "… \(all.count - lines) lines before\n" + kept : kept
    }
}
