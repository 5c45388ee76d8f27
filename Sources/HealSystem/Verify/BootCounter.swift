import HealCore

/// clarity-heal's boot attempt counter in grubenv (`clarity_heal_attempts`, incremented by
/// its GRUB script before each boot; see `BootFailuresDetector`). A verified boot resets it.
public enum BootCounter {
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// grubenv is there but not a valid block: it is left alone (a repair's business).
        case unparsable(path: String, reason: String)
        case write(String)

        public var description: String {
            switch self {
            case .unparsable(let path, let reason): "cannot reset the boot counter in \(path): \(reason)"
            case .write(let reason): "cannot reset the boot counter: \(reason)"
            }
        }
    }

    /// Sets `clarity_heal_attempts=0` in the root's grubenv, atomically (the 1024-byte
    /// block rewritten whole through a temporary file and a rename, as grub-editenv does).
    /// - Returns: the grubenv path (on the root) changed, or nil when the root has no
    ///   grubenv or the counter is already 0.
    @discardableResult
    public static func reset(root: SystemRoot) throws(BootCounter.Error) -> String? {
        for directory in BootConfiguration.grubDirectories {
            let path = directory + "/grubenv"
            // GRUB follows a link to the block (Fedora's grubenv -> ../efi/EFI/fedora/grubenv):
            // the block is written where the link leads inside the root, never the link
            // replaced, never a link followed on the way to the write.
            let target = root.canonical(path)
            guard let bytes = try? root.files.read(target, limit: 1 << 20, links: .refuse) else { continue }
            var block: GrubEnvBlock
            do {
                block = try GrubEnvBlock(parsing: bytes)
            } catch {
                throw .unparsable(path: path, reason: error.description)
            }
            // Absent: GRUB's script never counted here, and a healthy root is never changed.
            guard let count = block[BootFailuresDetector.attemptsVariable], count != "0" else { return nil }
            block.set(BootFailuresDetector.attemptsVariable, "0")
            let serialized: [UInt8]
            do {
                serialized = try block.serialized()
            } catch {
                throw .unparsable(path: path, reason: error.description)
            }
            // grubenv keeps its mode (0644 on Debian, 0600 on Fedora).
            let mode = UInt32(root.files.statusIfPresent(target, links: .refuse)?.st_mode ?? 0o644) & 0o7777
            do {
                try root.files.replaceFile(target, bytes: serialized, mode: mode)
            } catch {
                throw .write(error.description)
            }
            return path
        }
        return nil
    }
}
