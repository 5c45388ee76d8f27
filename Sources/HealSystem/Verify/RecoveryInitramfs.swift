import Glibc
import HealCore

/// The initramfs the recovery entry boots: a copy of the one the last good boot came up
/// with, kept in `/boot/clarity-heal/initrd.img-<release>` by `verify`.
///
/// The recovery entry boots the machine's own kernel; with its own initramfs, a corrupt or
/// broken initramfs (`initramfs-corrupt`, `initramfs-missing-driver`) would fail the
/// recovery boot the same way and no `heal` would ever run. GRUB's script boots the kept
/// copy when there is one for the kernel (`if [ -f … ]` at boot time) and the kernel's own
/// initramfs otherwise.
///
/// One copy, of the running kernel's release: older ones are removed when a newer one is
/// kept. Skipped (a note) when /boot has less free space than twice the copy's size, so
/// the kernel updates /boot exists for keep their room.
public enum RecoveryInitramfs {
    public static let folder = "/boot/clarity-heal"
    /// Larger than any initramfs of a distro kernel; a bigger file is not copied.
    static let limit = 1 << 30

    public enum Outcome: Sendable, Equatable, Encodable {
        /// Copied (the path kept).
        case kept(String)
        /// The kept copy already has these bytes.
        case unchanged(String)
        /// Nothing kept, and why.
        case skipped(String)
    }

    /// The initramfs of `release`, if this boot came up with it: not a recovery boot (that
    /// one came up with the kept copy, and the kernel's own may be the broken one).
    public static func keep(root: SystemRoot, release: String, commandLine: String) -> Outcome {
        if commandLine.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).contains("clarity.heal=recover") {
            return .skipped("a recovery boot: it did not come up with /boot/initrd.img-\(release)")
        }
        guard release.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._+-~".contains($0)) }), !release.isEmpty else {
            return .skipped("the kernel release \(release) is not a file name")
        }
        let source = "/boot/initrd.img-\(release)"
        let kept = folder + "/initrd.img-\(release)"
        do throws(FileError) {
            let original = try root.files.open(source, limit: limit, links: .refuse)
            let size = original.size
            if let existing = root.files.statusIfPresent(kept, links: .refuse), Int(existing.st_size) == size {
                let keptDigest = try StreamingSHA256.digest(of: root.files.open(kept, limit: limit, links: .refuse))
                let sourceDigest = try StreamingSHA256.digest(of: root.files.open(source, limit: limit, links: .refuse))
                if keptDigest == sourceDigest { return .unchanged(kept) }
            }
            var space = statvfs()
            if statvfs(root.files.hostPath("/boot"), &space) == 0,
               UInt64(space.f_bavail) * UInt64(space.f_frsize) < UInt64(size) * 2 {
                return .skipped("/boot has less than twice \(size) bytes free")
            }
            try root.files.makeDirectories(folder, mode: 0o700)
            let mode = UInt32(original.status.st_mode) & 0o7777
            try root.files.replaceFile(kept, mode: mode) { (file) throws(FileError) in
                try original.stream(limit: limit) { (buffer) throws(FileError) in try file.write(buffer) }
            }
            for name in root.files.entriesIfPresent(folder) where folder + "/" + name != kept && name.hasPrefix("initrd.img-") {
                try? root.files.remove(folder + "/" + name)
            }
            return .kept(kept)
        } catch {
            if case .missing = error { return .skipped("\(source) does not exist") }
            return .skipped("\(error)")
        }
    }

    /// The running kernel's release (`uname -r`).
    public static func runningRelease() -> String {
        // utsname's fields are fixed-size C arrays: read up to the first NUL.
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
