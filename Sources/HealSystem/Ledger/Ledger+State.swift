import FoundationEssentials
import Glibc
import HealCore

/// Reading the machine's repair state: the ledger plus the apply engine's folders.
///
/// ```
///  <root>/var/lib/clarity-heal/
///  ├── ledger.jsonl          every record (Ledger)
///  ├── journal               present only while an apply or rollback is in flight, or
///  │                         after a crash cut one short
///  ├── applied/<fix-id>/     fixes on this root: state.json ("state": applied or
///  │                         rolled-back), package/ (the package copy), backup.tar
///  └── staged/<fix-id>/      fixes waiting for the next boot's initramfs
/// ```
/// The folders belong to the apply engine; they are read defensively here: a missing or
/// unreadable folder is an empty one, never an error.
extension Ledger {
    /// The state folder inside the root.
    public static let stateDirectory = StateDirectory.path

    /// The repair state of the root: ledger records folded with the state folders.
    /// - Throws: `Ledger.Error` when the ledger exists but cannot be read, or the state
    ///   folder is not clarity-heal's own.
    public func state() throws(Ledger.Error) -> RepairState {
        let reading = try records()
        let state: StateDirectory?
        do {
            state = try StateDirectory.open(root)
        } catch {
            throw .untrusted(error.description)
        }
        let applied = fixFolders("/applied", in: state)
        let rolledBack = applied.filter { appliedState(of: $0, in: state) == "rolled-back" }
        return RepairState(root: root.path, records: reading.records, skippedLines: reading.skipped.count,
                           tornTail: reading.tornTail, applied: applied.filter { !rolledBack.contains($0) },
                           rolledBack: rolledBack, staged: fixFolders("/staged", in: state),
                           interrupted: interruptedJournal(in: state))
    }

    /// The report for one fix; nil when neither the ledger nor a package on the root knows it.
    /// - Throws: `Ledger.Error` when the ledger exists but cannot be read.
    public func report(fix: String) throws(Ledger.Error) -> FixReport? {
        let reading = try records()
        let (manifest, package, opened) = manifest(of: fix)
        return FixReport(fix: fix, records: reading.records, manifest: manifest, package: package,
                         console: opened.flatMap { try? $0.bootConsole() })
    }

    /// The manifest of `fix` from `applied/<fix>/` or `staged/<fix>/`, checksums verified
    /// when the folder is a whole package (then the package too); else its `manifest.json`
    /// as it stands.
    func manifest(of fix: String) -> (FixManifest?, String?, FixPackage?) {
        // A fix id names a folder: nothing that could leave the state folder.
        guard PackagePath.isUsableFixID(fix), let state = try? StateDirectory.open(root) else { return (nil, nil, nil) }
        for folder in ["/applied/", "/staged/"] {
            let directory = folder + fix
            for candidate in [directory, directory + "/package"] {
                if let sub = try? state.files.subdirectory(candidate, links: .refuse),
                   let package = try? FixPackage.open(sub) { return (package.manifest, state.host(candidate), package) }
                if let bytes = try? state.files.read(candidate + "/manifest.json", limit: 16 << 20, links: .refuse),
                   let manifest = try? JSONDecoder().decode(FixManifest.self, from: Data(bytes)) {
                    return (manifest, state.host(candidate), nil)
                }
            }
        }
        return (nil, nil, nil)
    }

    /// The `state` of `applied/<fix>/state.json` (`applied`, `rolled-back`), when readable.
    func appliedState(of fix: String, in state: StateDirectory?) -> String? {
        struct State: Decodable { var state: String? }
        guard let state, let bytes = try? state.files.read("/applied/" + fix + "/state.json", limit: 1 << 20, links: .refuse) else {
            return nil
        }
        return (try? JSONDecoder().decode(State.self, from: Data(bytes)))?.state
    }

    /// Fix ids in `applied/` or `staged/`: visible folder entries (hidden ones are partial).
    func fixFolders(_ name: String, in state: StateDirectory?) -> [String] {
        guard let state else { return [] }
        return state.files.entriesIfPresent(name).filter { PackagePath.isUsableFixID($0) }
    }

    /// The journal an apply or rollback left behind, with the operation and fix its first
    /// well-formed `prepare`/`begin` line names.
    func interruptedJournal(in state: StateDirectory?) -> RepairState.Interrupted? {
        guard let state, let st = state.files.statusIfPresent("/journal", links: .refuse),
              (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var operation: String?, fix: String?
        if let text = try? state.files.text("/journal", limit: 1 << 20, links: .refuse) {
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                // "<crc> prepare|begin apply|rollback <fix> …" (JournalRecord's line).
                guard words.count >= 4, words[1] == "prepare" || words[1] == "begin",
                      words[2] == "apply" || words[2] == "rollback" else { continue }
                operation = words[2]
                fix = words[3]
                break
            }
        }
        return RepairState.Interrupted(operation: operation, fix: fix, journal: state.host("/journal"))
    }
}
