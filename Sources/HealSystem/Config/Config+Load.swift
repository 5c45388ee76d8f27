import CInih
import HealCore

extension Config {
    /// Loads `/etc/clarity-heal/clarity-heal.conf` of `root`. A missing file gives the
    /// defaults; anything else in the file that cannot be used is a warning, never an
    /// error (see `Config`).
    public static func load(root: SystemRoot) -> Config.Loaded {
        // Read inside the root: a link is followed as the booted system would, a FIFO is
        // never opened (this runs on every boot's detect --quick).
        let bytes: [UInt8]
        do {
            bytes = try root.files.read(Config.path, limit: 1 << 20)
        } catch {
            if case .missing = error { return Loaded() }
            return Loaded(warnings: [Warning(source: Config.path, line: nil, problem: .unreadable(reason: error.description))])
        }
        return parse(bytes, source: Config.path)
    }

    /// Loads a config file at a host path.
    /// - Parameter displayPath: the path warnings name (the path on the root).
    public static func load(path: String, displayPath: String? = nil) -> Config.Loaded {
        let shown = displayPath ?? path
        let bytes: [UInt8]
        do {
            bytes = try FileReading.bytes(atPath: path, limit: 1 << 20)
        } catch {
            if case .missing = error { return Loaded() }
            return Loaded(warnings: [Warning(source: shown, line: nil, problem: .unreadable(reason: error.description))])
        }
        return parse(bytes, source: shown)
    }
}
