/// Which boot entry to fall back to after failed boots (`boot-failures` in
/// docs/failure-catalogue.md: the entry that last booted), decided from facts the caller read.
///
/// No record says which entry booted last, so the choice is made from the best evidence
/// there is, in this order:
///
/// 1. **`saved_entry` with `GRUB_SAVEDEFAULT=true`**: GRUB's `savedefault` stores the entry
///    it starts, so when that is not the failing default it is the last entry a person (or
///    GRUB) started instead, and the likeliest to have booted.
/// 2. **A blessed BLS entry** (a file name without `+LEFT-DONE`): systemd's boot assessment
///    removes the counter only after a boot was proven good; the newest such entry.
/// 3. **The newest other entry whose kernel chain is intact** (kernel, initrd, module index):
///    nothing says it booted, but it has everything to boot.
///
/// Never chosen: the failing entry, an entry booting the same kernel file, a recovery-mode
/// entry, a BLS entry assessed bad (`+0-N`), an entry whose chain is broken.
public enum BootFallback {
    /// One menu entry, as the caller found it.
    public struct Candidate: Sendable, Hashable {
        /// Index into the boot configuration's entries.
        public var index: Int
        public var title: String
        /// The kernel version, for "newest"; nil sorts oldest.
        public var version: String?
        /// The BLS assessment of its file name; nil for a grub.cfg menu entry.
        public var assessment: LoaderEntry.FileName.Assessment?
        /// Kernel, initrd and module index present and readable.
        public var intact: Bool
        public var isRecovery: Bool
        /// It boots the same kernel file as the failing entry.
        public var sameKernelAsFailing: Bool

        public init(index: Int, title: String, version: String?, assessment: LoaderEntry.FileName.Assessment?,
                    intact: Bool, isRecovery: Bool, sameKernelAsFailing: Bool) {
            self.index = index
            self.title = title
            self.version = version
            self.assessment = assessment
            self.intact = intact
            self.isRecovery = isRecovery
            self.sameKernelAsFailing = sameKernelAsFailing
        }
    }

    /// Where the choice came from (the numbered sources of the type's documentation).
    public enum Source: String, Sendable, Hashable {
        case savedDefault = "saved_entry stored by GRUB_SAVEDEFAULT"
        case blessedEntry = "newest BLS entry blessed by a good boot"
        case newestIntact = "newest other entry with an intact kernel chain"
    }

    public struct Choice: Sendable, Hashable {
        public var index: Int
        public var source: Source
        /// One sentence for the plan's log and the report.
        public var reason: String
    }

    /// The entry to fall back to, or nil when no other entry qualifies.
    /// - Parameters:
    ///   - failing: index of the entry that failed (the one the default boots).
    ///   - savedEntry: index `saved_entry` names, when GRUB_DEFAULT=saved and
    ///     GRUB_SAVEDEFAULT=true (pass nil otherwise).
    public static func choose(_ candidates: [Candidate], failing: Int?, savedEntry: Int?) -> Choice? {
        let usable = candidates.filter { c in
            c.index != failing && c.intact && !c.isRecovery && !c.sameKernelAsFailing && c.assessment != .bad
        }
        let failingTitle = candidates.first { $0.index == failing }.map { "\"\($0.title)\"" } ?? "the first entry"
        if let savedEntry, let saved = usable.first(where: { $0.index == savedEntry }) {
            return Choice(index: saved.index, source: .savedDefault,
                          reason: "\"\(saved.title)\" is the entry GRUB last started (saved_entry) and is not the failing \(failingTitle)")
        }
        if let good = newest(usable.filter { $0.assessment == .good }) {
            return Choice(index: good.index, source: .blessedEntry,
                          reason: "\"\(good.title)\" is the newest BLS entry without a boot counter, blessed by a good boot; \(failingTitle) failed")
        }
        if let other = newest(usable) {
            return Choice(index: other.index, source: .newestIntact,
                          reason: "no record says which entry booted; \"\(other.title)\" is the newest other entry whose kernel, initrd and modules are intact; \(failingTitle) failed")
        }
        return nil
    }

    /// The newest by kernel version; the first in menu order among equals.
    static func newest(_ candidates: [Candidate]) -> Candidate? {
        candidates.min { a, b in
            let order = GrubConfig.compareVersions(a.version ?? "", b.version ?? "")
            return order != 0 ? order > 0 : a.index < b.index
        }
    }

    /// The file name with its boot counter restarted: every try left again, none done
    /// (`NAME+0-3.conf` → `NAME+3.conf`), as `kernel-install` names a new entry. A name
    /// without a counter is returned unchanged.
    public static func restartingCounter(_ name: LoaderEntry.FileName) -> LoaderEntry.FileName {
        guard let left = name.triesLeft else { return name }
        return LoaderEntry.FileName(id: name.id, triesLeft: max(1, left + name.triesDone), triesDone: 0)
    }
}
