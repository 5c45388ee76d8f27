import Glibc
import HealCore

/// The template guest's initramfs, built by clarity-heal itself: a plain newc cpio
/// (`CpioWriter`, libarchive) holding this very binary as `/init`, the shared libraries it
/// and its tools need, the e2fsprogs it runs, and the modules the guest's disk needs.
///
/// ```
///  init                               /proc/self/exe (the binary now running), stripped
///  lib/x86_64-linux-gnu/libc.so.6 …   `ldd` of the binary, of each library the guest opens
///  lib64/ld-linux-x86-64.so.2           with dlopen (CLazyLibraries: libblkid, libmount)
///  usr/sbin/e2fsck, dumpe2fs            and of each tool, at the paths ld.so reports
///  lib/modules/VER/kernel/…/virtio_blk.ko …   libkmod's load sets (modules.dep), built-ins left
///                                       out, compressed ones decompressed (libarchive)
///  etc/clarity-heal/guest-modules     those modules' paths, in load order
///  etc/mtab -> /proc/self/mounts      e2fsck reads it to refuse a mounted filesystem
///  dev/console (5:1)                  the kernel opens it as /init's stdio
///  proc/ sys/ dev/ mnt/ run/ tmp/
/// ```
///
/// Everything but the modules comes from this machine (trusted); the modules come from the
/// kernel's own tree, which may be the examined disk's: they are read through the root,
/// confined and bounded, and only the files libkmod's index names are taken.
public struct GuestInitramfs: Sendable, Encodable {
    /// The modules the guest needs for its disk: the controller (`-device virtio-blk-pci`)
    /// and the filesystem it mounts read-only to check the boot chain.
    public static let moduleNames = ["virtio_pci", "virtio_blk", "ext4"]
    /// The e2fsprogs tools the guest runs.
    public static let tools = ["e2fsck", "dumpe2fs"]
    /// The libraries clarity-heal opens on first use that the guest may need: libblkid and
    /// libmount (block probing, mount tables). Left out, because the guest never opens them
    /// and every megabyte costs about 20 ms of unpacking per boot under TCG (scripts/bench):
    /// libkmod (the guest inserts modules with finit_module) and the libcrypto it links,
    /// libsystemd (no journal is read), and zstd, lz4 and acl (no archive is read).
    static let lazyLibraries: [SharedLibrary] = [.blkid, .mount]
    /// Where the guest finds its module list.
    public static let moduleList = "/etc/clarity-heal/guest-modules"

    /// What was written.
    public var path: String
    public var bytes: Int64
    public var kernelVersion: String
    /// The module files, relative to `/lib/modules/VER`, in load order.
    public var modules: [String]
    /// Host paths of the binary's, the tools' and the libraries' files.
    public var hostFiles: [String]

    public enum Error: Swift.Error, CustomStringConvertible {
        case missing(String)
        case tool(String)
        case modules(String)
        case write(String)

        public var description: String {
            switch self {
            case .missing(let what): "the template guest cannot be built: \(what)"
            case .tool(let why): "the template guest's files cannot be listed: \(why)"
            case .modules(let why): "the template guest's modules cannot be resolved: \(why)"
            case .write(let why): "the template guest's initramfs cannot be written: \(why)"
            }
        }
    }

    /// Largest single file taken into the initramfs.
    static let fileLimit: Int64 = 256 << 20

    /// Builds the initramfs at `path` (must not exist) for `kernel`.
    /// - Parameter binary: the clarity-heal binary that becomes `/init`; nil: the one
    ///   running (`/proc/self/exe`). Tests, which run in another executable, name it.
    public static func build(at path: String, kernel: RecoveryKernel, binary: String? = nil,
                             runner: any CommandRunner = SpawnCommandRunner()) throws(GuestInitramfs.Error) -> GuestInitramfs {
        guard let binary = binary ?? FileReading.linkTarget(atPath: "/proc/self/exe") else {
            throw .missing("/proc/self/exe cannot be read")
        }
        // Host files: the binary's libraries, the dlopened ones and theirs, the tools and theirs.
        var hostFiles: [String] = []
        func add(_ file: String) { if !hostFiles.contains(file) { hostFiles.append(file) } }
        for library in try sharedLibraries(of: binary, runner: runner) { add(library) }
        let cache = try libraryCache(runner: runner)
        for library in lazyLibraries {
            guard let file = cache[library.soname] else { throw .missing("\(library.soname) is not installed (ldconfig -p)") }
            add(file)
            for dependency in try sharedLibraries(of: file, runner: runner) { add(dependency) }
        }
        for name in Self.tools {
            guard let tool = Executable.find(name) else { throw .missing("\(name) is not installed (Debian: apt install e2fsprogs)") }
            add(tool)
            for dependency in try sharedLibraries(of: tool, runner: runner) { add(dependency) }
        }

        // The binary without its symbols and debug sections when binutils is here: a debug
        // or unstripped build is mostly DWARF, which the guest never reads.
        let initBinary = stripped(binary, into: path + ".init", runner: runner) ?? binary
        defer { if initBinary != binary { unlink(initBinary) } }
        let modules = try moduleFiles(kernel)
        let folders = ["/proc", "/sys", "/dev", "/mnt", "/run", "/tmp", "/etc", "/etc/clarity-heal"]
        var allFolders = Set(folders)
        for file in hostFiles + modules.map({ kernel.modulesDirectory + "/" + $0 }) {
            var parent = PackagePath.parent(file)
            while parent != "/" && allFolders.insert(parent).inserted { parent = PackagePath.parent(parent) }
        }
        do {
            let writer = try CpioWriter(path: path)
            // Parents before children: sorted paths put "/a" before "/a/b".
            for folder in allFolders.sorted() { try writer.directory(folder) }
            try writer.characterDevice("/dev/console", major: 5, minor: 1)
            try writer.symlink("/etc/mtab", target: "/proc/self/mounts")
            try writer.file("/init", copying: initBinary, mode: 0o755, limit: fileLimit)
            for file in hostFiles {
                try writer.file(file, copying: file, limit: fileLimit)
            }
            var listed: [String] = []
            for module in modules {
                let inside = kernel.modulesDirectory + "/" + module
                let bytes: [UInt8]
                do {
                    bytes = try kernel.root.files.read(kernel.root.canonical(inside), limit: Int(fileLimit))
                } catch {
                    throw GuestInitramfs.Error.modules("\(inside) cannot be read: \(error)")
                }
                // finit_module takes a plain ELF object: .ko.xz/.ko.zst/.ko.gz are decompressed here.
                let (name, plain) = try decompressed(inside, bytes)
                try writer.file(name, bytes: plain)
                listed.append(name)
            }
            let list = listed.joined(separator: "\n") + "\n"
            try writer.file(moduleList, bytes: Array(list.utf8))
            try writer.finish()
        } catch let error as GuestInitramfs.Error {
            throw error
        } catch {
            throw .write("\(error)")
        }
        let size = FileReading.status(atPath: path, followLinks: false).map { Int64($0.st_size) } ?? 0
        return GuestInitramfs(path: path, bytes: size, kernelVersion: kernel.version, modules: modules,
                              hostFiles: [binary] + hostFiles)
    }

    static let compressedSuffixes = [".xz", ".zst", ".gz"]

    /// A module file as finit_module takes it: decompressed (libarchive's raw format with its
    /// filters) when its name says it is compressed, renamed without the suffix.
    static func decompressed(_ path: String, _ bytes: [UInt8]) throws(GuestInitramfs.Error) -> (String, [UInt8]) {
        guard let suffix = compressedSuffixes.first(where: { path.hasSuffix($0) }) else { return (path, bytes) }
        do {
            let buffer = malloc(max(bytes.count, 1))
            bytes.withUnsafeBytes { if let base = $0.baseAddress { buffer?.copyMemory(from: base, byteCount: $0.count) } }
            let reader = try ArchiveReader(ArchiveBytes.adopting(buffer, count: bytes.count), formats: [.raw], filters: .compressed)
            guard try reader.next() != nil else { throw ArchiveFailure(message: "no data") }
            let data = try reader.readData(limit: Int(fileLimit))
            let plain = data.base.map { Array(UnsafeRawBufferPointer(start: $0, count: data.count)) } ?? []
            return (String(path.dropLast(suffix.count)), plain)
        } catch {
            throw .modules("\(path) cannot be decompressed: \(error)")
        }
    }

    /// `strip -o COPY BINARY`; nil when strip is not installed or fails (the binary is then
    /// taken as it is).
    static func stripped(_ binary: String, into copy: String, runner: any CommandRunner) -> String? {
        guard let strip = Executable.find("strip"),
              let result = try? runner.run(strip, ["--strip-all", "-o", copy, binary]), result.succeeded else {
            unlink(copy)
            return nil
        }
        return copy
    }

    /// The module files (relative to the modules folder) for `moduleNames`, in load order,
    /// from libkmod's index of the kernel's tree; built-in ones are left out.
    static func moduleFiles(_ kernel: RecoveryKernel) throws(GuestInitramfs.Error) -> [String] {
        do {
            let index = try KernelModules(root: kernel.root, version: kernel.version)
            var files: [String] = []
            for name in moduleNames {
                let set = try index.loadSet(of: name)
                if set.isEmpty && !index.isBuiltin(name) {
                    throw GuestInitramfs.Error.modules("\(name) is neither in modules.dep nor built into \(kernel.version)")
                }
                for module in set {
                    guard let file = module.relativePath, !files.contains(file) else { continue }
                    guard PackagePath.problem("/" + file) == nil else {
                        throw GuestInitramfs.Error.modules("modules.dep names \(file), outside the modules folder")
                    }
                    files.append(file)
                }
            }
            return files
        } catch let error as GuestInitramfs.Error {
            throw error
        } catch {
            throw .modules("\(error)")
        }
    }

    /// The shared libraries `file` loads, as ld.so resolves them (`ldd`): absolute paths,
    /// the dynamic loader among them; none for a static file.
    static func sharedLibraries(of file: String, runner: any CommandRunner) throws(GuestInitramfs.Error) -> [String] {
        let result: CommandResult
        do {
            result = try runner.run("ldd", [file])
        } catch {
            throw .tool("\(error)")
        }
        // ldd exits 1 with "not a dynamic executable" for a static file.
        if !result.succeeded && (result.output + result.errorOutput).contains("not a dynamic executable") { return [] }
        guard result.succeeded else { throw .tool("ldd \(file) exited \(result.status): \(result.errorOutput)") }
        return try parseLdd(result.output, of: file)
    }

    /// `ldd` lines: `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)`,
    /// `/lib64/ld-linux-x86-64.so.2 (0x…)`, `linux-vdso.so.1 (0x…)` (in the kernel: none).
    static func parseLdd(_ output: String, of file: String) throws(GuestInitramfs.Error) -> [String] {
        var paths: [String] = []
        for line in output.split(separator: "\n") {
            let text = line.drop { $0 == " " || $0 == "\t" }
            var candidate: Substring
            if let arrow = text.firstRange(of: " => ") {
                candidate = text[arrow.upperBound...]
                if candidate.hasPrefix("not found") {
                    throw .tool("\(file) needs \(text[..<arrow.lowerBound]), which is not installed")
                }
            } else {
                candidate = text
            }
            if let space = candidate.firstIndex(of: " ") { candidate = candidate[..<space] }
            if candidate.hasPrefix("/") { paths.append(String(candidate)) }
        }
        return paths
    }

    /// soname → path from the dynamic loader's cache (`ldconfig -p`), 64-bit entries.
    static func libraryCache(runner: any CommandRunner) throws(GuestInitramfs.Error) -> [String: String] {
        let result: CommandResult
        do {
            result = try runner.run(Executable.find("ldconfig") ?? "/sbin/ldconfig", ["-p"])
        } catch {
            throw .tool("\(error)")
        }
        guard result.succeeded else { throw .tool("ldconfig -p exited \(result.status)") }
        var cache: [String: String] = [:]
        // "\tlibkmod.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libkmod.so.2"
        for line in result.output.split(separator: "\n") {
            guard let arrow = line.firstRange(of: " => "), line.contains("x86-64") else { continue }
            let name = line[..<arrow.lowerBound].drop { $0 == " " || $0 == "\t" }.prefix { $0 != " " }
            if cache[String(name)] == nil { cache[String(name)] = String(line[arrow.upperBound...]) }
        }
        return cache
    }
}
