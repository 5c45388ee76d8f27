import Foundation
import HealSystem
import Testing

/// `SpawnCommandRunner` starts its children with a clean signal state: the real `grep`
/// reads its own /proc/self/status, started from a thread that blocks SIGTERM and while
/// the process ignores SIGPIPE.
@Suite(.serialized)
struct CommandRunnerTests {
    /// SigBlk / SigIgn of a status file: the masks as numbers (bit n-1 is signal n).
    static func masks(_ status: String) -> (blocked: UInt64?, ignored: UInt64?) {
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

    static func bit(_ signal: Int32) -> UInt64 { 1 << UInt64(signal - 1) }

    static func childMasks() throws -> (blocked: UInt64?, ignored: UInt64?) {
        let result = try SpawnCommandRunner().run("sh", ["-c", "grep -E 'SigBlk|SigIgn' /proc/self/status"])
        #expect(result.status == 0, "\(result.errorOutput)")
        return masks(result.output)
    }

    final class Outcome: @unchecked Sendable {
        var threadBlocked: UInt64?
        var child: Result<(blocked: UInt64?, ignored: UInt64?), any Error>?
    }

    @Test func aChildOfAThreadThatBlocksSIGTERMStartsWithAnEmptyMask() throws {
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGTERM)
            sigaddset(&set, SIGHUP)
            pthread_sigmask(SIG_BLOCK, &set, nil)
            // What a child would inherit without the runner's reset.
            outcome.threadBlocked = (try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8))
                .flatMap { Self.masks($0).blocked }
            outcome.child = Result { try Self.childMasks() }
            done.signal()
        }
        thread.start()
        done.wait()

        let blocked = try #require(outcome.threadBlocked)
        #expect(blocked & Self.bit(SIGTERM) != 0, "the thread did not block SIGTERM")
        let child = try #require(outcome.child).get()
        #expect(child.blocked == 0)
    }

    @Test func aChildStartedWhileSIGPIPEIsIgnoredSeesItAtItsDefault() throws {
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        var previous = sigaction()
        #expect(sigaction(SIGPIPE, &ignore, &previous) == 0)
        defer { sigaction(SIGPIPE, &previous, nil) }
        let own = Self.masks(try String(contentsOfFile: "/proc/self/status", encoding: .utf8))
        #expect((own.ignored ?? 0) & Self.bit(SIGPIPE) != 0, "this process does not ignore SIGPIPE")

        let child = try Self.childMasks()
        let ignored = try #require(child.ignored)
        for signal in SpawnCommandRunner.childDefaultSignals {
            #expect(ignored & Self.bit(signal) == 0, "signal \(signal) is ignored in the child")
        }
        #expect(child.blocked == 0)
        // What that means for a pipeline: `yes` dies of SIGPIPE when head exits, silently;
        // with SIGPIPE ignored it would get EPIPE and complain "Broken pipe".
        let pipeline = try SpawnCommandRunner().run("sh", ["-c", "yes | head -n 1"])
        #expect(pipeline.status == 0)
        #expect(pipeline.output == "y\n")
        #expect(pipeline.errorOutput == "")
    }
}
