import HealCore

/// One fault, one finding: when a specific class and `system-file-corrupt` both name the
/// same file (a deleted kernel is a missing packaged file too; so is a removed init), the
/// specific class keeps it, because its repair is the one that fits.
enum FindingOverlap {
    /// Classes whose evidence about a file outranks `system-file-corrupt`'s.
    static let broad: Set<FailureClass> = [.systemFileCorrupt]

    /// Drops broad findings' evidence about files that a specific finding names; a broad
    /// finding left without evidence is dropped, one left with less says how much moved.
    static func resolve(_ findings: [Finding], root: SystemRoot) -> [Finding] {
        let claimed = Set(findings.filter { !broad.contains($0.failureClass) }
            .flatMap(\.evidence).compactMap { path(of: $0, root: root) })
        guard !claimed.isEmpty else { return findings }
        return findings.compactMap { finding in
            guard broad.contains(finding.failureClass) else { return finding }
            var kept = finding
            kept.evidence = finding.evidence.filter { evidence in
                guard let path = path(of: evidence, root: root) else { return true }
                return !claimed.contains(path)
            }
            let moved = finding.evidence.count - kept.evidence.count
            if kept.evidence.isEmpty { return nil }
            if moved > 0 { kept.summary += " (\(moved) more reported under a more specific class)" }
            return kept
        }
    }

    /// The canonical file an evidence item is about: its source when that is an absolute
    /// path, without a `:line` suffix.
    private static func path(of evidence: Evidence, root: SystemRoot) -> String? {
        guard evidence.source.hasPrefix("/") else { return nil }
        var source = Substring(evidence.source)
        if let colon = source.lastIndex(of: ":"), source[source.index(after: colon)...].allSatisfy(\.isNumber) {
            source = source[..<colon]
        }
        return root.canonical(String(source))
    }
}
