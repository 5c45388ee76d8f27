import Foundation

/// A machine in QEMU with nobody at its console: SeaBIOS boots the disk's MBR (real GRUB),
/// guest reboots stay inside the one QEMU process (RAM, and with it a ramoops region,
/// survives a warm reset), and the test only presses the power button and reads the serial
/// log. `run` waits for each pattern of a list in turn, then powers the machine off.
public struct PoweredMachine {
    public var disk: String
    public var memoryMiB = 1024
    public var cpus = 2
    /// Booted straight into a kernel and initrd (`-kernel -initrd -append`, no boot loader)
    /// for a disk without one, such as a bare ext4 image; a guest reboot then ends the run
    /// (`-no-reboot`).
    public var directKernel: (kernel: String, initrd: String, commandLine: String)?

    public init(disk: String) { self.disk = disk }

    public init(disk: String, kernel: String, initrd: String, commandLine: String) {
        self.disk = disk
        directKernel = (kernel, initrd, commandLine)
    }

    public struct Run {
        /// The serial console, escape sequences and carriage returns removed.
        public var console: String
        /// Seconds from power-on to each pattern seen, in order.
        public var reached: [(pattern: String, seconds: Double)]
        /// The first pattern not seen before the deadline; nil when all were.
        public var missed: String?
        public var seconds: Double
    }

    /// Powers on, waits for `patterns` (regular expressions) one after the other, each after
    /// the previous one's match, and powers off when the last is seen or `deadline` passes.
    public func run(until patterns: [String], deadline: Double, log: String) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        process.arguments = [
            "-M", "pc,accel=tcg", "-cpu", "max", "-m", "\(memoryMiB)", "-smp", "\(cpus)", "-nodefaults",
            "-no-user-config", "-display", "none", "-nic", "none", "-serial", "file:" + log,
            "-drive", "file=\(disk),format=raw,if=virtio,cache=unsafe",
        ]
        if let (kernel, initrd, commandLine) = directKernel {
            process.arguments! += ["-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", commandLine]
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        FileManager.default.createFile(atPath: log, contents: nil)
        let started = Date()
        try process.run()
        defer {
            // SIGKILL: QEMU inherits the test process's blocked signals, SIGTERM among them.
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        var reached: [(String, Double)] = []
        var offset = String.Index?.none
        var console = ""
        var next = 0
        while next < patterns.count, Date().timeIntervalSince(started) < deadline, process.isRunning {
            Thread.sleep(forTimeInterval: 1)
            console = Self.clean((try? Data(contentsOf: URL(fileURLWithPath: log))) ?? Data())
            while next < patterns.count {
                let searchFrom = offset ?? console.startIndex
                guard searchFrom <= console.endIndex,
                      let match = console.range(of: patterns[next], options: .regularExpression, range: searchFrom..<console.endIndex)
                else { break }
                reached.append((patterns[next], Date().timeIntervalSince(started)))
                offset = match.upperBound
                next += 1
            }
        }
        console = Self.clean((try? Data(contentsOf: URL(fileURLWithPath: log))) ?? Data())
        return Run(console: console, reached: reached, missed: next < patterns.count ? patterns[next] : nil,
                   seconds: Date().timeIntervalSince(started))
    }

    /// The console as text: ANSI escape sequences (GRUB's menu, systemd's colours) and
    /// carriage returns removed.
    static func clean(_ data: Data) -> String {
        let text = String(decoding: data, as: UTF8.self)
        return text.replacingOccurrences(of: "\u{1b}\\[[0-9;?]*[A-Za-z]", with: "", options: .regularExpression)
            .replacingOccurrences(of: "\r", with: "")
    }
}
