import Glibc
import HealCore

/// A packaged file as its package ships it, read from the .deb in apt's cache.
enum PristineFile: Equatable {
    case file(contents: [UInt8], mode: UInt32)
    case symlink(target: String)
}

/// Finds the pristine copy of a file dpkg installed: its owner from
/// `/var/lib/dpkg/info/*.list`, the installed version from `/var/lib/dpkg/status`, that
/// version's .deb in `/var/cache/apt/archives`, and the digest in the owner's md5sums,
/// checked against the bytes taken from the .deb before anything is written.
///
/// Paths are compared in canonical form inside the root: dpkg lists `/sbin/init` and
/// `/lib64/ld-linux-x86-64.so.2`, which a merged-/usr root reaches as `/usr/sbin/init` and
/// `/usr/lib64/…`. Diversions are not followed (none touch boot-critical files on Debian).
struct PackagedFiles {
    let root: SystemRoot
    let strategy: String

    struct Owner: Equatable {
        /// The package name without `:arch` (`libc6`).
        var package: String
        /// The info file stem (`libc6:amd64`).
        var qualified: String
        /// The path as dpkg lists it (`/lib64/ld-linux-x86-64.so.2`).
        var listed: String
    }

    func error(_ reason: String) -> PlanError { PlanError(strategy: strategy, reason: reason) }

    /// The package that installed `path` (any spelling of it inside the root).
    func owner(of path: String) throws(PlanError) -> Owner {
        // The folders are followed, the last component is not: a link standing where the
        // package has a file must not make the link's target the file to restore.
        guard let base = path.split(separator: "/").last else { throw error("\(path) names no file") }
        let folder = root.canonical(String(path.dropLast(base.count)))
        let wanted = (folder == "/" ? "" : folder) + "/" + base
        var parents: [String: String] = [:]
        let info = DpkgDatabase.infoDirectory
        for name in FileReading.directoryEntries(atPath: root.host(info)).sorted() where name.hasSuffix(".list") {
            guard let text = try? FileReading.text(atPath: root.host(info + "/" + name), limit: 16 << 20) else { continue }
            for line in text.split(separator: "\n") where line.hasSuffix("/" + base) {
                let listed = String(line)
                let slash = listed.lastIndex(of: "/") ?? listed.startIndex
                let parent = String(listed[..<slash])
                let canonicalParent = parents[parent] ?? root.canonical(parent.isEmpty ? "/" : parent)
                parents[parent] = canonicalParent
                guard (canonicalParent == "/" ? "" : canonicalParent) + "/" + base == wanted else { continue }
                let qualified = String(name.dropLast(".list".count))
                let package = String(qualified.split(separator: ":").first ?? Substring(qualified))
                return Owner(package: package, qualified: qualified, listed: listed)
            }
        }
        throw error("no installed package owns \(path)")
    }

    /// The installed version of `package` (`Version:` of its stanza in dpkg's status file).
    func installedVersion(of package: String) -> String? {
        guard let text = try? FileReading.text(atPath: root.host("/var/lib/dpkg/status"), limit: 64 << 20) else { return nil }
        for stanza in text.split(separator: "\n\n") {
            var name: Substring?
            var version: Substring?
            for line in stanza.split(separator: "\n") {
                if line.hasPrefix("Package: ") { name = line.dropFirst("Package: ".count) }
                if line.hasPrefix("Version: ") { version = line.dropFirst("Version: ".count) }
            }
            if name == Substring(package), let version { return String(version) }
        }
        return nil
    }

    /// The host path of the cached .deb of the installed version of `package`.
    func cachedDeb(of package: String) throws(PlanError) -> String {
        guard let version = installedVersion(of: package) else {
            throw error("dpkg's status file has no installed version of \(package)")
        }
        // apt names files NAME_VERSION_ARCH.deb with the epoch's ':' spelled %3a.
        let stem = package + "_" + version.replacing(":", with: "%3a") + "_"
        guard let deb = DebPackage.cached(named: package, in: root).first(where: {
            $0.split(separator: "/").last?.hasPrefix(stem) == true
        }) else {
            throw error("the package cache \(DebPackage.cacheDirectory) has no .deb of \(package) \(version)")
        }
        return deb
    }

    /// The digest `owner`'s md5sums records for its file, nil for links and conffiles.
    func expectedDigest(_ owner: Owner) -> String? {
        let path = DpkgDatabase.infoDirectory + "/" + owner.qualified + ".md5sums"
        guard let text = try? FileReading.text(atPath: root.host(path)) else { return nil }
        return Md5sums.parse(text, source: path).entries.first { $0.path == owner.listed }?.digest
    }

    /// The file as the installed package ships it; file contents verified against md5sums.
    func pristine(_ owner: Owner) throws(PlanError) -> PristineFile {
        let debPath = try cachedDeb(of: owner.package)
        let relative = String(owner.listed.drop { $0 == "/" })
        let debName = String(debPath.split(separator: "/").last ?? "")
        let deb: DebPackage
        let entries: [ArchiveEntry]
        do {
            deb = try DebPackage(path: debPath)
            entries = try deb.entries()
        } catch {
            throw self.error("cannot read \(debName): \(error)")
        }
        guard let entry = entries.first(where: { $0.path == relative }) else {
            throw error("\(debName) has no entry \(owner.listed)")
        }
        switch entry.kind {
        case .symlink:
            guard let target = entry.linkTarget else { throw error("\(owner.listed) in \(debName) is a link without a target") }
            return .symlink(target: target)
        case .file:
            let contents: [UInt8]
            do {
                contents = try deb.contents(of: relative)
            } catch {
                throw self.error("cannot read \(owner.listed) from \(debName): \(error)")
            }
            guard let expected = expectedDigest(owner) else {
                throw error("\(owner.qualified).md5sums has no digest for \(owner.listed)")
            }
            let actual = MD5File.digest(of: contents)
            guard actual == expected else {
                throw error("\(owner.listed) in \(debName) has md5 \(actual), dpkg recorded \(expected)")
            }
            return .file(contents: contents, mode: entry.permissions)
        default:
            throw error("\(owner.listed) in \(debName) is a \(entry.kind.rawValue), not a file or link")
        }
    }
}

/// `system-file-corrupt`: puts back every file of the finding that differs from its
/// package, taken from the cached .deb of the installed version and checked against dpkg's
/// md5sums before it is written. A symbolic link where the package has a
/// file is removed first, so the write cannot follow it.
public struct PackagedFileRestoreStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "packaged-file-restore",
        title: "Restore the altered packaged files from the package cache",
        classes: [.systemFileCorrupt],
        risk: 1,
        sideEffects: "replaces each altered file with the installed package's copy (local edits to it are lost; the fix package keeps them as its backup)",
        priorEffectiveness: 0.95,
        estimatedSeconds: 15)

    public init() {}

    /// The files named by the finding: each evidence's source is a path, its detail
    /// starts `package NAME:`.
    static func files(of finding: Finding) -> [String] {
        finding.evidence.filter { $0.detail.hasPrefix("package ") && $0.source.hasPrefix("/") }.map(\.source)
    }

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        let files = Self.files(of: context.finding)
        guard !files.isEmpty else { return "the finding names no packaged file" }
        let source = PackagedFiles(root: context.root, strategy: descriptor.id)
        for path in files {
            do {
                _ = try source.cachedDeb(of: try source.owner(of: path).package)
            } catch {
                return error.reason
            }
        }
        return nil
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        let source = PackagedFiles(root: context.root, strategy: descriptor.id)
        var operations: [RepairOperation] = []
        for path in Self.files(of: context.finding) {
            let owner = try source.owner(of: path)
            switch try source.pristine(owner) {
            case .file(let contents, let mode):
                if let st = FileReading.status(atPath: context.root.host(path)), (st.st_mode & S_IFMT) != S_IFREG {
                    operations.append(.removeFile(path: path))
                }
                operations.append(.writeFile(path: path, contents: contents, mode: mode))
            case .symlink(let target):
                operations.append(.makeSymlink(path: path, target: target))
            }
        }
        return operations
    }
}
