/// A finding as the knowledge base sees it: the finding itself plus named attributes that
/// signatures can test and root causes can carry as specifics.
///
/// Attribute names (the vocabulary signature files may use):
///
/// | name | set for | value |
/// | --- | --- | --- |
/// | `summary` | every finding | the finding's summary |
/// | `source` | every finding with evidence | the first evidence's source |
/// | `line` | a finding whose evidence names `path:N` | `path:N: text` of the first such evidence |
/// | `fstabLine` | fstab classes | `/etc/fstab:N: text` |
/// | `defaultKernel` | every finding, when the default entry names a kernel | `6.1.0-50-cloud-amd64` |
/// | `kernel` | every finding | the panic's kernel, else `defaultKernel` |
/// | `reason`, `kind`, `hint`, `module`, `symbol`, `taint`, `record` | `kernel-panic` | from the crash record's `PanicSignature` (no `hint` for a crash that is not to be repaired) |
/// | `crashKind` | `kernel-panic` | `PanicSignature.CrashKind` slug (`vfs-no-root`, `machine-check`, …) |
/// | `routing`, `route`, `routeReason` | `kernel-panic` | its `PanicRoute`: decision (`repair`, `needs-person`, `foreign-kernel`), classes, why |
/// | `modules`, `initrd` | `initramfs-missing-driver` | the modules the image lacks; its path |
/// | `moduleFile`, `moduleDependencies`, `moduleInInitramfs`, `modulePackage` | `kernel-panic` with a `module`, once the plan's module steps ran | what each step found |
public struct Observation: Sendable, Hashable, Codable {
    public var finding: Finding
    public var attributes: [String: String]

    public var failureClass: FailureClass { finding.failureClass }
    public var stage: DiagnosisStage { finding.failureClass.stage }

    public init(finding: Finding, attributes: [String: String]) {
        self.finding = finding
        self.attributes = attributes
    }

    /// Derives the attributes of `finding` from its evidence, the crash record behind it
    /// (for `kernel-panic`) and the default entry's kernel version.
    public init(finding: Finding, panic: PanicSignature? = nil, route: PanicRoute? = nil, defaultKernel: String? = nil) {
        var attributes: [String: String] = ["summary": finding.summary]
        if let first = finding.evidence.first { attributes["source"] = first.source }
        if let located = finding.evidence.first(where: { Self.lineNumber(of: $0.source) != nil }) {
            attributes["line"] = "\(located.source): \(located.detail)"
            if finding.failureClass == .fstabInvalidEntry || finding.failureClass == .fstabUnresolvableSource,
               located.source.contains("fstab:") {
                attributes["fstabLine"] = "\(located.source): \(located.detail)"
            }
        }
        if let defaultKernel { attributes["defaultKernel"] = defaultKernel }
        if let panic {
            attributes["kind"] = panic.panicReason != nil ? "panic" : panic.kind.rawValue
            attributes["reason"] = panic.reason
            attributes["hint"] = panic.hint?.rawValue
            attributes["module"] = panic.faultingModule
            attributes["symbol"] = panic.faultingSymbol
            attributes["taint"] = panic.taint
            attributes["kernel"] = panic.kernelVersion
            if finding.failureClass == .kernelPanic, let record = finding.evidence.first { attributes["record"] = record.source }
            attributes["crashKind"] = panic.crashKind.rawValue
        }
        if let route {
            attributes["routing"] = route.decision.rawValue
            attributes["route"] = route.classes.map(\.rawValue).joined(separator: ", ")
            attributes["routeReason"] = route.decision == .needsPerson
                ? route.reason + "; check " + route.checks.joined(separator: "; ") : route.reason
            // A crash that is not to be repaired must not steer the root-fs or init signatures.
            if route.decision != .repair { attributes["hint"] = nil }
        }
        if attributes["kernel"] == nil, let defaultKernel { attributes["kernel"] = defaultKernel }
        if finding.failureClass == .initramfsMissingDriver {
            // The detector's summary is "initramfs PATH lacks a, b".
            if let range = finding.summary.firstRange(of: " lacks ") {
                attributes["modules"] = String(finding.summary[range.upperBound...])
                let head = finding.summary[..<range.lowerBound]
                if head.hasPrefix("initramfs ") { attributes["initrd"] = String(head.dropFirst("initramfs ".count)) }
            }
        }
        self.init(finding: finding, attributes: attributes)
    }

    /// The line of a `path:N` evidence source, nil for other sources.
    static func lineNumber(of source: String) -> Int? {
        guard source.hasPrefix("/"), let colon = source.lastIndex(of: ":") else { return nil }
        return Int(source[source.index(after: colon)...])
    }

    /// The texts a signature's `text` pattern is tried on: the summary and every evidence
    /// detail.
    public var texts: [String] { [finding.summary] + finding.evidence.map(\.detail) }
}
