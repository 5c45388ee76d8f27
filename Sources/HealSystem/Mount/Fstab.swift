import CMount
import HealCore
import Glibc

/// The static mount table of a root, read with libmount the way `mount -a` and
/// systemd-fstab-generator read it.
///
/// ```
///  one line of fstab(5), fields split by blanks, `\040` for a blank inside a field:
///  UUID=5f1b…0e01   /boot/efi   vfat    umask=0077,nofail   0       2
///  └─ fs_spec ─┘    └fs_file┘  └type┘  └── fs_mntops ──┘   └freq┘  └passno┘
///  required          required   required optional          optional (numbers)
///  '#' first (after blanks) = comment; blank line = nothing; anything else that does not
///  split this way is a parse error for that line only.
/// ```
///
/// Lines libmount cannot parse are skipped, as libmount skips them, and kept in
/// `invalidLines` with their 1-based line number (reported by the parser's error callback).
/// libmount keeps no line numbers for good entries; `Fstab` finds them by walking the file
/// with libmount's own rule for which lines are entries (see `entryLineNumbers`).
public struct Fstab: Sendable {
    /// One mount as written in the file.
    public struct Entry: Sendable, Hashable {
        /// fs_spec exactly as written, octal escapes decoded: `UUID=…`, `LABEL="x"`, `/dev/vda1`.
        public var source: String
        /// fs_file: the mount point, or `none`/`swap` for swap.
        public var target: String
        /// fs_vfstype (`ext4`, `swap`, `auto`).
        public var fstype: String
        /// fs_mntops as one string (`errors=remount-ro`), nil when the field is absent.
        public var options: String?
        /// fs_mntops split by libmount (`mnt_optstr_next_option`): `name` or `name=value`.
        public var optionList: [String]
        /// fs_freq (dump), 0 when absent.
        public var freq: Int
        /// fs_passno, 0 when absent.
        public var passno: Int
        /// 1-based line number in the file.
        public var line: Int
        /// The line as written.
        public var text: String
        /// libmount's verdicts (`mnt_fs_is_pseudofs`, `_netfs`, `_swaparea`).
        public var isPseudo: Bool
        public var isNetwork: Bool
        public var isSwap: Bool

        /// Whether `name` is among the options (`nofail`, `noauto`, `bind`).
        public func hasOption(_ name: String) -> Bool {
            optionList.contains { $0 == name || $0.hasPrefix(name + "=") }
        }

        /// The value of `name=value`, nil when absent or given without a value.
        public func optionValue(_ name: String) -> String? {
            optionList.last { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
    }

    /// A line libmount refused (its parser error callback fired for it).
    public struct InvalidLine: Sendable, Hashable {
        public var line: Int
        /// The line as written (bytes that are not UTF-8 are replaced).
        public var text: String
        /// Why, as far as it can be told: libmount gives only the line number.
        public var reason: String
    }

    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        case missing(path: String)
        /// The path exists but is a directory, socket, device, …: `kind` says which.
        case notAFile(path: String, kind: String)
        /// A symbolic link whose target does not exist.
        case danglingLink(path: String, target: String)
        case unreadable(path: String, reason: String)
        /// One line libmount could not parse.
        case invalidLine(path: String, line: Int, reason: String)

        public var description: String {
            switch self {
            case .missing(let path): "\(path) does not exist"
            case .notAFile(let path, let kind): "cannot read \(path): it is \(kind), not a file"
            case .danglingLink(let path, let target): "cannot read \(path): dangling symbolic link to \(target)"
            case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
            case .invalidLine(let path, let line, let reason): "cannot parse \(path) line \(line): \(reason)"
            }
        }
    }

    /// The path as the examined system sees it (`/etc/fstab`).
    public var path: String
    public var entries: [Entry]
    public var invalidLines: [InvalidLine]

    /// The per-line errors as typed errors, for logs and findings.
    public var lineErrors: [Fstab.Error] {
        invalidLines.map { .invalidLine(path: path, line: $0.line, reason: $0.reason) }
    }

    /// Reads `<root>/etc/fstab` (or `path` under the root).
    /// - Throws: `Fstab.Error` when the file is missing, not a regular file, a dangling
    ///   link or unreadable. Bad lines do not throw: see `invalidLines`.
    public static func load(root: SystemRoot, path: String = "/etc/fstab") throws(Fstab.Error) -> Fstab {
        let file: OpenFile
        do {
            file = try root.files.open(path, limit: limit)
        } catch {
            throw describe(error, displayPath: path, danglingTarget: { try? root.files.linkTarget(path) })
        }
        return try parse(file, displayPath: path)
    }

    /// Parses a host file (tests, and the interop suite against findmnt).
    public static func parse(file: String, displayPath: String) throws(Fstab.Error) -> Fstab {
        let opened: OpenFile
        do {
            opened = try FileReading.open(atPath: file, limit: limit)
        } catch {
            throw describe(error, displayPath: displayPath, danglingTarget: { FileReading.linkTarget(atPath: file) })
        }
        return try parse(opened, displayPath: displayPath)
    }

    /// Largest fstab accepted.
    static let limit = 16 << 20

    /// Parses an open fstab with `mnt_table_parse_fstab` (given the descriptor's
    /// `/proc/self/fd` path, so libmount reads the very file that was checked) and a parser
    /// error callback (`mnt_table_set_parser_errcb`). `displayPath` names it in errors.
    public static func parse(_ file: OpenFile, displayPath: String) throws(Fstab.Error) -> Fstab {
        let bytes: [UInt8]
        do throws(FileError) {
            bytes = try file.readAll(limit: limit)
        } catch {
            throw describe(error, displayPath: displayPath, danglingTarget: { nil })
        }
        // libmount reads it again through the same open file: rewind.
        lseek(file.descriptor, 0, SEEK_SET)
        let table = try MountTable(fstab: file.procPath, displayPath: displayPath)
        let lines = FstabLines(bytes)
        let rejected = Set(table.errorLines)
        let invalid = table.errorLines.map { number in
            InvalidLine(line: number, text: lines.text(of: number), reason: lines.reason(forRejected: number))
        }
        let numbers = lines.entryLineNumbers(excluding: rejected, count: table.filesystems.count,
                                             matching: table.filesystems.map { ($0.source, $0.target) })
        var entries: [Entry] = []
        for (parsed, number) in zip(table.filesystems, numbers) {
            var entry = parsed
            entry.line = number
            entry.text = lines.text(of: number)
            entries.append(entry)
        }
        return Fstab(path: displayPath, entries: entries, invalidLines: invalid)
    }

    /// What the boot would make of a file that cannot be read: libmount reads `*.fstab`
    /// files inside a directory, a dangling link is missing, a device or FIFO is not a file.
    private static func describe(_ error: FileError, displayPath: String,
                                 danglingTarget: () -> String?) -> Fstab.Error {
        switch error {
        case .missing:
            if let target = danglingTarget() { return .danglingLink(path: displayPath, target: target) }
            return .missing(path: displayPath)
        case .notRegular(_, let kind), .wrongKind(_, _, let kind):
            switch kind {
            case .directory: return .notAFile(path: displayPath, kind: "a directory")
            case .characterDevice, .blockDevice: return .notAFile(path: displayPath, kind: "a device node")
            case .fifo: return .notAFile(path: displayPath, kind: "a FIFO")
            case .socket: return .notAFile(path: displayPath, kind: "a socket")
            default: return .notAFile(path: displayPath, kind: "not a regular file")
            }
        case .tooLarge(_, let limit): return .unreadable(path: displayPath, reason: "larger than \(limit) bytes")
        default: return .unreadable(path: displayPath, reason: error.reason)
        }
    }
}

/// Owns a `libmnt_table` (released with `mnt_unref_table`) for one parse.
private final class MountTable {
    private let handle: OpaquePointer
    /// Line numbers the parser error callback reported, in file order.
    private(set) var errorLines: [Int] = []
    private(set) var filesystems: [Fstab.Entry] = []

    init(fstab file: String, displayPath: String) throws(Fstab.Error) {
        do { try SharedLibrary.mount.load() } catch { throw .unreadable(path: displayPath, reason: "\(error)") }
        guard let handle = mnt_new_table() else {
            throw .unreadable(path: displayPath, reason: "libmount cannot allocate a table")
        }
        self.handle = handle
        // The callback is a C function pointer and cannot capture: it finds this object
        // through the table's userdata.
        mnt_table_set_userdata(handle, Unmanaged.passUnretained(self).toOpaque())
        mnt_table_set_parser_errcb(handle) { table, _, line in
            guard let table, let data = mnt_table_get_userdata(table) else { return 1 }
            Unmanaged<MountTable>.fromOpaque(data).takeUnretainedValue().errorLines.append(Int(line))
            // > 0: the line is ignored and parsing goes on, as for mount -a.
            return 1
        }
        let rc = mnt_table_parse_fstab(handle, file)
        mnt_table_set_userdata(handle, nil)
        guard rc == 0 else {
            throw .unreadable(path: displayPath, reason: String(cString: strerror(-rc)))
        }
        filesystems = readEntries()
    }

    deinit {
        mnt_unref_table(handle)
    }

    private func readEntries() -> [Fstab.Entry] {
        guard let iterator = mnt_new_iter(Int32(MNT_ITER_FORWARD)) else { return [] }
        defer { mnt_free_iter(iterator) }
        var result: [Fstab.Entry] = []
        var fs: OpaquePointer?
        while mnt_table_next_fs(handle, iterator, &fs) == 0, let fs {
            let options = mnt_fs_get_options(fs).map { String(cString: $0) }
            result.append(Fstab.Entry(
                source: mnt_fs_get_source(fs).map { String(cString: $0) } ?? "",
                target: mnt_fs_get_target(fs).map { String(cString: $0) } ?? "",
                fstype: mnt_fs_get_fstype(fs).map { String(cString: $0) } ?? "",
                options: options,
                optionList: options.map(Self.split) ?? [],
                freq: Int(mnt_fs_get_freq(fs)),
                passno: Int(mnt_fs_get_passno(fs)),
                line: 0, text: "",
                isPseudo: mnt_fs_is_pseudofs(fs) != 0,
                isNetwork: mnt_fs_is_netfs(fs) != 0,
                isSwap: mnt_fs_is_swaparea(fs) != 0))
        }
        return result
    }

    /// Splits an option string with `mnt_optstr_next_option` (which knows quoted values).
    private static func split(_ options: String) -> [String] {
        guard let copy = strdup(options) else { return [] }
        defer { free(copy) }
        var cursor: UnsafeMutablePointer<CChar>? = copy
        var result: [String] = []
        while true {
            var name: UnsafeMutablePointer<CChar>?
            var nameSize = 0
            var value: UnsafeMutablePointer<CChar>?
            var valueSize = 0
            guard mnt_optstr_next_option(&cursor, &name, &nameSize, &value, &valueSize) == 0, let name else { break }
            var option = String(decoding: UnsafeRawBufferPointer(start: name, count: nameSize), as: UTF8.self)
            if let value {
                option += "=" + String(decoding: UnsafeRawBufferPointer(start: value, count: valueSize), as: UTF8.self)
            }
            result.append(option)
        }
        return result
    }
}

/// The lines of an fstab as libmount's parser sees them (util-linux libmount/src/tab_parse.c,
/// `mnt_table_parse_next`): lines end at `\n` (getline); a trailing `\r` is dropped; a line
/// whose first non-blank character is `#`, or that is blank, is skipped; a line with a NUL
/// byte before its newline is an error. Every other line is an entry or a rejected line, in
/// file order, which is how the entries' line numbers are recovered.
struct FstabLines {
    private var lines: [[UInt8]] = []
    /// Whether line i (0-based) ended with a newline.
    private var terminated: [Bool] = []

    init(_ bytes: [UInt8]) {
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            lines.append(Array(bytes[start..<index]))
            terminated.append(true)
            start = index + 1
        }
        if start < bytes.count {
            lines.append(Array(bytes[start...]))
            terminated.append(false)
        }
    }

    func text(of number: Int) -> String {
        guard number >= 1, number <= lines.count else { return "" }
        var line = lines[number - 1]
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return String(decoding: line.map { $0 == 0 ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }

    /// The content libmount parses: up to a NUL, without a trailing `\r`.
    private func content(_ index: Int) -> ArraySlice<UInt8> {
        var line = lines[index].prefix { $0 != 0 }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return line
    }

    /// Whether libmount treats line `index` as a candidate entry (not blank, not a comment).
    private func isCandidate(_ index: Int) -> Bool {
        // A NUL before the newline makes getline's line look unterminated: an error line.
        if terminated[index] && lines[index].contains(0) { return true }
        let first = content(index).first { !Self.isBlank($0) }
        guard let first else { return false }
        return first != UInt8(ascii: "#")
    }

    /// isspace(3) in the C locale.
    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0d).contains(byte)
    }

    /// 1-based numbers of the lines that became entries: the candidate lines the error
    /// callback did not report. When that count disagrees with libmount's (a case this
    /// rule does not foresee), each entry is matched to the next line whose first two
    /// fields are its source and target.
    func entryLineNumbers(excluding rejected: Set<Int>, count: Int, matching fields: [(String, String)]) -> [Int] {
        let candidates = lines.indices.filter { isCandidate($0) && !rejected.contains($0 + 1) }.map { $0 + 1 }
        if candidates.count == count { return candidates }
        var numbers: [Int] = []
        var next = 0
        for (source, target) in fields {
            var found = 0
            for index in next..<lines.count {
                let words = Self.fields(content(index))
                if words.count >= 2, Self.unescape(words[0]) == source, Self.unescape(words[1]) == target {
                    found = index + 1
                    next = index + 1
                    break
                }
            }
            numbers.append(found)
        }
        return numbers
    }

    /// A reason for a line libmount rejected, in the terms of fstab(5).
    func reason(forRejected number: Int) -> String {
        guard number >= 1, number <= lines.count else { return "unparsable line" }
        let index = number - 1
        if terminated[index] && lines[index].contains(0) { return "line contains a NUL byte" }
        let words = Self.fields(content(index))
        if words.count < 3 { return "expected at least 3 fields (source, mount point, type), found \(words.count)" }
        if words.count >= 5, Int32(String(decoding: words[4], as: UTF8.self)) == nil {
            return "dump field '\(String(decoding: words[4], as: UTF8.self))' is not a number"
        }
        if words.count >= 6, Int32(String(decoding: words[5], as: UTF8.self)) == nil {
            return "pass field '\(String(decoding: words[5], as: UTF8.self))' is not a number"
        }
        return "unparsable line"
    }

    private static func fields(_ line: ArraySlice<UInt8>) -> [[UInt8]] {
        line.split { $0 == 0x20 || $0 == 0x09 }.map(Array.init)
    }

    /// fstab(5) octal escapes (`\040` for a space): the same decoding the edits use.
    private static func unescape(_ field: [UInt8]) -> String {
        FstabEdit.unescape(String(decoding: field, as: UTF8.self))
    }
}
