import HealCore

/// `system-file-corrupt`: a file of a boot-critical package (`BootCriticalPackages`) differs
/// from the digest dpkg recorded in its md5sums. Files the boot never reads (documentation,
/// network and sound modules: `BootCriticalPackages.matters(path:)`) are left out. One
/// finding per package, one piece of evidence per file.
///
/// A file missing under the mount point of a filesystem fstab mounts but that is not
/// mounted under the root (an offline root's separate /boot) is not missing from the
/// system: it is on that filesystem, which cannot be seen here, so it is not reported
/// (`BootFilesystemsDetector` says what could not be examined).
public struct SystemFilesDetector: Detector {
    public let name = "system-files"
    public let classes: [FailureClass] = [.systemFileCorrupt]

    public init() {}

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let report = try PackageIntegrity.verify(root: context.root, include: BootCriticalPackages.contains,
                                                 files: BootCriticalPackages.matters(path:))
        for problem in report.databaseProblems {
            context.logger.warning("dpkg database entry skipped", metadata: ["problem": "\(problem)"])
        }
        context.logger.debug("package files checked", metadata: [
            "packages": "\(report.packages.count)", "files": "\(report.checkedFiles)", "bytes": "\(report.checkedBytes)",
        ])
        let unmounted = ((try? Fstab.load(root: context.root))?.unmountedMountPoints(in: context.root) ?? []).map(\.mountPoint)
        var byPackage: [String: [PackageIntegrity.Mismatch]] = [:]
        for mismatch in report.mismatches {
            if case .missing = mismatch.problem,
               let mountPoint = unmounted.first(where: { mismatch.path.hasPrefix($0 + "/") }) {
                context.logger.notice("packaged file on a filesystem not mounted here", metadata: [
                    "path": "\(mismatch.path)", "mountPoint": "\(mountPoint)"])
                continue
            }
            byPackage[mismatch.package, default: []].append(mismatch)
        }
        return byPackage.keys.sorted().map { package in
            let files = byPackage[package] ?? []
            let names = files.prefix(3).map(\.path).joined(separator: ", ") + (files.count > 3 ? ", …" : "")
            let counted = files.count == 1 ? "1 file of \(package) differs" : "\(files.count) files of \(package) differ"
            return Finding(.systemFileCorrupt,
                           summary: "\(counted) from the package: \(names)",
                           evidence: files.map { mismatch in
                               Evidence(source: mismatch.path,
                                        detail: "package \(package): expected md5 \(mismatch.expected), found \(mismatch.problem)")
                           })
        }
    }
}
