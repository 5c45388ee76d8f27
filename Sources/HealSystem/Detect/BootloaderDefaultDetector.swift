import Glibc
import HealCore

/// `bootloader-default-invalid`: the boot loader's default names no entry, or the entry
/// that boots names a kernel that is not there (a missing initrd is `initramfs-missing`).
///
/// Checked, each where it applies:
/// - grubenv `next_entry` (grub-reboot) and `saved_entry` (grub-set-default, read when
///   grub.cfg sets `default="${saved_entry}"`): GRUB silently boots the first entry
///   instead, so the chosen kernel is not the one booted;
/// - a literal `set default=` in grub.cfg, and `GRUB_DEFAULT` in /etc/default/grub (unless
///   `saved`): the next update-grub writes it into grub.cfg;
/// - `default` in loader.conf for BLS-only roots;
/// - the booting entry's `linux` file, and a grub.cfg GRUB cannot parse (no menu at all).
public struct BootloaderDefaultDetector: Detector {
    public let name = "boot-default"
    public let classes: [FailureClass] = [.bootloaderDefaultInvalid]

    public init() {}

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let configuration: BootConfiguration
        do throws(BootConfiguration.Error) {
            configuration = try BootConfiguration.load(context.root)
        } catch {
            switch error {
            case .grubConfig(let path, _), .defaultGrub(let path, _):
                return [Finding(.bootloaderDefaultInvalid, summary: error.description,
                                evidence: [Evidence(source: path, detail: error.description)])]
            case .unreadable:
                throw error
            }
        }
        if case .none = configuration.loader { return [] }
        var findings: [Finding] = []
        let known = Self.knownEntries(configuration)

        func namesNothing(_ what: String, _ value: String, _ evidence: Evidence) {
            findings.append(Finding(
                .bootloaderDefaultInvalid,
                summary: "\(what) \"\(value)\" names no boot entry; the loader falls back to the first entry",
                evidence: [evidence, known]))
        }

        // The value that chose the default, saved_entry (it matters for the boots after a
        // one-time next_entry too) and GRUB_DEFAULT (the next grub-mkconfig writes it).
        for unresolved in configuration.menu.unresolvedDefaults {
            namesNothing(unresolved.name, unresolved.value, unresolved.evidence)
        }

        // The entry that boots must have its files.
        if let entry = configuration.defaultEntry {
            let place = "\(entry.source):\(entry.line)"
            if entry.origin == .grubMenu || entry.kernel != nil {
                if let kernel = entry.kernel {
                    if !Self.isNonEmptyFile(kernel, context.root) {
                        findings.append(Finding(.bootloaderDefaultInvalid,
                            summary: "the default entry \"\(entry.title)\" boots \(kernel), which is missing or empty",
                            evidence: [Evidence(source: place, detail: "linux \(kernel)"),
                                       Evidence(source: kernel, detail: Self.describe(kernel, context.root))]))
                    }
                } else {
                    findings.append(Finding(.bootloaderDefaultInvalid,
                        summary: "the default entry \"\(entry.title)\" has no linux line",
                        evidence: [Evidence(source: place, detail: "no linux/linuxefi command")]))
                }
            }
            // A missing or empty initrd is `initramfs-missing`'s finding (its repair
            // regenerates the image); reporting it here too would name one fault twice.
        } else {
            // No entry at all: GRUB shows an empty menu, systemd-boot has nothing to start.
            findings.append(Finding(.bootloaderDefaultInvalid, summary: "the boot loader has no entry to boot",
                                    evidence: [known] + configuration.unreadableLoaderEntries))
        }
        for bad in configuration.unreadableLoaderEntries {
            context.logger.notice("loader entry skipped", metadata: ["path": "\(bad.source)", "error": "\(bad.detail)"])
        }
        return findings
    }

    static func knownEntries(_ configuration: BootConfiguration) -> Evidence {
        let names = configuration.entries.prefix(8).map { entry in
            entry.id.map { "\"\(entry.title)\" (\($0))" } ?? "\"\(entry.title)\""
        }
        let more = configuration.entries.count > 8 ? ", …" : ""
        let source: String
        switch configuration.loader {
        case .grub(let path): source = path
        case .loaderEntries(let directory): source = directory
        case .none: source = "/boot"
        }
        return Evidence(source: source, detail: names.isEmpty
                        ? "no entries" : "entries: " + names.joined(separator: ", ") + more)
    }

    static func isNonEmptyFile(_ path: String, _ root: SystemRoot) -> Bool {
        guard let st = root.files.statusIfPresent(path, followLast: true) else { return false }
        return (st.st_mode & S_IFMT) == S_IFREG && st.st_size > 0
    }

    static func describe(_ path: String, _ root: SystemRoot) -> String {
        if let target = ((try? root.files.linkTarget(path)) ?? nil),
           root.files.statusIfPresent(path, followLast: true) == nil {
            return "dangling symlink to \(target)"
        }
        guard let st = root.files.statusIfPresent(path, followLast: true) else { return "does not exist" }
        if (st.st_mode & S_IFMT) != S_IFREG { return "not a regular file" }
        return "\(st.st_size) bytes"
    }
}
