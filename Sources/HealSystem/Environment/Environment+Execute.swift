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
            report = try DebPackage(path: root.host(root.canonical(package))).restore(files, into: root)
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
            return outcome(writeFile(root.host(root.canonical(path)), contents, mode: mode))
        case .restorePackagedFile:
            return restore([operation][...]).first ?? outcome("nothing restored")
        case .removeFile(let path):
            let host = root.host(parentCanonical(path))
            guard let st = FileReading.status(atPath: host) else { return outcome(nil) }
            let rc = (st.st_mode & S_IFMT) == S_IFDIR ? rmdir(host) : unlink(host)
            return outcome(rc == 0 ? nil : "cannot remove \(path): \(String(cString: strerror(errno)))")
        case .makeSymlink(let path, let target):
            let host = root.host(parentCanonical(path))
            if FileReading.linkTarget(atPath: host) == target { return outcome(nil) }
            if FileReading.status(atPath: host) != nil && unlink(host) != 0 {
                return outcome("cannot replace \(path): \(String(cString: strerror(errno)))")
            }
            if let error = makeParents(of: host) { return outcome(error) }
            return outcome(symlink(target, host) == 0 ? nil : "cannot link \(path): \(String(cString: strerror(errno)))")
        case .makeDirectory(let path, let mode):
            let host = root.host(root.canonical(path))
            do {
                try Paths.makeDirectory(host)
            } catch {
                return outcome("\(error)")
            }
            return outcome(chmod(host, mode_t(mode)) == 0 ? nil : "cannot chmod \(path): \(String(cString: strerror(errno)))")
        case .setMode(let path, let mode):
            let host = root.host(root.canonical(path))
            return outcome(chmod(host, mode_t(mode)) == 0 ? nil : "cannot chmod \(path): \(String(cString: strerror(errno)))")
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

    private func writeFile(_ host: String, _ contents: [UInt8], mode: UInt32) -> String? {
        if let error = makeParents(of: host) { return error }
        // Write a temporary file beside it and rename: a reader of the clone sees the old or
        // the new file, never half of one.
        let temporary = host + ".clarity-heal-new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { return "cannot create \(temporary): \(String(cString: strerror(errno)))" }
        var written = 0
        while written < contents.count {
            let n = contents[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                return "cannot write \(host): \(reason)"
            }
            written += n
        }
        fchmod(fd, mode_t(mode))
        close(fd)
        guard rename(temporary, host) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return "cannot replace \(host): \(reason)"
        }
        return nil
    }

    private func makeParents(of host: String) -> String? {
        guard let slash = host.lastIndex(of: "/") else { return nil }
        do {
            try Paths.makeDirectory(String(host[..<slash]))
            return nil
        } catch {
            return "\(error)"
        }
    }

    private static func tail(_ text: String) -> String {
        text.split(separator: "\n").suffix(5).joined(separator: " / ")
    }
}
