import Glibc
import Synchronization

/// What this process has made that must not outlive it, and the thread that undoes it when
/// the process is told to stop (SIGTERM, SIGINT, SIGHUP).
///
/// Each scratch folder registers itself when it is claimed and unregisters when released
/// (`ScratchFolder`). `install()` blocks the three signals in the process and starts one
/// thread that waits for them with `sigwait`, so no work is done in a signal handler. On a
/// signal that thread:
///
/// ```
///  main thread                          teardown thread
///  gate { claim folder, register }      sigwait(TERM, INT, HUP) … returns; marks stopping
///  gate { mount … }                     1. stop the child processes (SIGTERM, 1 s, SIGKILL):
///  runs a tool ───────────────────────►    a tool, a sandbox (its PID namespace goes with it)
///  (the tool dies; work goes on)        2. take the gate: waits for the mount or claim in
///  mkdir, spawn, gate ◄─ parks for good    progress, so nothing new is made after this
///  exit() ◄───────────── parks          3. tear down every registered folder, newest first
///                                       4. stop children started meanwhile; one line on
///                                          stderr; _exit(128 + signal)
/// ```
///
/// "Parks": `checkpoint()`, called before each step that makes something (a folder, a
/// child process, a gated mount), stops the calling thread for good once stopping is
/// marked — unless it holds the gate, whose step must finish for the teardown to begin.
///
/// Without `install()` (a library user, the tests) registrations are only kept.
public enum SignalTeardown {
    /// The signals that stop the process with a teardown.
    public static let signals: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    /// A registered folder; returned by `register`, handed back to `unregister`.
    struct Registration: Sendable {
        var id: Int
        var folder: String
    }

    private struct Entry {
        var id: Int
        var folder: String
        var tearDown: @Sendable () -> String?
    }

    /// Serializes what creates or removes a resource with the teardown: the teardown thread
    /// takes it and never gives it back. Recursive: a claim happens inside a gated mount.
    private static let lock = RecursiveLock()
    /// Guarded by `lock`.
    nonisolated(unsafe) private static var entries: [Entry] = []
    nonisolated(unsafe) private static var nextID = 0
    private static let stopping = Atomic<Int32>(0)

    /// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread — and so in every thread
    /// started after it — and starts the thread that waits for them. Call it once, first
    /// thing in `main`, before any other thread exists. Child processes are not affected:
    /// `SpawnCommandRunner` starts them with an empty signal mask.
    public static func install() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        // exit() called by another thread while the teardown runs (the main thread seeing
        // its tool killed and giving up) must not end the process before the teardown does.
        atexit { SignalTeardown.parkIfStopping() }
        var thread = pthread_t()
        _ = pthread_create(&thread, nil, { _ in SignalTeardown.waitForSignal() }, nil)
        pthread_detach(thread)
    }

    /// Runs `body` so that the teardown never runs in the middle of it: a resource it makes
    /// is registered, or inside a registered folder, before the teardown looks. After a
    /// signal, blocks for good (the process is about to exit).
    static func gate<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        checkpoint()
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Once a teardown has begun, stops the calling thread for good (it sleeps until the
    /// teardown thread exits the process), unless the thread holds the gate. Call it before
    /// making anything a teardown would have to undo: a folder, a child process.
    public static func checkpoint() {
        guard stopping.load(ordering: .sequentiallyConsistent) != 0, !lock.isHeldByCurrentThread else { return }
        while true { pause() }
    }

    /// Registers `folder`, whose teardown is `tearDown`; call it inside `gate`.
    static func register(_ folder: String, tearDown: @escaping @Sendable () -> String?) -> Registration {
        gate {
            nextID += 1
            entries.append(Entry(id: nextID, folder: folder, tearDown: tearDown))
            return Registration(id: nextID, folder: folder)
        }
    }

    static func unregister(_ registration: Registration) {
        gate { entries.removeAll { $0.id == registration.id } }
    }

    // MARK: - The teardown thread

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }

    private static func waitForSignal() -> Never {
        var set = signalSet()
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        stopping.store(received, ordering: .sequentiallyConsistent)
        let me = getpid()
        ProcessStopper.stop(childPidfds(of: me), grace: 1)
        // Bounded: a gated step waits on nothing but the children just stopped. One that
        // still has not finished (a mount hanging) is raced: undoing what can be undone is
        // better than leaving it all.
        let gated = lock.lock(timeoutSeconds: 10)
        let pending = entries
        var failures: [String] = []
        for entry in pending.reversed() {
            if let failure = entry.tearDown() { failures.append(failure) }
        }
        ProcessStopper.stop(childPidfds(of: me), grace: 1)
        var line = "clarity-heal: stopped by \(name(of: received))"
        if pending.isEmpty {
            line += "; nothing to tear down"
        } else {
            line += "; tore down \(pending.count) scratch folder\(pending.count == 1 ? "" : "s")"
        }
        if !gated { line += " while a step in progress had not finished" }
        if let first = failures.first {
            line += "; left behind: \(first)" + (failures.count > 1 ? " (and \(failures.count - 1) more)" : "")
        }
        line += "\n"
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        _exit(128 + received)
    }

    private static func childPidfds(of parent: pid_t) -> [Int32] {
        ProcessStopper.children(of: parent).compactMap { pid in
            ProcessStopper.open(pid) { ProcessIdentity.stat($0)?.parent == parent }
        }
    }

    private static func parkIfStopping() {
        guard stopping.load(ordering: .sequentiallyConsistent) != 0 else { return }
        while true { pause() }
    }

    private static func name(of signal: Int32) -> String {
        switch signal {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }
}

/// A recursive pthread mutex that knows its holder, with a bounded wait for the teardown
/// thread.
private final class RecursiveLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// The holding thread (`pthread_self`), 0 when free; written only by the holder.
    private let owner = Atomic<UInt>(0)
    /// Nesting depth; touched only by the holder.
    private var depth = 0

    init() {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    var isHeldByCurrentThread: Bool { owner.load(ordering: .sequentiallyConsistent) == UInt(pthread_self()) }

    func lock() {
        pthread_mutex_lock(mutex)
        took()
    }

    func unlock() {
        depth -= 1
        if depth == 0 { owner.store(0, ordering: .sequentiallyConsistent) }
        pthread_mutex_unlock(mutex)
    }

    /// Takes the lock, waiting at most `timeoutSeconds`; false when the time ran out.
    func lock(timeoutSeconds: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += timeoutSeconds
        guard pthread_mutex_timedlock(mutex, &deadline) == 0 else { return false }
        took()
        return true
    }

    private func took() {
        depth += 1
        owner.store(UInt(pthread_self()), ordering: .sequentiallyConsistent)
    }
}
