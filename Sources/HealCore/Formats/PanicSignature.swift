/// What a kernel crash record says about the crash: why the kernel died, in which module,
/// on which kernel. Parsed from the text of one pstore dmesg record (`dmesg-ramoops-N`,
/// `dmesg-efi-ID`, or an archived copy of one).
///
/// A dmesg record is the tail of the kernel log at the moment of the dump
/// (fs/pstore/platform.c `pstore_dump`, kernel/printk `kmsg_dump_get_buffer`):
///
/// ```
///  ┌──────────────────────────────────────────────────────────────────────────────┐
///  │ Panic#1 Part1\n                        "%s#%d Part%u\n": why the dump ran      │
///  │                                        (Panic, Oops, Emergency, Shutdown),     │
///  │                                        dump count, part (1 = newest chunk)     │
///  │ <6>[    2.158210] rtc_cmos 00:04: …\n  "<level>[seconds] message", oldest first│
///  │ …                                                                              │
///  │ <0>[    3.338568] Kernel panic - not syncing: sysrq triggered crash\n          │
///  │ <4>[    3.338810] CPU: 0 PID: 1 Comm: stage Not tainted 6.1.0-50-cloud-amd64 … │
///  │ <4>[    3.339312] Call Trace:\n                                                 │
///  │ <4>[    3.340600]  panic+0x118/0x2f4\n   frames: symbol+off/size [module]     │
///  │ …                                                                              │
///  │ \nECC: No errors detected\n             ramoops with ecc=1 only (ram_core.c)    │
///  └──────────────────────────────────────────────────────────────────────────────┘
///
///  An Oops adds, before its CPU line:
///    BUG: kernel NULL pointer dereference, address: 0000000000000000
///    Oops: 0000 [#1] PREEMPT SMP NOPTI
///  and after it:
///    RIP: 0010:clarity_oops_init+0x11/0x1000 [clarity_oops]     (0010: kernel mode)
///    Modules linked in: clarity_oops(OE+) ramoops reed_solomon
/// ```
///
/// Parsing never fails on the body: a truncated or damaged record gives a signature with
/// the fields it could find. Only a text without the header is rejected.
public struct PanicSignature: Sendable, Hashable, Codable {
    /// Why the kernel dumped its log: the first word of the header (`kmsg_dump_reason_str`).
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case panic, oops, emergency, shutdown, unknown

        /// The header word: `Panic`, `Oops`, `Emergency`, `Shutdown`, `Unknown`.
        public init(headerWord: Substring) {
            switch headerWord {
            case "Panic": self = .panic
            case "Oops": self = .oops
            case "Emergency": self = .emergency
            case "Shutdown": self = .shutdown
            default: self = .unknown
            }
        }
    }

    /// The trailer ramoops appends when the region is protected by Reed-Solomon codes.
    public enum ECCStatus: Sendable, Hashable, Codable {
        /// `ECC: No errors detected`
        case clean
        /// `ECC: N Corrected bytes, M unrecoverable blocks`
        case corrected(bytes: Int, unrecoverableBlocks: Int)
    }

    public var kind: Kind
    /// The dump count of the header (`Panic#2`): how many dumps this boot made.
    public var dumpCount: Int
    /// The part of the header (`Part1` is the newest chunk; higher parts are older log).
    public var part: Int
    /// The text after `Kernel panic - not syncing: `.
    public var panicReason: String?
    /// The line that starts the Oops the crash is about (`BUG: …`, `general protection
    /// fault …`, `kernel BUG at …`, or the `Oops: …` line itself).
    public var oopsCause: String?
    /// The module the crash happened in: the `[module]` of the kernel-mode RIP, else of the
    /// first reliable call trace frame; dropped when `Modules linked in:` does not list it.
    public var faultingModule: String?
    /// The symbol where it happened (`clarity_oops_init+0x11/0x1000`).
    public var faultingSymbol: String?
    /// The names of `Modules linked in:`, flags removed.
    public var modulesLinkedIn: [String]
    /// The kernel release of the CPU line (`6.1.0-50-cloud-amd64`).
    public var kernelVersion: String?
    /// What follows the release on the CPU line (`#1 Debian 6.1.176-1`).
    public var kernelBuild: String?
    /// Taint flags of the CPU line without the `G` placeholder (`OE`); empty for
    /// `Not tainted`; nil without a CPU line.
    public var taint: String?
    /// The task that was running (`Comm:`), and its PID.
    public var comm: String?
    public var pid: Int?
    public var ecc: ECCStatus?
    /// The catalogue class the text points to, when it says so plainly.
    public var hint: FailureClass?
    /// The machine the kernel ran on, told by its register and trace lines (`RIP:` x86_64,
    /// `pc :`/`lr :` arm64, `epc :` riscv64); nil when no line says.
    public var architecture: String?
    /// The lines that identify the crash, prefixes removed, in record order: panic, cause,
    /// CPU, RIP, modules.
    public var keyLines: [String]

    /// The panic reason, else the Oops cause.
    public var reason: String? { panicReason ?? oopsCause }

    /// What kind of crash it was, for routing it to what can fix it (`PanicRoute`): the
    /// panic's own words when they are specific, else the report that led to it.
    public var crashKind: CrashKind { CrashKind(panicReason: panicReason, cause: oopsCause) }

    /// Whether the record is about a crash (not a clean shutdown or emergency restart dump).
    public var isCrash: Bool { kind == .panic || kind == .oops || panicReason != nil }

    /// What makes two records the same crash: kind, reason, module and kernel. Counts,
    /// times, PIDs and addresses of the stack are left out.
    public struct Identity: Sendable, Hashable, Codable {
        public var kind: Kind
        public var reason: String?
        public var module: String?
        public var kernelVersion: String?
    }

    public var identity: Identity {
        Identity(kind: panicReason != nil ? .panic : kind, reason: reason, module: faultingModule,
                 kernelVersion: kernelVersion)
    }

    /// One line for a person: `Kernel panic "VFS: …" on 6.1.0-50-cloud-amd64` or
    /// `Oops in module clarity_oops (BUG: …) on 6.1.0-50-cloud-amd64`.
    public var summary: String {
        var text = panicReason != nil ? "kernel panic" : (kind == .oops ? "kernel Oops" : "kernel \(kind.rawValue) dump")
        if let faultingModule { text += " in module \(faultingModule)" }
        switch (panicReason, oopsCause) {
        case (.some(let panic), .some(let cause)): text += ": \(panic) (\(cause))"
        case (.some(let panic), nil): text += ": \(panic)"
        case (nil, .some(let cause)): text += ": \(cause)"
        case (nil, nil): text += " without a panic or Oops line"
        }
        text += " on kernel \(kernelVersion ?? "of unknown version")"
        return text
    }

    public init(kind: Kind, dumpCount: Int, part: Int, panicReason: String? = nil, oopsCause: String? = nil,
                faultingModule: String? = nil, faultingSymbol: String? = nil, modulesLinkedIn: [String] = [],
                kernelVersion: String? = nil, kernelBuild: String? = nil, taint: String? = nil,
                comm: String? = nil, pid: Int? = nil, ecc: ECCStatus? = nil, hint: FailureClass? = nil,
                keyLines: [String] = []) {
        self.kind = kind
        self.dumpCount = dumpCount
        self.part = part
        self.panicReason = panicReason
        self.oopsCause = oopsCause
        self.faultingModule = faultingModule
        self.faultingSymbol = faultingSymbol
        self.modulesLinkedIn = modulesLinkedIn
        self.kernelVersion = kernelVersion
        self.kernelBuild = kernelBuild
        self.taint = taint
        self.comm = comm
        self.pid = pid
        self.ecc = ecc
        self.hint = hint
        self.keyLines = keyLines
    }

    /// Why a text is not a dmesg record.
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case empty
        /// The first line is not `Reason#N PartM`.
        case missingHeader(firstLine: String)

        public var description: String {
            switch self {
            case .empty: "not a kernel log record: it is empty"
            case .missingHeader(let firstLine):
                "not a kernel log record: first line \"\(firstLine)\" is not a header like \"Panic#1 Part1\""
            }
        }
    }
}
