import HealCore

/// `bootloader-env-corrupt`: a grubenv GRUB cannot use as an environment block — not
/// exactly 1024 bytes (GRUB's `save_env` refuses to rewrite a block of another size), no
/// `# GRUB Environment Block` header (GRUB ignores the file), or lines it cannot parse
/// (GRUB stops reading at the first one). A missing grubenv is fine: GRUB boots without
/// one and grub-editenv makes one when it is first needed.
public struct BootloaderEnvDetector: Detector {
    public let name = "grubenv"
    public let classes: [FailureClass] = [.bootloaderEnvCorrupt]
    /// The blocks checked, as the root sees them.
    public var paths: [String]

    public init(paths: [String] = BootConfiguration.grubDirectories.map { $0 + "/grubenv" }) {
        self.paths = paths
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        var findings: [Finding] = []
        for path in paths {
            guard context.root.files.statusIfPresent(path) != nil else { continue }
            let bytes: [UInt8]
            do {
                bytes = try context.root.files.read(path, limit: 1 << 20)
            } catch {
                findings.append(Finding(.bootloaderEnvCorrupt, summary: "\(error)",
                                        evidence: [Evidence(source: path, detail: "\(error)")]))
                continue
            }
            do throws(GrubEnvBlock.Error) {
                _ = try GrubEnvBlock(parsing: bytes)
            } catch {
                let kept = GrubEnvBlock.salvage(bytes).block.variables.map { "\($0.name)=\($0.value)" }
                findings.append(Finding(
                    .bootloaderEnvCorrupt,
                    summary: "\(path): \(error)",
                    evidence: [
                        Evidence(source: path, detail: "\(error) (\(bytes.count) bytes)"),
                        Evidence(source: path, detail: kept.isEmpty
                                 ? "no variable can be read from it"
                                 : "variables still readable: " + kept.joined(separator: ", ")),
                    ]))
            }
        }
        return findings
    }
}
