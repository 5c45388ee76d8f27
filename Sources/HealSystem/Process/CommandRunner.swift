import Glibc

/// What a finished command left: its status and everything it printed.
/// A non-zero status is a value, not an error: the caller decides what it means.
public struct CommandResult: Sendable, Equatable {
    public var status: Int32
    public var standardOutput: [UInt8]
    public var standardError: [UInt8]

    public var succeeded: Bool { status == 0 }
    public var output: String { String(decoding: standardOutput, as: UTF8.self) }
    public var errorOutput: String { String(decoding: standardError, as: UTF8.self) }

    public init(status: Int32, standardOutput: [UInt8] = [], standardError: [UInt8] = []) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

/// Runs external programs: the distro's own tools (e2fsck, depmod, update-initramfs).
public protocol CommandRunner: Sendable {
    /// Runs `executable` with `arguments`, waits, and returns what it printed.
    /// - Throws: `CommandError.cannotStart` only when the program could not be started.
    func run(_ executable: String, _ arguments: [String]) throws(CommandError) -> CommandResult
}

public enum CommandError: Error, Equatable, CustomStringConvertible {
    case cannotStart(executable: String, reason: String)

    public var description: String {
        switch self {
        case .cannotStart(let executable, let reason): "cannot run \(executable): \(reason)"
        }
    }
}

/// The real runner: posix_spawn with stdout and stderr captured through pipes, stdin
/// from /dev/null. Executables without a slash are searched in PATH.
///
/// A child starts with an empty signal mask and with `childDefaultSignals` at their
/// default action, whatever the calling thread blocks or the process ignores: a daemon
/// started from a thread that blocks SIGTERM (a test runner's, a signal-handling thread)
/// would otherwise ignore the SIGTERM meant to stop it, and a tool started while SIGPIPE
/// is ignored would not die when its reader goes away.
public struct SpawnCommandRunner: CommandRunner {
    /// The signals a child always starts with at their default action
    /// (`posix_spawnattr_setsigdefault`); every other handled signal is reset by exec anyway.
    public static let childDefaultSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2]

    public init() {}

    public func run(_ executable: String, _ arguments: [String]) throws(CommandError) -> CommandResult {
        // After SIGTERM (SignalTeardown) no new tool starts: it could outlive the teardown.
        SignalTeardown.checkpoint()
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw .cannotStart(executable: executable, reason: String(cString: strerror(errno)))
        }
        // pipe2 needs _GNU_SOURCE; mark the ends close-on-exec by hand so only the dup2'd
        // copies reach the child.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let pid: pid_t
        do {
            pid = try Self.spawn(executable, arguments, standardOutput: outPipe[1], standardError: errPipe[1])
        } catch {
            close(outPipe[0]); close(outPipe[1])
            close(errPipe[0]); close(errPipe[1])
            throw error
        }
        close(outPipe[1])
        close(errPipe[1])
        let (out, err) = Self.drain(outPipe[0], errPipe[0])
        close(outPipe[0])
        close(errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS are macros: decode the wait status by hand.
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return CommandResult(status: exitStatus, standardOutput: out, standardError: err)
    }

    /// Starts `executable` (searched in PATH when it has no slash) with stdin from
    /// /dev/null and stdout and stderr on the descriptors given, an empty signal mask and
    /// `childDefaultSignals` at their default; returns its pid.
    static func spawn(_ executable: String, _ arguments: [String], standardOutput: Int32,
                      standardError: Int32) throws(CommandError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
        posix_spawn_file_actions_adddup2(&actions, standardError, 2)

        // posix_spawnattr_setsigmask / _setsigdefault: the child's mask is empty and the
        // signals a tool expects to act on are at their default, not inherited.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in childDefaultSignals { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw .cannotStart(executable: executable, reason: String(cString: strerror(rc))) }
        return pid
    }

    /// Reads both pipes to their end with poll, so neither can fill and block the child.
    private static func drain(_ outFD: Int32, _ errFD: Int32) -> ([UInt8], [UInt8]) {
        var out: [UInt8] = [], err: [UInt8] = []
        var fds = [pollfd(fd: outFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)]
        var open = 2
        var buffer = [UInt8](repeating: 0, count: 65536)
        while open > 0 {
            if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue } else { break } }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if i == 0 { out.append(contentsOf: buffer[0..<n]) } else { err.append(contentsOf: buffer[0..<n]) }
                } else if n == 0 || errno != EINTR {
                    fds[i].fd = -1
                    open -= 1
                }
            }
        }
        return (out, err)
    }
}
