import FoundationEssentials

/// What the template guest is asked to do: words on its kernel command line, read by PID 1
/// from `/proc/cmdline` (`GuestAgent`).
///
/// ```
///  clarity-heal.task=repair clarity-heal.nonce=9f…e1 clarity-heal.superblock=32768 clarity-heal.blocksize=4096
/// ```
public struct TemplateGuestTask: Sendable, Hashable {
    public enum Kind: String, Sendable, Codable {
        /// Boot, report ready and the result of nothing: what the benchmark times.
        case ready
        /// `e2fsck -fn` on the disk.
        case check
        /// `e2fsck -fy` (from a backup superblock when one is given), then `e2fsck -fn`,
        /// then the boot chain read from a read-only mount.
        case repair
    }

    public var kind: Kind
    /// A fresh value per boot (`GuestProbe.makeNonce`), in every line the guest reports.
    public var nonce: String
    /// A backup superblock to repair from (`e2fsck -b`) and the filesystem's block size
    /// (`-B`): both or neither.
    public var superblock: Int?
    public var blockSize: Int?

    public init(kind: Kind, nonce: String, superblock: Int? = nil, blockSize: Int? = nil) {
        self.kind = kind
        self.nonce = nonce
        self.superblock = superblock
        self.blockSize = blockSize
    }

    static let prefix = "clarity-heal."

    /// The words for the kernel command line.
    public var commandLine: [String] {
        var words = [Self.prefix + "task=" + kind.rawValue, Self.prefix + "nonce=" + nonce]
        if let superblock, let blockSize {
            words += [Self.prefix + "superblock=\(superblock)", Self.prefix + "blocksize=\(blockSize)"]
        }
        return words
    }

    /// The task on a kernel command line; nil when it names none, or names it badly (an
    /// unknown task, a nonce that is not 8-64 hex digits, a superblock without its block
    /// size).
    public init?(commandLine: String) {
        var values: [String: String] = [:]
        for word in commandLine.prefix(4096).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        where word.hasPrefix(Self.prefix) {
            let pair = word.dropFirst(Self.prefix.count).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { values[String(pair[0])] = String(pair[1]) }
        }
        guard let kind = values["task"].flatMap(Kind.init(rawValue:)),
              let nonce = values["nonce"], (8...64).contains(nonce.count), nonce.allSatisfy(\.isHexDigit) else { return nil }
        let superblock = values["superblock"].flatMap { Int($0) }
        let blockSize = values["blocksize"].flatMap { Int($0) }
        guard (superblock == nil) == (blockSize == nil) else { return nil }
        if let superblock, let blockSize {
            guard superblock > 0, [1024, 2048, 4096, 65536].contains(blockSize) else { return nil }
        }
        self.init(kind: kind, nonce: nonce, superblock: superblock, blockSize: blockSize)
    }

    /// `e2fsck` arguments for the repair: `-fy`, and `-b B -B S` from a backup superblock.
    public func repairArguments(device: String) -> [String] {
        var arguments = ["-fy"]
        if let superblock, let blockSize { arguments += ["-b", "\(superblock)", "-B", "\(blockSize)"] }
        return arguments + [device]
    }
}

/// What the template guest reports: one JSON line on its serial console, after a line
/// saying it is running.
///
/// ```
///  clarity-heal-guest 9f…e1 ready
///  clarity-heal-guest 9f…e1 result {"task":"repair","kernel":"6.1.0-…","steps":[…],…}
/// ```
///
/// The kernel's own messages may share the line (the console is one serial port): each
/// report line is written whole, starting on a new line, and read by its marker and nonce,
/// CR and LF alike ending it. The host bounds what it reads (`maximumLine`).
public struct TemplateGuestReport: Sendable, Hashable, Codable {
    /// One command the guest ran.
    public struct Step: Sendable, Hashable, Codable {
        public var command: [String]
        public var status: Int32
        /// The last lines of its output (bounded in the guest).
        public var output: String

        public init(command: [String], status: Int32, output: String) {
            self.command = command
            self.status = status
            self.output = output
        }
    }

    public var task: TemplateGuestTask.Kind
    /// `uname -r` inside the guest.
    public var kernel: String
    /// Modules inserted, and the ones that failed with why.
    public var modules: [String]
    public var moduleErrors: [String]
    /// The disk the task ran on (`/dev/vda`), nil when none appeared.
    public var device: String?
    public var steps: [Step]
    /// Boot-chain paths found on a read-only mount of the repaired disk (repair only).
    public var bootChain: [String]?
    /// Why the task could not run (no disk, a mount that failed); nil when it ran.
    public var error: String?

    public init(task: TemplateGuestTask.Kind, kernel: String, modules: [String] = [], moduleErrors: [String] = [],
                device: String? = nil, steps: [Step] = [], bootChain: [String]? = nil, error: String? = nil) {
        self.task = task
        self.kernel = kernel
        self.modules = modules
        self.moduleErrors = moduleErrors
        self.device = device
        self.steps = steps
        self.bootChain = bootChain
        self.error = error
    }

    public static let marker = "clarity-heal-guest"
    /// The longest report line the host reads.
    public static let maximumLine = 64 << 10

    public static func readyLine(nonce: String) -> String { "\(marker) \(nonce) ready" }

    /// The result line: the report as one JSON line (JSON escapes every control character).
    public func resultLine(nonce: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "\(Self.marker) \(nonce) result \(json)"
    }

    /// What a console says about the guest with `nonce`.
    public struct Reading: Sendable {
        /// The guest reported it runs as PID 1.
        public var ready: Bool
        public var report: TemplateGuestReport?
        /// A result line that did not decode, with why.
        public var malformed: String?
    }

    /// Reads the report lines of the guest with `nonce` from its console (a line from
    /// another boot's nonce, or none, is ignored).
    public static func read(console: String, nonce: String) -> Reading {
        var reading = Reading(ready: false, report: nil, malformed: nil)
        let ready = readyLine(nonce: nonce)
        let result = "\(marker) \(nonce) result "
        // `isNewline`: "\r\n" is one Character in Swift, neither "\r" nor "\n".
        for line in console.split(whereSeparator: \.isNewline) {
            if line.hasSuffix(ready) {
                reading.ready = true
            } else if let start = line.firstRange(of: result) {
                let json = line[start.upperBound...]
                guard json.utf8.count <= maximumLine else {
                    reading.malformed = "the result line is longer than \(maximumLine) bytes"
                    continue
                }
                do {
                    reading.report = try JSONDecoder().decode(TemplateGuestReport.self, from: Data(json.utf8))
                    reading.malformed = nil
                } catch {
                    reading.malformed = "the result line does not decode: \(error)"
                }
            }
        }
        return reading
    }
}
