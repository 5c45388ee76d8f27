/// What a guest's serial console says about its boot: the lines of the validation probe
/// (`GuestProbe`) carrying this boot's nonce, and — when the probe never spoke — why the
/// boot stopped: a kernel panic, systemd's emergency mode, a root device that never
/// appeared.
///
/// ```
///  [    0.000000] Linux version 6.1.0-50-cloud-amd64 …            kernel
///  Begin: Waiting for root file system ... done.                   initramfs-tools
///  Gave up waiting for root file system device. …                  → rootDeviceMissing
///  ALERT!  UUID=… does not exist.  Dropping to a shell!
///  [    3.3] Kernel panic - not syncing: VFS: Unable to mount root  → panic
///  [FAILED] Failed to start some.service - ….                      systemd's status
///  You are in emergency mode. …                                    → emergency
///  clarity-heal-probe 1f2e… target multi-user.target            the probe, after the
///  clarity-heal-probe 1f2e… reached multi-user.target running   default target (and
///  clarity-heal-probe 1f2e… failed                                 after its jobs)
///  clarity-heal-probe 1f2e… check 10-web 0
///  clarity-heal-probe 1f2e… ready
///  clarity-heal-probe 1f2e… stable                                 after StabilitySeconds
/// ```
///
/// The kernel and the probe write to the same serial line, so a probe line can be cut by
/// a kernel message: a probe line is recognised anywhere in a console line, and only with
/// this boot's nonce (a console kept from an earlier boot, or text the examined root
/// prints on its own, does not count).
public struct GuestConsole: Sendable, Hashable, Codable {
    /// The probe's verdict on one site check (`/etc/clarity-heal/health.d/NAME`).
    public struct SiteCheck: Sendable, Hashable, Codable {
        public var name: String
        /// The check's exit status; 0 passed.
        public var status: Int
        public var passed: Bool { status == 0 }

        public init(name: String, status: Int) {
            self.name = name
            self.status = status
        }
    }

    /// The probe ran: this default target was reached.
    public var reachedTarget: String?
    /// What `systemctl is-system-running --wait` said then: `running`, `degraded`, …
    public var systemState: String?
    /// Units failed when the default target was reached.
    public var failedUnits: [String] = []
    public var siteChecks: [SiteCheck] = []
    /// The probe finished its checks.
    public var ready = false
    /// Units failed at the end of the stability period; nil when the probe did not get
    /// there.
    public var stableFailedUnits: [String]?
    /// The `Kernel panic - not syncing:` reason, when the guest panicked.
    public var panic: String?
    /// The crash read from the console as a crash record (module, symbol, kernel).
    public var panicSignature: PanicSignature?
    /// systemd dropped to its emergency or rescue shell.
    public var emergency = false
    /// The root device the initramfs waited for in vain (`ALERT! UUID=… does not exist`).
    public var rootDeviceMissing: String?
    /// `[FAILED] Failed to start …` lines: units systemd reported failing on the console.
    public var consoleFailures: [String] = []

    public init() {}

    /// Console text after which a guest does nothing more on its own: systemd's emergency
    /// and rescue shells wait for a person.
    public static let endMarkers = ["You are in emergency mode", "You are in rescue mode"]

    /// The marker every probe line starts with.
    public static let marker = "clarity-heal-probe"

    /// Reads a console log; `nonce` is the one the probe of this boot was given.
    public init(text: String, nonce: String) {
        let prefix = Self.marker + " " + nonce + " "
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline)
        var panicLine: Int?
        for (index, line) in lines.enumerated() {
            if line.firstRange(of: prefix) != nil {
                // Every probe line in it: the guest's tty may run them together.
                var rest = line[...]
                while let range = rest.firstRange(of: prefix) {
                    let after = rest[range.upperBound...]
                    let next = after.firstRange(of: prefix)?.lowerBound ?? after.endIndex
                    probe(after[..<next])
                    rest = after[next...]
                }
                continue
            }
            if panicLine == nil, let range = line.firstRange(of: "Kernel panic - not syncing: ") {
                panic = String(line[range.upperBound...].reversed().drop { $0 == " " || $0 == "\t" }.reversed())
                panicLine = index
            } else if Self.endMarkers.contains(where: { line.contains($0) }) {
                emergency = true
            } else if let range = line.firstRange(of: "ALERT!  "), line.contains(" does not exist") {
                let rest = line[range.upperBound...]
                rootDeviceMissing = String(rest.prefix { $0 != " " })
            } else if rootDeviceMissing == nil, line.contains("Gave up waiting for root") {
                rootDeviceMissing = ""
            } else if let range = line.firstRange(of: "[FAILED] Failed to start ") {
                // "[FAILED] Failed to start foo.service - Description." (systemd 252) or
                // "… to start Description." (older): keep the unit name when it is there.
                let rest = line[range.upperBound...]
                let unit = rest.prefix { $0 != " " }
                let name = String(unit.hasSuffix(".") && !unit.contains(".service.") ? unit.dropLast() : unit)
                if !consoleFailures.contains(name) { consoleFailures.append(name) }
            }
        }
        if let panicLine {
            // The lines before the panic hold the Oops that led to it; read them as a
            // crash record (the console's `[    3.3] ` prefixes are the record's too).
            let start = max(0, panicLine - 120)
            let end = min(lines.count, panicLine + 60)
            let record = "Panic#1 Part1\n" + lines[start..<end].joined(separator: "\n")
            panicSignature = try? PanicSignature(record: record)
        }
    }

    private mutating func probe(_ rest: Substring) {
        let words = rest.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let key = words.first else { return }
        let values = Array(words.dropFirst())
        switch key {
        case "reached":
            reachedTarget = values.first ?? ""
            systemState = values.dropFirst().first
        case "failed": failedUnits = values.filter(Self.isUnitName)
        case "check":
            if values.count >= 2, let status = Int(values[values.count - 1]) {
                siteChecks.append(SiteCheck(name: values.dropLast().joined(separator: " "), status: status))
            }
        case "ready": ready = true
        case "stable": stableFailedUnits = values.filter(Self.isUnitName)
        default: break
        }
    }

    static let unitTypes = [".service", ".socket", ".mount", ".automount", ".swap", ".target", ".device", ".path",
                            ".timer", ".scope", ".slice"]

    /// Whether a word is a unit name (and not console text run into a probe line).
    static func isUnitName(_ word: String) -> Bool {
        unitTypes.contains { word.hasSuffix($0) && word.count > $0.count }
    }

    /// The last `count` lines of a console log, for evidence (control characters other
    /// than tab dropped: a console carries escape sequences).
    public static func excerpt(_ text: String, lines count: Int = 25) -> [String] {
        text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline)
            .map(printable)
            .filter { !$0.isEmpty }
            .suffix(count)
    }

    /// A console line without its terminal escape sequences (systemd colours its status,
    /// `ESC [ 0;1;31 m`) and other control characters.
    public static func printable(_ line: Substring) -> String {
        var scalars = String.UnicodeScalarView()
        var iterator = line.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            if scalar == "\u{1b}" {
                // CSI: ESC [ parameters… final byte (0x40-0x7e); other escapes: one byte.
                guard let next = iterator.next(), next == "[" else { continue }
                while let byte = iterator.next(), !(0x40...0x7e).contains(byte.value) {}
            } else if scalar == "\t" || (scalar.value >= 0x20 && scalar.value != 0x7f && !(0x80...0x9f).contains(scalar.value)) {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// The console lines around the first line containing `needle` (a panic, the
    /// emergency shell), for evidence.
    public static func excerpt(_ text: String, around needle: String, before: Int = 15, after: Int = 10) -> [String] {
        let lines = excerpt(text, lines: Int.max)
        guard let index = lines.firstIndex(where: { $0.contains(needle) }) else { return excerpt(text) }
        return Array(lines[max(0, index - before)..<min(lines.count, index + after + 1)])
    }
}
