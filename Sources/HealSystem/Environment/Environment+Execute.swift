import Glibc
import HealCore

/// What running one operation in an environment did.
public struct OperationOutcome: Sendable, Codable, Hashable {
    public var operation: String
    public var succeeded: Bool
    /// The tool's status and output for `runTool`, the error for a failed file operation.
    public var detail: String
}

extension Environment {
    /// Runs a strategy's operations in the clone, in order, stopping at the first failure.
    /// Each operation is idempotent: running the list twice leaves the same clone.
    ///
    /// File operations act on the canonical path inside the clone (symbolic links followed
    /// as the examined system would, so a link can never lead a write out of the clone).
    ///
    /// A run of `restorePackagedFile` operations from the same package is done in one pass
    /// over that package (`DebPackage.restore`), whatever their number.
    public func execute(_ operations: [RepairOperation]) -> [OperationOutcome] {
        var outcomes: [OperationOutcome] = []
        var index = operations.startIndex
        while index < operations.endIndex {
            var end = index + 1
            if case .restorePackagedFile(_, let package, _, _) = operations[index] {
                while end < operations.endIndex, case .restorePackagedFile(_, let next, _, _) = operations[end], next == package {
                    end += 1
                }
                let restored = restore(operations[index..<end])
                outcomes += restored
                if restored.contains(where: { !$0.succeeded }) { break }
            } else {
                let outcome = perform(operations[index])
                outcomes.append(outcome)
                if !outcome.succeeded { break }
            }
            index = end
        }
        return outcomes
    }

    /// Restores files of one package in one pass; an outcome per operation, up to the first
    /// that failed.
    private func restore(_ operations: ArraySlice<RepairOperation>) -> [OperationOutcome] {
        var files: [DebPackage.Restoration] = []
        var package = ""
        for operation in operations {
            guard case .restorePackagedFile(let path, let archive, let member, let md5) = operation else { continue }
            package = archive
            files.append(DebPackage.Restoration(path: path, member: member, md5: md5))
        }
        let report: DebPackage.RestoreReport
        do {
            report = try DebPackage(root: root, path: package).restore(files, into: root)
        } catch {
            report = DebPackage.RestoreReport(failure: .init(index: 0, reason: error.description))
        }
        var outcomes: [OperationOutcome] = []
        for (index, operation) in zip(files.indices, operations) {
            if report.restored.contains(index) {
                outcomes.append(OperationOutcome(operation: operation.description, succeeded: true, detail: "done"))
                continue
            }
            let reason = report.failure.map { $0.index == index ? $0.reason : "not restored: the pass over \(package) stopped at \(files[$0.index].path): \($0.reason)" }
            outcomes.append(OperationOutcome(operation: operation.description, succeeded: false,
                                             detail: reason ?? "not restored"))
            break
        }
        return outcomes
    }

    private func perform(_ operation: RepairOperation) -> OperationOutcome {
        func outcome(_ error: String?) -> OperationOutcome {
            OperationOutcome(operation: operation.description, succeeded: error == nil, detail: error ?? "done")
        }
        switch operation {
        case .writeFile(let path, let contents, let mode):
            // The clone is a copy of a root that may be hostile: every write goes through
            // the root's confined files, links followed inside it only. No fsync: the clone
            // is thrown away.
            return outcome(fileOperation(path) { (files) throws(FileError) in
                let target = root.canonical(path)
                try files.makeDirectories(PackagePath.parent(target), links: .followInside)
                try files.replaceFile(target, bytes: contents, links: .followInside, mode: mode, durable: false)
            })
        case .restorePackagedFile:
            return restore([operation][...]).first ?? outcome("nothing restored")
        case .removeFile(let path):
            return outcome(fileOperation(path) { (files) throws(FileError) in
                let target = parentCanonical(path)
                guard let kind = files.kind(target) else { return }
                if kind == .directory {
                    try files.removeEmptyDirectory(target)
                    if files.kind(target) != nil { throw FileError.system(path: path, call: "rmdir", errno: ENOTEMPTY) }
                } else {
                    try files.remove(target)
                }
            })
        case .makeSymlink(let path, let target):
            return outcome(fileOperation(path) { (files) throws(FileError) in
                let link = parentCanonical(path)
                if (try? files.linkTarget(link)) == target { return }
                try files.makeDirectories(PackagePath.parent(link), links: .followInside)
                try files.replaceSymlink(link, target: target)
            })
        case .makeDirectory(let path, let mode):
            return outcome(fileOperation(path) { (files) throws(FileError) in
                try files.makeDirectories(path, links: .followInside)
                try files.setMode(path, mode: mode, links: .followInside)
            })
        case .setMode(let path, let mode):
            return outcome(fileOperation(path) { (files) throws(FileError) in
                try files.setMode(path, mode: mode, links: .followInside)
            })
        case .runTool(let arguments, _):
            do {
                let result = try run(arguments)
                let detail = "exit \(result.status)" + (result.succeeded ? "" : ": " + Self.tail(result.errorOutput + result.output))
                return OperationOutcome(operation: operation.description, succeeded: result.succeeded, detail: detail)
            } catch {
                return outcome("\(error)")
            }
        case .checkFilesystem(let device, _, _):
            // The clone holds files, not the device's blocks: only `BlockRepairTrial` (a
            // snapshot of the device) can run this.
            return outcome("a file-level \(kind.rawValue) clone cannot repair \(device) at block level; it needs a block snapshot")
        }
    }

    /// The canonical path of the parent with the last component kept: removing or
    /// replacing a link acts on the link, not on what it points to.
    private func parentCanonical(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return path }
        let parent = root.canonical(String(path[..<slash]))
        return (parent == "/" ? "" : parent) + path[slash...]
    }

    /// Runs a file operation on the clone's confined files; nil when it succeeded, else why.
    private func fileOperation(_ path: String, _ body: (ConfinedDirectory) throws(FileError) -> Void) -> String? {
        do {
            try body(root.files)
            return nil
        } catch {
            return "cannot change \(path): \(error)"
        }
    }

    private static func tail(_ text: String) -> String {
        text.split(separator: "\n").suffix(5).joined(separator: " / ")
    }
}
