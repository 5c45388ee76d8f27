import Glibc
import HealCore

/// The account databases of a root — `/etc/passwd`, `/etc/shadow`, `/etc/group` — read with
/// glibc's own parsers (`fgetpwent_r`, `fgetspent_r`, `fgetgrent_r`), so a line counts as
/// broken exactly when glibc (and with it login, su, sshd) cannot use it.
///
/// glibc skips a line it cannot parse without saying so; the raw lines are counted too, and
/// when glibc returned fewer records than there are lines, each line is parsed on its own
/// (`fmemopen`) to name the ones it skipped.
public enum AccountDatabase {
    public enum Kind: String, Sendable, CaseIterable {
        case passwd, shadow, group

        /// The path on the root.
        public var path: String { "/etc/" + rawValue }
    }

    /// One record glibc returned.
    public struct Record: Sendable, Hashable {
        public var name: String
        /// uid for passwd, gid for group, nil for shadow.
        public var id: UInt32?
        /// The password field (`x` in passwd and group means "see shadow/gshadow").
        public var password: String
    }

    /// A line glibc skipped.
    public struct UnparsableLine: Sendable, Hashable {
        /// 1-based.
        public var line: Int
        public var text: String

        public init(line: Int, text: String) {
            self.line = line
            self.text = text
        }
    }

    /// What one file holds, as glibc sees it.
    public struct Contents: Sendable {
        public var kind: Kind
        public var records: [Record]
        /// Lines that are neither blank nor comments: what glibc tries to parse.
        public var entryLines: Int
        public var unparsable: [UnparsableLine]

        /// The record of the superuser: named root with id 0 (shadow has no ids).
        public var root: Record? {
            records.first { $0.name == "root" && ($0.id == nil || $0.id == 0) }
        }
    }

    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case missing(path: String)
        case unreadable(path: String, reason: String)

        public var description: String {
            switch self {
            case .missing(let path): "\(path) does not exist"
            case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
            }
        }
    }

    /// Reads one database of `root` with glibc.
    /// - Throws: `AccountDatabase.Error` when the file is missing or cannot be read.
    public static func read(_ kind: Kind, root: SystemRoot, path: String? = nil) throws(AccountDatabase.Error) -> Contents {
        // Read once through the root (a link in it stays inside; a FIFO is not opened),
        // then handed to glibc from memory.
        let path = path ?? kind.path
        let text: String
        do {
            text = try root.files.text(path, limit: 16 << 20)
        } catch {
            if case .missing = error { throw .missing(path: path) }
            throw .unreadable(path: path, reason: error.reason)
        }
        return try parse(kind, text: text, displayPath: path)
    }

    /// What glibc makes of `text` as database `kind`.
    public static func parse(_ kind: Kind, text: String, displayPath: String) throws(AccountDatabase.Error) -> Contents {
        let stream: CStream
        do {
            stream = try CStream(text: text)
        } catch {
            throw .unreadable(path: displayPath, reason: error.reason)
        }
        let records = try stream.records(kind, displayPath: displayPath)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var entryLines = 0
        var candidates: [UnparsableLine] = []
        for (index, line) in lines.enumerated() {
            // glibc's own skip rule (nss_files' __nss_fgetent_r): leading blanks, then
            // empty lines and '#' comments are not entries.
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            entryLines += 1
            candidates.append(UnparsableLine(line: index + 1, text: String(line)))
        }
        var unparsable: [UnparsableLine] = []
        if records.count < entryLines {
            unparsable = candidates.filter { candidate in
                guard let single = try? CStream(text: candidate.text + "\n"),
                      let parsed = try? single.records(kind, displayPath: displayPath) else { return true }
                return parsed.isEmpty
            }
        }
        return Contents(kind: kind, records: records, entryLines: entryLines, unparsable: unparsable)
    }
}

/// An open `FILE*`, closed by `fclose` in deinit.
private final class CStream {
    private let file: UnsafeMutablePointer<FILE>
    /// fmemopen reads from this buffer; it must outlive the stream.
    private let memory: UnsafeMutableBufferPointer<CChar>

    /// `fmemopen` over a copy of `text`.
    init(text: String) throws(FileError) {
        let bytes = Array(text.utf8CString)
        let memory = UnsafeMutableBufferPointer<CChar>.allocate(capacity: bytes.count)
        _ = memory.initialize(from: bytes)
        guard let file = fmemopen(memory.baseAddress, bytes.count - 1, "r") else {
            let code = errno
            memory.deallocate()
            throw .system(path: "(memory)", call: "fmemopen", errno: code)
        }
        self.file = file
        self.memory = memory
    }

    deinit {
        fclose(file)
        memory.deallocate()
    }

    /// Every record glibc parses from the stream.
    func records(_ kind: AccountDatabase.Kind, displayPath: String) throws(AccountDatabase.Error) -> [AccountDatabase.Record] {
        var records: [AccountDatabase.Record] = []
        var capacity = 4096
        while true {
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
            defer { buffer.deallocate() }
            let (status, record) = next(kind, buffer: buffer, capacity: capacity)
            switch status {
            case 0:
                if let record { records.append(record) }
            case ENOENT:
                return records
            case ERANGE:
                // A line longer than the buffer: glibc rewinds to the line's start, so the
                // same line is read again with room for it.
                guard capacity < 1 << 24 else {
                    throw .unreadable(path: displayPath, reason: "a line is longer than \(capacity) bytes")
                }
                capacity *= 4
            default:
                throw .unreadable(path: displayPath, reason: String(cString: strerror(status)))
            }
        }
    }

    private func next(_ kind: AccountDatabase.Kind, buffer: UnsafeMutablePointer<CChar>,
                      capacity: Int) -> (Int32, AccountDatabase.Record?) {
        switch kind {
        case .passwd:
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let status = fgetpwent_r(file, &entry, buffer, capacity, &result)
            guard status == 0, let found = result?.pointee else { return (status, nil) }
            return (0, .init(name: Self.string(found.pw_name), id: found.pw_uid, password: Self.string(found.pw_passwd)))
        case .group:
            var entry = group()
            var result: UnsafeMutablePointer<group>?
            let status = fgetgrent_r(file, &entry, buffer, capacity, &result)
            guard status == 0, let found = result?.pointee else { return (status, nil) }
            return (0, .init(name: Self.string(found.gr_name), id: found.gr_gid, password: Self.string(found.gr_passwd)))
        case .shadow:
            return Shadow.next(file, buffer: buffer, capacity: capacity)
        }
    }

    static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        pointer.map { String(cString: $0) } ?? ""
    }
}

/// `fgetspent_r` from <shadow.h>, which Swift's Glibc module does not import: looked up with
/// `dlsym` in the glibc already loaded and called through its C signature. Only the first two
/// fields of `struct spwd` are read (`sp_namp`, `sp_pwdp`: pointers at offsets 0 and 8 on
/// every LP64 ABI); the buffer given for the struct is larger than its 72 bytes.
private enum Shadow {
    typealias Function = @convention(c) (UnsafeMutablePointer<FILE>, UnsafeMutableRawPointer,
                                         UnsafeMutablePointer<CChar>, Int,
                                         UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int32

    static let function: Function? = dlsym(nil, "fgetspent_r").map { unsafeBitCast($0, to: Function.self) }

    static func next(_ file: UnsafeMutablePointer<FILE>, buffer: UnsafeMutablePointer<CChar>,
                     capacity: Int) -> (Int32, AccountDatabase.Record?) {
        guard let function else { return (ENOSYS, nil) }
        let entry = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 16)
        defer { entry.deallocate() }
        entry.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
        var result: UnsafeMutableRawPointer?
        let status = function(file, entry, buffer, capacity, &result)
        guard status == 0, result != nil else { return (status, nil) }
        let name = entry.load(fromByteOffset: 0, as: UnsafeMutablePointer<CChar>?.self)
        let password = entry.load(fromByteOffset: 8, as: UnsafeMutablePointer<CChar>?.self)
        return (0, .init(name: CStream.string(name), id: nil, password: CStream.string(password)))
    }
}
