import Glibc
import HealCore

/// The targeted steps about one kernel module that a crash record named: its file in a
/// kernel's tree (libkmod), its dependencies (`modules.dep`), whether the default
/// initramfs carries it (libarchive), and which package ships it (dpkg's `*.list`).
struct ModuleProbe {
    struct Outcome {
        var ran: [String]
        var found: [Evidence]
        var significant: Bool
        /// Attributes for the crash's observation (`moduleFile`, …).
        var attributes: [String: String]
    }

    let root: SystemRoot
    /// Underscored, as the kernel names it.
    let module: String
    let kernel: String
    /// The default entry's initrd, as the root sees it.
    let initrd: String?

    init(root: SystemRoot, module: String, kernel: String, initrd: String?) {
        self.root = root
        self.module = KernelModules.normalized(module)
        self.kernel = kernel
        self.initrd = initrd
    }

    var tree: String { "/lib/modules/\(kernel)" }

    func run(_ probe: Probe) -> Outcome {
        switch probe {
        case .moduleFile: file()
        case .moduleDependencies: dependencies()
        case .moduleInInitramfs: inInitramfs()
        case .modulePackage: package()
        case .detectors, .booted: Outcome(ran: [], found: [], significant: false, attributes: [:])
        }
    }

    /// The modules libkmod resolves `module` to in the default kernel's index.
    private func lookup() -> Result<(KernelModules, [KernelModule]), KernelModules.Error> {
        do throws(KernelModules.Error) {
            let modules = try KernelModules(root: root, version: kernel)
            try modules.loadIndex()
            return .success((modules, try modules.lookup(module)))
        } catch {
            return .failure(error)
        }
    }

    func file() -> Outcome {
        let ran = ["libkmod lookup \(module) in \(tree)"]
        switch lookup() {
        case .failure(let error):
            return Outcome(ran: ran, found: [Evidence(source: tree, detail: error.description)], significant: true,
                           attributes: ["moduleFile": "unknown: \(error.description)"])
        case .success(let (_, found)) where found.isEmpty:
            return Outcome(ran: ran, found: [Evidence(source: tree,
                detail: "\(module) is not in the modules tree of \(kernel): no file, not built in, no alias")],
                significant: true, attributes: ["moduleFile": "not in \(tree)"])
        case .success(let (_, found)):
            let places = found.map { module -> String in
                if let path = module.relativePath { return "\(tree)/\(path)" }
                return module.isBuiltin ? "built into \(kernel)" : "\(module.name) (not in the index)"
            }
            return Outcome(ran: ran, found: found.map { Evidence(source: tree, detail: $0.description) },
                           significant: false, attributes: ["moduleFile": places.joined(separator: ", ")])
        }
    }

    func dependencies() -> Outcome {
        let ran = ["libkmod dependencies of \(module) (\(tree)/modules.dep)"]
        switch lookup() {
        case .failure(let error):
            return Outcome(ran: ran, found: [Evidence(source: tree, detail: error.description)], significant: true,
                           attributes: ["moduleDependencies": "unknown"])
        case .success(let (_, found)) where found.isEmpty:
            return Outcome(ran: ran, found: [Evidence(source: tree + "/modules.dep",
                detail: "no dependencies known: \(module) is not in the index of \(kernel)")],
                significant: false, attributes: ["moduleDependencies": "unknown: not in the index"])
        case .success(let (modules, found)):
            var names: [String] = []
            var evidence: [Evidence] = []
            for item in found {
                do throws(KernelModules.Error) {
                    let dependencies = try modules.dependencies(of: item)
                    names += dependencies.map(\.name)
                    evidence.append(Evidence(source: tree + "/modules.dep", detail: dependencies.isEmpty
                        ? "\(item.name) depends on nothing"
                        : "\(item.name) depends on \(dependencies.map(\.description).joined(separator: ", "))"))
                } catch {
                    evidence.append(Evidence(source: tree + "/modules.dep", detail: error.description))
                }
            }
            return Outcome(ran: ran, found: evidence, significant: false,
                           attributes: ["moduleDependencies": names.isEmpty ? "none" : names.joined(separator: ", ")])
        }
    }

    func inInitramfs() -> Outcome {
        guard let initrd else {
            return Outcome(ran: ["read the default boot entry"],
                           found: [Evidence(source: "boot configuration", detail: "the default entry names no initramfs")],
                           significant: false, attributes: ["moduleInInitramfs": "no initramfs"])
        }
        let ran = ["libarchive listing of \(initrd)"]
        guard case .resolved(let resolved, _) = root.resolveWithin(initrd) else {
            return Outcome(ran: ran, found: [Evidence(source: initrd, detail: "does not exist")], significant: false,
                           attributes: ["moduleInInitramfs": "no initramfs"])
        }
        let entries: [ArchiveEntry]
        do throws(Initramfs.Error) {
            entries = try Initramfs(root: root, path: resolved).entries()
        } catch {
            let detail = error.description
            return Outcome(ran: ran, found: [Evidence(source: initrd, detail: detail)], significant: false,
                           attributes: ["moduleInInitramfs": "unknown: \(detail)"])
        }
        let matches = entries.filter { $0.kind == .file && Self.moduleName(ofPath: $0.path) == module }.map(\.path)
        if matches.isEmpty {
            return Outcome(ran: ran, found: [Evidence(source: initrd,
                detail: "\(module) is not in the image (\(entries.count) entries): the initramfs does not load it")],
                significant: false, attributes: ["moduleInInitramfs": "no"])
        }
        // In the image, the module loads before the root is mounted: blacklisting it
        // means rebuilding the initramfs too.
        return Outcome(ran: ran, found: matches.map { Evidence(source: initrd, detail: "carries \($0)") },
                       significant: true, attributes: ["moduleInInitramfs": "yes: " + matches.joined(separator: ", ")])
    }

    func package() -> Outcome {
        let info = DpkgDatabase.infoDirectory
        let ran = ["search \(info)/*.list for \(module).ko"]
        var owners: [(package: String, path: String)] = []
        for name in root.files.entriesIfPresent(info) where name.hasSuffix(".list") {
            guard let text = try? root.files.text(info + "/" + name) else { continue }
            for line in text.split(separator: "\n") where line.contains("/modules/") && line.contains(".ko") {
                guard Self.moduleName(ofPath: String(line)) == module else { continue }
                var package = name.dropLast(".list".count)
                if let colon = package.firstIndex(of: ":") { package = package[..<colon] }
                owners.append((String(package), String(line)))
            }
        }
        if owners.isEmpty {
            return Outcome(ran: ran, found: [Evidence(source: info,
                detail: "no installed package ships \(module).ko: it came from outside the package manager")],
                significant: true, attributes: ["modulePackage": "none"])
        }
        // The owner of the default kernel's copy first.
        let ordered = owners.filter { $0.path.contains("/modules/\(kernel)/") } + owners.filter { !$0.path.contains("/modules/\(kernel)/") }
        return Outcome(ran: ran, found: ordered.map { Evidence(source: "\(info)/\($0.package).list", detail: "ships \($0.path)") },
                       significant: false,
                       attributes: ["modulePackage": ordered.map { "\($0.package) (\($0.path))" }.joined(separator: ", ")])
    }

    /// `…/kernel/drivers/block/virtio_blk.ko.xz` → `virtio_blk`; nil for other files.
    static func moduleName(ofPath path: String) -> String? {
        guard let base = path.split(separator: "/").last, let range = base.firstRange(of: ".ko") else { return nil }
        let suffix = base[range.upperBound...]
        guard suffix.isEmpty || [".xz", ".zst", ".gz"].contains(suffix) else { return nil }
        return KernelModules.normalized(String(base[..<range.lowerBound]))
    }
}
