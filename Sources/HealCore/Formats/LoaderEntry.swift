/// A Boot Loader Specification type #1 entry: `/boot/loader/entries/NAME[+LEFT[-DONE]].conf`.
///
/// ```
/// # comment
/// title      Fedora Linux 39
/// version    6.5.6-300.fc39.x86_64
/// linux      /vmlinuz-6.5.6-300.fc39.x86_64
/// initrd     /initramfs-6.5.6-300.fc39.x86_64.img     (may repeat)
/// options    root=UUID=… ro                          (may repeat; joined with spaces)
/// ```
///
/// Keys and values are separated by blanks; paths are relative to the partition holding
/// the entries (the ESP, XBOOTLDR, or /boot). Upstream: uapi-group specification
/// "Boot Loader Specification", systemd docs/AUTOMATIC_BOOT_ASSESSMENT.md for counters.
public struct LoaderEntry: Sendable, Hashable {
    /// The file name's parts: `NAME+LEFT-DONE.conf`.
    public struct FileName: Sendable, Hashable, CustomStringConvertible {
        /// The entry's id: the file name without `.conf` and counters.
        public var id: String
        /// Tries left; nil when the name carries no counter (the entry is "good").
        public var triesLeft: Int?
        /// Tries done; 0 when the name has `+LEFT` only.
        public var triesDone: Int

        public init(id: String, triesLeft: Int? = nil, triesDone: Int = 0) {
            self.id = id
            self.triesLeft = triesLeft
            self.triesDone = triesDone
        }

        /// Splits `NAME+LEFT-DONE.conf` as systemd-bless-boot and sd-boot do: the counter is
        /// the last `+`, then digits, optionally `-` and digits, right before `.conf`.
        public init?(parsing name: String) {
            guard name.hasSuffix(".conf"), name.count > 5 else { return nil }
            let stem = String(name.dropLast(5))
            self.init(id: stem)
            guard let plus = stem.lastIndex(of: "+") else { return }
            let counter = stem[stem.index(after: plus)...]
            let pieces = counter.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(pieces.count), pieces.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
                  let left = Int(pieces[0]), let done = pieces.count == 2 ? Int(pieces[1]) : 0
            else { return }
            id = String(stem[..<plus])
            triesLeft = left
            triesDone = done
        }

        /// What boot assessment makes of the counter.
        public enum Assessment: String, Sendable, Hashable {
            /// No counter: blessed by systemd-bless-boot, or never counted.
            case good
            /// Tries left: booted fewer times than allowed without being blessed.
            case indeterminate
            /// No tries left: every allowed attempt failed.
            case bad
        }

        public var assessment: Assessment {
            guard let triesLeft else { return .good }
            return triesLeft > 0 ? .indeterminate : .bad
        }

        public var description: String {
            guard let triesLeft else { return id + ".conf" }
            return id + "+\(triesLeft)" + (triesDone > 0 ? "-\(triesDone)" : "") + ".conf"
        }
    }

    public var fileName: FileName
    public var title: String?
    public var version: String?
    public var machineID: String?
    public var sortKey: String?
    public var linux: String?
    public var efi: String?
    public var initrds: [String]
    /// Every `options` line, joined with a space, split at blanks.
    public var options: [String]
    /// Line number of `linux` (1-based), for evidence.
    public var linuxLine: Int?
    /// Keys the specification does not define, kept for evidence.
    public var unknownKeys: [String]

    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        case badFileName(String)
        case binary(file: String)

        public var description: String {
            switch self {
            case .badFileName(let name): "cannot use \(name) as a loader entry: the name must end in .conf"
            case .binary(let file): "cannot parse \(file): it contains NUL bytes, not text"
            }
        }
    }

    /// Parses the text of the entry named `fileName`.
    /// - Throws: `LoaderEntry.Error` for a name without `.conf` or binary content.
    public init(fileName name: String, parsing text: String) throws(LoaderEntry.Error) {
        guard let parsed = FileName(parsing: name) else { throw .badFileName(name) }
        guard !text.unicodeScalars.contains("\0") else { throw .binary(file: name) }
        fileName = parsed
        initrds = []
        options = []
        unknownKeys = []
        // Lines end at "\n", "\r\n" or "\r", as systemd reads these files (src/basic/fileio.c
        // `read_line_full`). Splitting at the Character "\n" alone would miss "\r\n", which
        // Swift treats as one Character, and read a CRLF file as one line.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        for (index, rawLine) in lines.enumerated() {
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.hasPrefix("#") { continue }
            let key = String(line.prefix { $0 != " " && $0 != "\t" })
            let value = String(line.dropFirst(key.count).drop { $0 == " " || $0 == "\t" })
                .trimmingTrailingBlanks()
            switch key {
            case "title": title = value
            case "version": version = value
            case "machine-id": machineID = value
            case "sort-key": sortKey = value
            case "linux": linux = value; linuxLine = index + 1
            case "efi": efi = value
            case "initrd": initrds.append(value)
            case "options": options += value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            default: unknownKeys.append(key)
            }
        }
    }
}

extension String {
    func trimmingTrailingBlanks() -> String {
        var result = self
        while let last = result.last, last == " " || last == "\t" || last == "\r" { result.removeLast() }
        return result
    }
}
