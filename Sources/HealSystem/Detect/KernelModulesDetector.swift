import Glibc
import HealCore

/// Reports `kernel-modules-missing`: the default entry's kernel has no
/// `/lib/modules/VERSION`, or its `modules.dep` / binary indexes are missing or cannot be
/// loaded by libkmod (`kmod_load_resources`), which is what modprobe and the initramfs
/// generators need.
public struct KernelModulesDetector: Detector {
    public let name = "kernel-modules"
    public let classes: [FailureClass] = [.kernelModulesMissing]
    private let defaultEntry: BootEntrySource

    public init(defaultEntry: @escaping BootEntrySource = BootEntrySources.configured) {
        self.defaultEntry = defaultEntry
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        guard let entry = try defaultEntry(context.root) else { return [] }
        return try Self.findings(for: entry, root: context.root)
    }

    /// Checks the modules of the kernel `entry` boots.
    /// - Throws: when libkmod cannot be loaded, so nothing could be checked.
    public static func findings(for entry: BootEntry, root: SystemRoot) throws(SharedLibrary.LoadError) -> [Finding] {
        guard let version = entry.kernelVersion else { return [] }
        let directory = "/lib/modules/" + version
        let entryEvidence = Evidence(source: "\(entry.source):\(entry.line)",
                                     detail: "default entry \"\(entry.title)\" boots kernel \(version)")
        guard case .resolved(let resolved, _) = root.resolveWithin(directory),
              let st = root.files.statusIfPresent(resolved, followLast: true),
              (st.st_mode & S_IFMT) == S_IFDIR else {
            return [Finding(.kernelModulesMissing, summary: "\(directory) does not exist",
                            evidence: [entryEvidence, Evidence(source: directory, detail: "does not exist")])]
        }

        // depmod writes the text file and the binary indexes together; libkmod reads only
        // the .bin files, modprobe -n and the initramfs hooks read both.
        let missing = (["modules.dep"] + KernelModules.indexFiles).filter {
            root.files.statusIfPresent(resolved + "/" + $0, followLast: true) == nil
        }
        if !missing.isEmpty {
            return [Finding(.kernelModulesMissing,
                            summary: "\(directory) lacks \(missing.joined(separator: ", "))",
                            evidence: [entryEvidence] + missing.map { Evidence(source: directory + "/" + $0, detail: "does not exist") })]
        }

        do throws(KernelModules.Error) {
            let modules = try KernelModules(root: root, version: version)
            try modules.loadIndex()
        } catch .libraryUnavailable(let failure) {
            // Without libkmod the detector cannot look; the index is not at fault, and a
            // depmod repair would not help. The engine records it as a detector error.
            throw failure
        } catch {
            return [Finding(.kernelModulesMissing, summary: "the module index of \(version) is unusable",
                            evidence: [entryEvidence, Evidence(source: directory, detail: error.description)])]
        }
        return []
    }
}
