import CKmod
import Glibc

/// A kernel module as the module index of one kernel version knows it.
public struct KernelModule: Sendable, Hashable, CustomStringConvertible {
    /// Where the module's code lives.
    public enum Location: Sendable, Hashable {
        /// A `.ko` file; `relativePath` is relative to `/lib/modules/VER` (`kernel/fs/xfs/xfs.ko`).
        case file(relativePath: String)
        /// Compiled into the kernel image (listed in `modules.builtin`).
        case builtin
        /// Neither in `modules.dep` nor in `modules.builtin` (a `modprobe.d` alias to
        /// nothing, or an index that does not match the tree).
        case unknown
    }

    /// The module name with underscores (`virtio_blk`, `crc32c_intel`).
    public var name: String
    public var location: Location

    public init(name: String, location: Location) {
        self.name = name
        self.location = location
    }

    public var isBuiltin: Bool { location == .builtin }

    /// The file relative to the modules folder, nil when built in or unknown.
    public var relativePath: String? {
        if case .file(let path) = location { return path }
        return nil
    }

    public var description: String {
        switch location {
        case .file(let path): "\(name) (\(path))"
        case .builtin: "\(name) (built-in)"
        case .unknown: "\(name) (not in the index)"
        }
    }
}

/// The modules of one kernel version in a root: `<root>/lib/modules/<version>`, read with
/// libkmod (`kmod_new`).
///
/// Configuration comes only from the root's `modprobe.d` folders (`/etc`, `/run`, `/lib`),
/// never the host's. Note that libkmod's `kmod_new` also always reads the *running*
/// kernel's `/proc/cmdline` (for `modprobe.blacklist=` and module options); that affects
/// blacklists and options, not name, alias or dependency resolution, which is all this
/// type answers.
public final class KernelModules {
    public let root: SystemRoot
    public let version: String
    /// The modules folder as the root sees it: `/lib/modules/<version>`.
    public let directory: String
    /// The modules folder on this machine, as `<root>/lib/modules/<version>`.
    public let hostDirectory: String
    /// The same folder resolved inside the root (merged /usr: `<root>/usr/lib/modules/…`),
    /// the path libkmod is given.
    private let kmodDirectory: String

    private let context: OpaquePointer
    private let logSink: UnsafeMutablePointer<heal_kmod_log_sink>
    private let log: LogLines
    private var builtinNames: Set<String>?

    /// Opens a libkmod context over `<root>/lib/modules/<version>` (`kmod_new`).
    /// Nothing is read yet: libkmod opens its indexes lazily, or in `loadIndex()`.
    /// - Throws: `KernelModules.Error.cannotCreateContext` when libkmod refuses (out of memory).
    public init(root: SystemRoot, version: String) throws(KernelModules.Error) {
        do { try SharedLibrary.kmod.load() } catch { throw .libraryUnavailable(error) }
        self.root = root
        self.version = version
        let directory = "/lib/modules/" + version
        // libkmod takes host paths and opens files below them itself: the folders are
        // resolved inside the root first, so the paths it is given pass no link (merged
        // /usr's `lib -> usr/lib` is followed here, an absolute link stays inside the root).
        let kmodDirectory = root.host(root.canonical(directory))
        self.directory = directory
        self.hostDirectory = root.host(directory)
        self.kmodDirectory = kmodDirectory
        let configPaths = ["/etc/modprobe.d", "/run/modprobe.d", "/lib/modprobe.d"].map { root.host(root.canonical($0)) }
        let cPaths: [UnsafeMutablePointer<CChar>?] = configPaths.map { strdup($0) } + [nil]
        defer { cPaths.forEach { free($0) } }
        let made: OpaquePointer? = cPaths.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { kmod_new(kmodDirectory, $0.baseAddress) }
        }
        guard let made else { throw .cannotCreateContext(directory: kmodDirectory) }
        context = made
        // libkmod prints errors to stderr by default; keep them for our error messages.
        log = LogLines()
        logSink = .allocate(capacity: 1)
        logSink.initialize(to: heal_kmod_log_sink(
            fn: { data, _, line in
                guard let data, let line else { return }
                Unmanaged<LogLines>.fromOpaque(data).takeUnretainedValue().append(String(cString: line))
            },
            data: Unmanaged.passUnretained(log).toOpaque()))
        heal_kmod_set_log_sink(context, logSink)
        kmod_set_log_priority(context, LOG_ERR)
    }

    deinit {
        kmod_unref(context)
        logSink.deinitialize(count: 1)
        logSink.deallocate()
    }

    /// Whether libkmod's indexes match the files on disk (`kmod_validate_resources`).
    public enum IndexState: Sendable, Equatable {
        case valid
        /// The files changed since they were loaded.
        case mustReload
        /// `modules.dep` and friends are older than the module tree or missing: run depmod.
        case mustRecreate
    }

    /// Loads every binary index (`modules.dep.bin`, `modules.alias.bin`,
    /// `modules.symbols.bin`, `modules.builtin.alias.bin`, `modules.builtin.bin`) with
    /// `kmod_load_resources`.
    /// - Throws: `KernelModules.Error.indexUnusable` naming the first missing index file.
    public func loadIndex() throws(KernelModules.Error) {
        log.clear()
        // depmod writes regular files; a link in their place (which libkmod would follow by
        // its host path) is not an index.
        let folder = root.canonical(directory)
        if let linked = Self.indexFiles.first(where: { root.files.kind(folder + "/" + $0) == .symlink }) {
            throw .indexUnusable(directory: directory, reason: "\(linked) is a symbolic link, not an index depmod wrote")
        }
        let rc = kmod_load_resources(context)
        guard rc >= 0 else {
            let missing = Self.indexFiles.first { root.files.kind(folder + "/" + $0, followLast: true) == nil }
            let reason = missing.map { "\($0) is missing" }
                ?? log.lines.last
                ?? String(cString: strerror(-rc))
            throw .indexUnusable(directory: directory, reason: reason)
        }
    }

    /// The binary indexes `kmod_load_resources` needs, in the order libkmod opens them.
    public static let indexFiles = ["modules.dep.bin", "modules.alias.bin", "modules.symbols.bin",
                                    "modules.builtin.alias.bin", "modules.builtin.bin"]

    /// `kmod_validate_resources`, meaningful after `loadIndex()`.
    public func indexState() -> IndexState {
        switch Int(kmod_validate_resources(context)) {
        case Int(KMOD_RESOURCES_OK.rawValue): .valid
        case Int(KMOD_RESOURCES_MUST_RELOAD.rawValue): .mustReload
        default: .mustRecreate
        }
    }

    /// Resolves a module name or alias (`ext4`, `fs-xfs`, `virtio-blk`, a modalias) to
    /// modules, as `modprobe` does (`kmod_module_new_from_lookup`).
    /// - Returns: the matching modules; empty when nothing matches.
    /// - Throws: `KernelModules.Error.lookupFailed` when libkmod fails (not for "no match").
    public func lookup(_ nameOrAlias: String) throws(KernelModules.Error) -> [KernelModule] {
        var list: OpaquePointer?
        log.clear()
        let rc = kmod_module_new_from_lookup(context, nameOrAlias, &list)
        guard rc >= 0 else {
            throw .lookupFailed(name: nameOrAlias, reason: log.lines.last ?? String(cString: strerror(-rc)))
        }
        return modules(in: list, releasing: true)
    }

    /// The hard dependencies of `module`, recursively, in load order (dependencies of a
    /// dependency come before it); `module` itself is not included
    /// (`kmod_module_get_dependencies`, from `modules.dep`).
    public func dependencies(of module: KernelModule) throws(KernelModules.Error) -> [KernelModule] {
        var order: [KernelModule] = []
        var seen: Set<String> = [module.name]
        try appendDependencies(of: module.name, into: &order, seen: &seen)
        return order
    }

    /// Everything `modprobe` would load for `nameOrAlias`, in order: pre soft
    /// dependencies, hard dependencies, the module, post soft dependencies, each
    /// expanded the same way (`kmod_module_get_softdeps`). Built-in modules are included
    /// with `.builtin` locations; initramfs-tools' `manual_add_modules` copies this set.
    public func loadSet(of nameOrAlias: String) throws(KernelModules.Error) -> [KernelModule] {
        var order: [KernelModule] = []
        var seen: Set<String> = []
        for module in try lookup(nameOrAlias) {
            try appendLoadSet(of: module, into: &order, seen: &seen)
        }
        return order
    }

    /// Whether the kernel has `name` compiled in, from `modules.builtin` (text, one
    /// `kernel/fs/ext4/ext4.ko` per line; depmod builds the `.bin` from it).
    public func isBuiltin(_ name: String) -> Bool {
        builtin().contains(Self.normalized(name))
    }

    /// `virtio-blk` and `virtio_blk` are the same module to the kernel.
    public static func normalized(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }

    // MARK: - Private

    private func builtin() -> Set<String> {
        if let builtinNames { return builtinNames }
        let text = (try? root.files.text(directory + "/modules.builtin")) ?? ""
        var names: Set<String> = []
        for line in text.split(separator: "\n") {
            guard let file = line.split(separator: "/").last else { continue }
            var name = String(file)
            if let dot = name.firstIndex(of: ".") { name = String(name[..<dot]) }
            names.insert(Self.normalized(name))
        }
        builtinNames = names
        return names
    }

    private func appendLoadSet(of module: KernelModule, into order: inout [KernelModule],
                               seen: inout Set<String>) throws(KernelModules.Error) {
        guard seen.insert(module.name).inserted else { return }
        let handle = try moduleHandle(module.name)
        defer { kmod_module_unref(handle) }
        var pre: OpaquePointer?, post: OpaquePointer?
        if kmod_module_get_softdeps(handle, &pre, &post) < 0 { pre = nil; post = nil }
        let preModules = modules(in: pre, releasing: true)
        let postModules = modules(in: post, releasing: true)
        for soft in preModules { try appendLoadSet(of: soft, into: &order, seen: &seen) }
        for dependency in modules(in: kmod_module_get_dependencies(handle), releasing: true) {
            try appendLoadSet(of: dependency, into: &order, seen: &seen)
        }
        order.append(module)
        for soft in postModules { try appendLoadSet(of: soft, into: &order, seen: &seen) }
    }

    private func appendDependencies(of name: String, into order: inout [KernelModule],
                                    seen: inout Set<String>) throws(KernelModules.Error) {
        let handle = try moduleHandle(name)
        defer { kmod_module_unref(handle) }
        for dependency in modules(in: kmod_module_get_dependencies(handle), releasing: true)
        where seen.insert(dependency.name).inserted {
            try appendDependencies(of: dependency.name, into: &order, seen: &seen)
            order.append(dependency)
        }
    }

    /// A referenced `kmod_module` for `name`; the caller unrefs it.
    private func moduleHandle(_ name: String) throws(KernelModules.Error) -> OpaquePointer {
        var handle: OpaquePointer?
        let rc = kmod_module_new_from_name(context, name, &handle)
        guard rc >= 0, let handle else {
            throw .lookupFailed(name: name, reason: String(cString: strerror(-rc)))
        }
        return handle
    }

    /// Converts a `kmod_list` of modules, unreferencing it when `releasing`.
    private func modules(in list: OpaquePointer?, releasing: Bool) -> [KernelModule] {
        guard let list else { return [] }
        defer { if releasing { kmod_module_unref_list(list) } }
        var result: [KernelModule] = []
        var cursor: OpaquePointer? = list
        while let entry = cursor {
            if let handle = kmod_module_get_module(entry) {
                result.append(describe(handle))
                kmod_module_unref(handle)
            }
            cursor = kmod_list_next(list, entry)
        }
        return result
    }

    private func describe(_ handle: OpaquePointer) -> KernelModule {
        let name = kmod_module_get_name(handle).map { String(cString: $0) } ?? ""
        // kmod_module_get_path is nil for built-in modules; it is the host path of the
        // file otherwise (dirname + the modules.dep entry).
        if let cPath = kmod_module_get_path(handle) {
            var path = String(cString: cPath)
            if path.hasPrefix(kmodDirectory + "/") { path.removeFirst(kmodDirectory.count + 1) }
            return KernelModule(name: name, location: .file(relativePath: path))
        }
        return KernelModule(name: name, location: isBuiltin(name) ? .builtin : .unknown)
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case cannotCreateContext(directory: String)
        case libraryUnavailable(SharedLibrary.LoadError)
        case indexUnusable(directory: String, reason: String)
        case lookupFailed(name: String, reason: String)

        public var description: String {
            switch self {
            case .cannotCreateContext(let directory): "cannot open a libkmod context for \(directory)"
            case .libraryUnavailable(let error): "\(error)"
            case .indexUnusable(let directory, let reason): "cannot load the module index of \(directory): \(reason)"
            case .lookupFailed(let name, let reason): "cannot look up module \(name): \(reason)"
            }
        }
    }
}

/// The lines libkmod logged, collected by the shim's callback.
private final class LogLines {
    private(set) var lines: [String] = []
    func append(_ line: String) {
        var trimmed = line
        while trimmed.last == "\n" { trimmed.removeLast() }
        lines.append(trimmed)
    }
    func clear() { lines.removeAll() }
}
