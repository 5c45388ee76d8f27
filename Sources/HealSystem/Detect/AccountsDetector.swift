import HealCore

/// `account-database-broken`: `/etc/passwd`, `/etc/shadow` or `/etc/group` is missing, empty,
/// has lines glibc cannot parse, or lacks root. One finding per broken file.
///
/// shadow is required exactly when passwd points to it: a password field of `x` means
/// "the hash is in /etc/shadow" (Debian's default), and without the file nobody can log in.
/// A system without shadow passwords has no such field and needs no shadow.
public struct AccountsDetector: Detector {
    public let name = "accounts"
    public let classes: [FailureClass] = [.accountDatabaseBroken]

    public init() {}

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        var findings: [Finding] = []
        var passwd: AccountDatabase.Contents?
        for kind in AccountDatabase.Kind.allCases {
            let contents: AccountDatabase.Contents
            do {
                contents = try AccountDatabase.read(kind, root: context.root)
            } catch {
                if kind == .shadow, case .missing = error,
                   let passwd, !passwd.records.contains(where: { $0.password == "x" }) {
                    continue
                }
                findings.append(Finding(.accountDatabaseBroken, summary: "\(kind.path): \(error)",
                                        evidence: [Evidence(source: kind.path, detail: error.description)]))
                continue
            }
            if kind == .passwd { passwd = contents }
            findings += problems(in: contents)
        }
        return findings
    }

    private func problems(in contents: AccountDatabase.Contents) -> [Finding] {
        let path = contents.kind.path
        if contents.entryLines == 0 {
            return [Finding(.accountDatabaseBroken, summary: "\(path) has no entries",
                            evidence: [Evidence(source: path, detail: "no lines besides blanks and comments")])]
        }
        var evidence = contents.unparsable.map { line in
            Evidence(source: "\(path):\(line.line)", detail: "glibc cannot parse: \(line.text)")
        }
        var reasons: [String] = []
        if !contents.unparsable.isEmpty {
            let noun = contents.unparsable.count == 1 ? "line" : "lines"
            reasons.append("\(contents.unparsable.count) unparsable \(noun)")
        }
        if contents.root == nil {
            let what = contents.kind == .shadow ? "no entry for root" : "no root entry with id 0"
            reasons.append(what)
            evidence.append(Evidence(source: path, detail: "\(what) among \(contents.records.count) records"))
        }
        guard !reasons.isEmpty else { return [] }
        return [Finding(.accountDatabaseBroken, summary: "\(path): " + reasons.joined(separator: ", "), evidence: evidence)]
    }
}
