import Glibc
import HealCore

/// Reports `init-missing`: the default entry's init (`init=`, else `/sbin/init`) is absent,
/// a dangling link, not an executable regular file, or names an ELF interpreter (or a
/// `#!` interpreter) that is missing inside the root.
///
/// Links are followed inside the root: an absolute target (`/sbin/init ->
/// /lib/systemd/systemd`) is relative to the root, as it is after `switch_root`.
public struct InitDetector: Detector {
    public let name = "init"
    public let classes: [FailureClass] = [.initMissing]
    private let defaultEntry: BootEntrySource

    /// - Parameter defaultEntry: where the default boot entry comes from; the root's boot
    ///   configuration by default. With no entry, `/sbin/init` is checked.
    public init(defaultEntry: @escaping BootEntrySource = BootEntrySources.configured) {
        self.defaultEntry = defaultEntry
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let entry = try defaultEntry(context.root)
        return Self.findings(for: entry, root: context.root)
    }

    /// The init the kernel hands over to after the initramfs: the entry's `init=`, or
    /// `/sbin/init` (initramfs-tools' default; dracut's too).
    public static func initPath(for entry: BootEntry?) -> String {
        entry?.option("init") ?? "/sbin/init"
    }

    /// Checks the init of `entry` (or `/sbin/init` without one) in `root`.
    public static func findings(for entry: BootEntry?, root: SystemRoot) -> [Finding] {
        let initPath = initPath(for: entry)
        var evidence: [Evidence] = []
        if let entry, let given = entry.option("init") {
            evidence.append(Evidence(source: entry.source, detail: "entry \"\(entry.title)\" sets init=\(given)"))
        }
        func finding(_ summary: String, _ more: [Evidence]) -> [Finding] {
            [Finding(.initMissing, summary: summary, evidence: evidence + more)]
        }

        let resolution = root.resolveWithin(initPath)
        let chain = resolution.chain.map { Evidence(source: $0.link, detail: "-> \($0.target)") }
        guard case .resolved(let target, _) = resolution else {
            if case .loop = resolution {
                return finding("init \(initPath) is a symbolic link loop", chain)
            }
            if chain.isEmpty {
                return finding("init \(initPath) does not exist", [Evidence(source: initPath, detail: "does not exist")])
            }
            return finding("init \(initPath) is a dangling link to \(resolution.path)",
                           chain + [Evidence(source: resolution.path, detail: "does not exist")])
        }
        guard let st = root.files.statusIfPresent(target), (st.st_mode & S_IFMT) == S_IFREG else {
            return finding("init \(initPath) is not a regular file", chain + [Evidence(source: target, detail: "not a regular file")])
        }
        let mode = UInt32(st.st_mode) & 0o7777
        guard mode & 0o111 != 0 else {
            return finding("init \(initPath) is not executable",
                           chain + [Evidence(source: target, detail: "mode \(String(mode, radix: 8)), no execute bit")])
        }
        // The loader the kernel needs before init's first instruction.
        switch Self.interpreter(of: target, in: root) {
        case .some((let interpreter, let kind)):
            let found = root.resolveWithin(interpreter)
            if case .resolved(let path, _) = found,
               let ist = root.files.statusIfPresent(path), (ist.st_mode & S_IFMT) == S_IFREG {
                return []
            }
            let interpreterChain = found.chain.map { Evidence(source: $0.link, detail: "-> \($0.target)") }
            return finding("the \(kind) interpreter \(interpreter) of init \(initPath) is missing",
                           chain + [Evidence(source: target, detail: "\(kind) interpreter \(interpreter)")]
                           + interpreterChain + [Evidence(source: found.path, detail: "does not exist")])
        case .none:
            return []
        }
    }

    /// The interpreter a file names: ELF `PT_INTERP`, or a `#!` line. Reads at most
    /// 1 MiB of the file.
    static func interpreter(of path: String, in root: SystemRoot) -> (path: String, kind: String)? {
        // Opened once inside the root (a regular file only); the prefix is read from it.
        guard let file = try? root.files.open(path, limit: .max, links: .refuse) else { return nil }
        var prefix = readPrefix(file, count: 64 << 10)
        if prefix.starts(with: Array("#!".utf8)) {
            let line = prefix.dropFirst(2).prefix { $0 != 0x0a }
            let words = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" })
            return words.first.map { (String($0), "script") }
        }
        for _ in 0..<2 {
            switch ElfProgramInterpreter.read(prefix) {
            case .interpreter(let interpreter): return (interpreter, "ELF")
            case .needsMoreBytes(let needed) where needed <= 1 << 20 && needed > prefix.count:
                prefix = readPrefix(file, count: needed)
            default: return nil
            }
        }
        return nil
    }

    private static func readPrefix(_ file: OpenFile, count: Int) -> [UInt8] {
        let fd = file.descriptor
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return retryingEINTR { pread(fd, base + filled, count - filled, off_t(filled)) }
            }
            if n <= 0 { break }
            filled += n
        }
        return Array(buffer[0..<filled])
    }
}
