import Glibc
import HealCore

/// `init-missing`: follows the path the kernel takes to init — `init=` or `/sbin/init`, its
/// links, the file, its ELF (or `#!`) interpreter and that one's links — and puts back
/// whatever is missing or not executable from the installed packages' cached .debs: a link
/// as the package ships it, a file checked against md5sums, an execute bit from the
/// package's mode.
public struct InitRestoreStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "init-restore-from-package",
        title: "Restore init, its links and its interpreter from the package cache",
        classes: [.initMissing],
        risk: 1,
        sideEffects: "writes only the missing or damaged files and links on init's path, as their packages ship them",
        priorEffectiveness: 0.9,
        estimatedSeconds: 20)

    public init() {}

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        guard context.root.files.statusIfPresent(DpkgDatabase.infoDirectory) != nil else {
            return "the root has no dpkg database (\(DpkgDatabase.infoDirectory))"
        }
        guard context.root.files.entriesIfPresent(DebPackage.cacheDirectory).contains(where: { $0.hasSuffix(".deb") }) else {
            return "the package cache \(DebPackage.cacheDirectory) holds no .deb"
        }
        return nil
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let entry = try? BootConfiguration.load(context.root).defaultEntry
        var planner = Planner(root: context.root, source: PackagedFiles(root: context.root, strategy: descriptor.id))
        try planner.repair(InitDetector.initPath(for: entry), followInterpreter: true)
        guard !planner.operations.isEmpty else {
            throw PlanError(strategy: descriptor.id, reason: "init's path is intact: nothing to restore")
        }
        return planner.operations
    }

    /// Walks a path as the kernel would after the planned operations, adding operations
    /// for what is broken. Links and files it plans are remembered, so the walk continues
    /// through them as if they were already there.
    struct Planner {
        let root: SystemRoot
        let source: PackagedFiles
        var operations: [RepairOperation] = []
        var steps = 0

        mutating func repair(_ path: String, followInterpreter: Bool) throws(PlanError) {
            steps += 1
            guard steps < 40 else { throw source.error("too many links on the way to \(path)") }
            switch root.resolveWithin(path) {
            case .loop:
                throw source.error("\(path) is a symbolic link loop")
            case .missing(let missing, _):
                let owner = try source.owner(of: missing)
                switch try source.pristine(owner) {
                case .symlink(let target):
                    operations.append(.makeSymlink(path: missing, target: target))
                    let parent = missing.split(separator: "/").dropLast().joined(separator: "/")
                    let next = target.hasPrefix("/") ? target : "/" + parent + "/" + target
                    // The rest of the original path, if the missing piece was a folder link.
                    let rest = path.hasPrefix(missing) ? String(path.dropFirst(missing.count)) : ""
                    try repair(next + rest, followInterpreter: followInterpreter)
                case .file(let contents, let mode):
                    guard path == missing || root.canonical(path) == root.canonical(missing) else {
                        throw source.error("\(missing), a folder on the way to \(path), is missing")
                    }
                    operations.append(.writeFile(path: missing, contents: contents, mode: mode))
                    if followInterpreter, let interpreter = Self.interpreter(of: contents) {
                        try repair(interpreter, followInterpreter: false)
                    }
                }
            case .resolved(let target, _):
                guard let st = root.files.statusIfPresent(target), (st.st_mode & S_IFMT) == S_IFREG else {
                    throw source.error("\(target) exists but is not a regular file; refusing to replace it")
                }
                if UInt32(st.st_mode) & 0o111 == 0 {
                    let owner = try source.owner(of: target)
                    guard case .file(let contents, let mode) = try source.pristine(owner) else {
                        throw source.error("\(owner.listed) is a link in its package")
                    }
                    let current = try? root.files.read(target, limit: 1 << 30)
                    // Same bytes: only the mode is wrong. Otherwise the file is damaged too.
                    operations.append(current == contents ? .setMode(path: target, mode: mode)
                                                          : .writeFile(path: target, contents: contents, mode: mode))
                }
                if followInterpreter, let (interpreter, _) = InitDetector.interpreter(of: target, in: root) {
                    try repair(interpreter, followInterpreter: false)
                }
            }
        }

        /// The interpreter bytes name: ELF `PT_INTERP`, or a `#!` line.
        static func interpreter(of bytes: [UInt8]) -> String? {
            if bytes.starts(with: Array("#!".utf8)) {
                let line = bytes.dropFirst(2).prefix { $0 != 0x0a }
                return String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init)
            }
            if case .interpreter(let path) = ElfProgramInterpreter.read(bytes) { return path }
            return nil
        }
    }
}
