import Glibc
import HealCore

/// One QEMU process running a guest: started with its serial console going to a file,
/// watched until the guest ends, a watcher says it has seen enough, the deadline passes
/// or the console grows past its bound — then stopped (SIGKILL) and reaped.
///
/// QEMU's own messages (stderr) are kept apart from the guest's console, so a QEMU
/// failure (a bad option, a file it cannot open, an assertion, a crash) is told apart
/// from a guest that failed: QEMU exits non-zero or dies by a signal only for the
/// former; a guest that powers off, resets (`-no-reboot`) or panics (`panic=-1`) makes it
/// exit 0.
public struct GuestProcess {
    /// What a run produced.
    public struct Run: Sendable {
        public var end: GuestEnd
        /// The whole console, up to `consoleLimit` bytes.
        public var console: String
        public var seconds: Double
    }

    /// Largest console a guest may write; a guest that writes more is stopped (a root
    /// under examination is hostile input: it must not fill the host's disk).
    public static let consoleLimit = 16 << 20

    /// Runs `qemu` with `arguments`, the console written to `consolePath` (made; must not
    /// exist). `watch` is called with the console so far about twice a second; returning
    /// true stops the guest. `progress` is called about every 10 s with the seconds so far.
    public static func run(qemu: String, arguments: [String], consolePath: String, deadline seconds: Int,
                           watch: (String) -> Bool = { _ in false },
                           progress: (Int) -> Void = { _ in }) throws(MicroVMError) -> Run {
        let console = retryingEINTR { open(consolePath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        guard console >= 0 else { throw .launch("cannot create \(consolePath): \(String(cString: strerror(errno)))") }
        defer { close(console) }
        // QEMU drops to `-runas nobody` after opening its files; the console is its stdout,
        // opened here, so it needs no permission of its own.
        let errorPath = consolePath + ".qemu"
        let errors = retryingEINTR { open(errorPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        guard errors >= 0 else { throw .launch("cannot create \(errorPath): \(String(cString: strerror(errno)))") }
        defer { close(errors); unlink(errorPath) }

        SignalTeardown.checkpoint()
        let pid: pid_t
        do {
            pid = try SpawnCommandRunner.spawn(qemu, arguments, standardOutput: console, standardError: errors)
        } catch {
            throw .launch("\(error)")
        }

        let clock = ContinuousClock()
        let start = clock.now
        var text: [UInt8] = []
        var end: GuestEnd?
        var status: Int32 = 0
        var reported = 0
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            append(console, to: &text)
            let elapsed = start.duration(to: clock.now).components.seconds
            if waited == pid {
                break
            }
            if text.count >= consoleLimit {
                end = .consoleFlood(bytes: text.count)
            } else if elapsed >= Int64(seconds) {
                end = .deadline(seconds: seconds)
            } else if watch(String(decoding: text, as: UTF8.self)) {
                end = .exited
            }
            if end != nil {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                append(console, to: &text)
                break
            }
            if elapsed / 10 > reported {
                reported = Int(elapsed / 10)
                progress(Int(elapsed))
            }
            usleep(200_000)
        }
        let duration = start.duration(to: clock.now)
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        if end == nil {
            // WIFEXITED / WEXITSTATUS / WTERMSIG are macros: decode by hand.
            let signal = status & 0x7f
            let code = (status >> 8) & 0xff
            if signal == 0 && code == 0 {
                end = .exited
            } else {
                var message = Self.lastLines(errors)
                if message.isEmpty { message = signal != 0 ? "killed by signal \(signal)" : "exit status \(code)" }
                else { message = (signal != 0 ? "killed by signal \(signal): " : "exit status \(code): ") + message }
                end = .qemuFailed(message)
            }
        }
        return Run(end: end ?? .exited, console: String(decoding: text, as: UTF8.self), seconds: seconds)
    }

    /// Reads what was added to `fd` since the last call (the console file, at its own
    /// offset), bounded by `consoleLimit`.
    private static func append(_ fd: Int32, to text: inout [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while text.count < consoleLimit {
            let offset = off_t(text.count)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            guard n > 0 else { return }
            text.append(contentsOf: buffer[0..<min(n, consoleLimit - text.count)])
        }
    }

    /// The last lines QEMU wrote on stderr, joined: its error message.
    private static func lastLines(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        append(fd, to: &bytes)
        return String(decoding: bytes.suffix(2048), as: UTF8.self)
            .split(separator: "\n").suffix(3).joined(separator: " / ")
    }
}
