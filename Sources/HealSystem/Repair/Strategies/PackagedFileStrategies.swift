import Glibc
import HealCore

/// A packaged file as its package ships it, read from the .deb in apt's cache.
enum PristineFile: Equatable {
    case file(contents: [UInt8], mode: UInt32)
    case symlink(target: String)
}

/// Finds the pristine copy of files dpkg installed: their owners from
/// `/var/lib/dpkg/info/*.list`, the installed versions from `/var/lib/dpkg/status`, those
/// versions' .debs in `/var/cache/apt/archives`, and the digests in the owners' md5sums,
/// checked against the bytes taken from the .deb before anything is written.
///
/// Made for many files at once: the `.list` files are read once for all the paths wanted
/// (an index of just those paths), the status file once for all their packages, each
/// md5sums once per package, and each package is read in one streaming pass
/// (`restoreOperations`, then `DebPackage.restore`), so restoring a whole module tree costs
/// about what unpacking its package costs.
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
        guard let owner = try owners(of: [path])[path] else { throw error("no installed package owns \(path)") }
        return owner
    }

    /// The packages that installed `paths`, keyed by the path as given, in one pass over
    /// every `.list`: only lines whose last component is one of the paths' is looked at
    /// further. A path two packages list belongs to the first by info file name.
    /// - Throws: for the first path no installed package lists.
    func owners(of paths: [String]) throws(PlanError) -> [String: Owner] {
        // The folders are followed, the last component is not: a link standing where the
        // package has a file must not make the link's target the file to restore.
        var wanted: [String: [String]] = [:]
        var names = Set<Substring>()
        for path in paths {
            // The paths come from the root's own dpkg database: never trusted to name a file.
            guard let base = path.split(separator: "/").last, base != ".", base != ".." else {
                throw error("\(path) names no file")
            }
            let folder = root.canonical(String(path.dropLast(base.count)))
            wanted[(folder == "/" ? "" : folder) + "/" + base, default: []].append(path)
            names.insert(base)
        }
        var owners: [String: Owner] = [:]
        var parents: [Substring: String] = [:]
        let info = DpkgDatabase.infoDirectory
        for name in root.files.entriesIfPresent(info) where name.hasSuffix(".list") {
            guard !wanted.isEmpty else { break }
            guard let text = try? root.files.text(info + "/" + name, limit: 16 << 20) else { continue }
            let qualified = String(name.dropLast(".list".count))
            let package = String(qualified.split(separator: ":").first ?? Substring(qualified))
            for line in text.split(separator: "\n") {
                guard let slash = line.lastIndex(of: "/") else { continue }
                let base = line[line.index(after: slash)...]
                guard names.contains(base) else { continue }
                let parent = line[..<slash]
                let canonicalParent = parents[parent] ?? root.canonical(parent.isEmpty ? "/" : String(parent))
                parents[parent] = canonicalParent
                guard let given = wanted.removeValue(forKey: (canonicalParent == "/" ? "" : canonicalParent) + "/" + base) else { continue }
                for path in given {
                    owners[path] = Owner(package: package, qualified: qualified, listed: String(line))
                }
            }
        }
        if let unowned = paths.first(where: { owners[$0] == nil }) {
            throw error("no installed package owns \(unowned)")
        }
        return owners
    }

    /// The installed version of `package` (`Version:` of its stanza in dpkg's status file).
    func installedVersion(of package: String) -> String? {
        installedVersions(of: [package])[package]
    }

    /// The installed versions of `packages`, in one pass over dpkg's status file.
    func installedVersions(of packages: Set<String>) -> [String: String] {
        guard let text = try? root.files.text("/var/lib/dpkg/status", limit: 64 << 20) else { return [:] }
        var versions: [String: String] = [:]
        var name: Substring?
        var version: Substring?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                name = nil
                version = nil
            } else if line.hasPrefix("Package: ") {
                name = line.dropFirst("Package: ".count)
            } else if line.hasPrefix("Version: ") {
                version = line.dropFirst("Version: ".count)
            } else {
                continue
            }
            if let name, let version, packages.contains(String(name)), versions[String(name)] == nil {
                versions[String(name)] = String(version)
            }
        }
        return versions
    }

    /// The cached .deb of the installed version of `package`, as the root names it.
    func cachedDeb(of package: String) throws(PlanError) -> String {
        guard let version = installedVersion(of: package) else {
            throw error("dpkg's status file has no installed version of \(package)")
        }
        return try cachedDeb(of: package, version: version)
    }

    /// The cached .deb of `package` at `version`, as the root sees it
    /// (`/var/cache/apt/archives/NAME_VERSION_ARCH.deb`).
    func cachedDeb(of package: String, version: String) throws(PlanError) -> String {
        // apt names files NAME_VERSION_ARCH.deb with the epoch's ':' spelled %3a.
        let stem = package + "_" + version.replacing(":", with: "%3a") + "_"
        guard let deb = DebPackage.cached(named: package, in: root).lazy
            .compactMap({ $0.split(separator: "/").last.map(String.init) })
            .first(where: { $0.hasPrefix(stem) }) else {
            throw error("the package cache \(DebPackage.cacheDirectory) has no .deb of \(package) \(version)")
        }
        return DebPackage.cacheDirectory + "/" + deb
    }

    /// Every digest the md5sums of the package `qualified` (`libc6:amd64`) records, keyed by
    /// the path as dpkg lists it; links and conffiles have none.
    func digests(of qualified: String) -> [String: String] {
        let path = DpkgDatabase.infoDirectory + "/" + qualified + ".md5sums"
        guard let text = try? root.files.text(path) else { return [:] }
        var digests: [String: String] = [:]
        for entry in Md5sums.parse(text, source: path).entries where digests[entry.path] == nil {
            digests[entry.path] = entry.digest
        }
        return digests
    }

    /// The digest `owner`'s md5sums records for its file, nil for links and conffiles.
    func expectedDigest(_ owner: Owner) -> String? {
        digests(of: owner.qualified)[owner.listed]
    }

    /// The file as the installed package ships it, in memory; file contents verified
    /// against md5sums. For the few files a walk to init or a unit needs: many files are
    /// restored with `restoreOperations`, never held in memory.
    func pristine(_ owner: Owner) throws(PlanError) -> PristineFile {
        let debPath = try cachedDeb(of: owner.package)
        let debName = String(debPath.split(separator: "/").last ?? "")
        let found: (ArchiveEntry, [UInt8])?
        do {
            found = try DebPackage(root: root, path: debPath).entry(owner.listed)
        } catch {
            throw self.error("cannot read \(owner.listed) from \(debName): \(error)")
        }
        guard let (entry, contents) = found else { throw error("\(debName) has no entry \(owner.listed)") }
        switch entry.kind {
        case .symlink:
            guard let target = entry.linkTarget else { throw error("\(owner.listed) in \(debName) is a link without a target") }
            return .symlink(target: target)
        case .file:
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

    /// The operations that put `paths` back as their installed packages ship them: a
    /// `removeFile` first for each path where something other than a regular file stands
    /// (so nothing is written through a link), then one `restorePackagedFile` per path,
    /// grouped by package so that each package is read in a single pass.
    /// - Throws: when a path has no owner, a package no installed version, or the cache no
    ///   .deb of that version.
    func restoreOperations(for paths: [String]) throws(PlanError) -> [RepairOperation] {
        var unique: [String] = []
        var seen = Set<String>()
        for path in paths where seen.insert(path).inserted { unique.append(path) }
        let owners = try owners(of: unique)
        var packages: [String] = []
        var byPackage: [String: [String]] = [:]
        for path in unique {
            guard let package = owners[path]?.package else { continue }
            if byPackage[package] == nil { packages.append(package) }
            byPackage[package, default: []].append(path)
        }
        let versions = installedVersions(of: Set(packages))
        var removals: [RepairOperation] = []
        var restores: [RepairOperation] = []
        for package in packages {
            guard let version = versions[package] else {
                throw error("dpkg's status file has no installed version of \(package)")
            }
            let deb = try cachedDeb(of: package, version: version)
            var digests: [String: [String: String]] = [:]
            for path in byPackage[package] ?? [] {
                guard let owner = owners[path] else { continue }
                if digests[owner.qualified] == nil { digests[owner.qualified] = self.digests(of: owner.qualified) }
                if let st = root.files.statusIfPresent(DebPackage.destination(path, in: root)), (st.st_mode & S_IFMT) != S_IFREG {
                    removals.append(.removeFile(path: path))
                }
                restores.append(.restorePackagedFile(path: path, package: deb, member: owner.listed,
                                                     md5: digests[owner.qualified]?[owner.listed]))
            }
        }
        return removals + restores
    }
}

/// `system-file-corrupt`: puts back every file of the finding that differs from its
/// package, taken from the cached .deb of the installed version and checked against dpkg's
/// md5sums before it is written. A symbolic link where the package has a
/// file is removed first, so the write cannot follow it.
///
/// The same pass also puts back the files of those packages that are missing outright,
/// though the finding does not name them: the detector hashes only what the boot reads
/// (`BootCriticalPackages.matters`), so when a kernel's whole module tree is gone it names
/// the storage and file system modules, but the network drivers went with them and the
/// machine would come back without its network. Documentation is left out (a minimal
/// install drops it on purpose, dpkg's `path-exclude`), and so are conffiles (md5sums does
/// not list them: a conffile an administrator deleted stays deleted, as dpkg keeps it).
public struct PackagedFileRestoreStrategy: RepairStrategy {
    public let descriptor = StrategyDescriptor(
        id: "packaged-file-restore",
        title: "Restore the altered packaged files from the package cache",
        classes: [.systemFileCorrupt],
        risk: 1,
        sideEffects: "replaces each altered file with the installed package's copy and puts back the package's missing files (local edits to them are lost; the fix package keeps them as its backup)",
        priorEffectiveness: 0.95,
        estimatedSeconds: 15)

    public init() {}

    /// The files named by the finding: each evidence's source is a path, its detail
    /// starts `package NAME:`.
    static func files(of finding: Finding) -> [String] {
        finding.evidence.filter { $0.detail.hasPrefix("package ") && $0.source.hasPrefix("/") }.map(\.source)
    }

    /// The packages named by the finding, as dpkg names them (`libc6:amd64`).
    static func packages(of finding: Finding) -> [String] {
        var names: [String] = []
        for evidence in finding.evidence where evidence.detail.hasPrefix("package ") {
            let rest = evidence.detail.dropFirst("package ".count)
            guard let end = rest.firstRange(of: ": ") else { continue }
            let name = String(rest[..<end.lowerBound])
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// The files of `packages` that md5sums lists and that are missing from the root,
    /// where a diversion put them; documentation excepted (see the type's comment).
    static func missingFiles(of packages: [String], root: SystemRoot) -> [String] {
        let database = DpkgDatabase(root: root)
        let diversions = (try? database.diversions()) ?? []
        var missing: [String] = []
        for file in database.checksumFiles() where packages.contains(file.qualifiedName) {
            guard let sums = try? database.checksums(file) else { continue }
            for entry in sums.entries where !BootCriticalPackages.unreadFolders.contains(where: { entry.path.hasPrefix($0) }) {
                let path = Diversion.installedPath(of: entry.path, package: file.package, in: diversions)
                if root.files.statusIfPresent(DebPackage.destination(path, in: root)) == nil { missing.append(path) }
            }
        }
        return missing
    }

    /// The finding's files, then the missing ones it does not name.
    static func restored(_ finding: Finding, root: SystemRoot) -> [String] {
        let named = files(of: finding)
        let known = Set(named)
        return named + missingFiles(of: packages(of: finding), root: root).filter { !known.contains($0) }
    }

    public func unmetPrecondition(_ context: RepairContext) -> String? {
        guard !Self.files(of: context.finding).isEmpty else { return "the finding names no packaged file" }
        do {
            _ = try PackagedFiles(root: context.root, strategy: descriptor.id)
                .restoreOperations(for: Self.restored(context.finding, root: context.root))
        } catch {
            return error.reason
        }
        return nil
    }

    public func plan(_ context: RepairContext) throws -> [RepairOperation] {
        try PackagedFiles(root: context.root, strategy: descriptor.id)
            .restoreOperations(for: Self.restored(context.finding, root: context.root))
    }
}
