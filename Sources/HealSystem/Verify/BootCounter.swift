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
            let host = root.host(path)
            guard let bytes = try? FileReading.bytes(atPath: host, limit: 1 << 20) else { continue }
            var block: GrubEnvBlock
            do {
                block = try GrubEnvBlock(parsing: bytes)
            } catch {
                throw .unparsable(path: path, reason: error.description)
            }
            if block[BootFailuresDetector.attemptsVariable] == "0" { return nil }
            block.set(BootFailuresDetector.attemptsVariable, "0")
            do {
                try DurableWrite.replace(host, with: try block.serialized())
            } catch let error as GrubEnvBlock.Error {
                throw .unparsable(path: path, reason: error.description)
            } catch {
                throw .write("\(error)")
            }
            return path
        }
        return nil
    }
}
