import Foundation

/// Signal masks as `/proc/<pid>/status` lists them, and a thread that blocks signals as a
/// test runner's worker thread may: for the suites that check what a child inherits.
public enum SignalMasks {
    /// SigBlk / SigIgn of a status file: the masks as numbers (bit n-1 is signal n).
    public static func parse(_ status: String) -> (blocked: UInt64?, ignored: UInt64?) {
        var blocked: UInt64?, ignored: UInt64?
        for line in status.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16)
            if parts[0] == "SigBlk" { blocked = value }
            if parts[0] == "SigIgn" { ignored = value }
        }
        return (blocked, ignored)
    }

    /// The bit of `signal` in a mask.
    public static func bit(_ signal: Int32) -> UInt64 { 1 << UInt64(signal - 1) }

    /// Runs `body` on a new thread that first blocks `signals`, waits for it, and returns
    /// what it returned or rethrows what it threw.
    public static func onThread<T>(blocking signals: [Int32], _ body: @escaping () throws -> T) throws -> T {
        let box = ThreadResult(body)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            for signal in signals { sigaddset(&set, signal) }
            pthread_sigmask(SIG_BLOCK, &set, nil)
            box.result = Result { try box.body() }
            done.signal()
        }
        thread.start()
        done.wait()
        return try box.result!.get()
    }
}

/// What a thread's body returned or threw, handed back to the waiting thread.
private final class ThreadResult<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
    let body: () throws -> T
    init(_ body: @escaping () throws -> T) { self.body = body }
}
