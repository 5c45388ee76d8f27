import Foundation
import HealSystem
import Testing
import TestSupport

/// `SpawnCommandRunner` starts its children with a clean signal state: the real `grep`
/// reads its own /proc/self/status, started from a thread that blocks SIGTERM and while
/// the process ignores SIGPIPE.
@Suite(.serialized)
struct CommandRunnerTests {
    static func childMasks() throws -> (blocked: UInt64?, ignored: UInt64?) {
        let result = try SpawnCommandRunner().run("sh", ["-c", "grep -E 'SigBlk|SigIgn' /proc/self/status"])
        #expect(result.status == 0, "\(result.errorOutput)")
        return SignalMasks.parse(result.output)
    }

    @Test func aChildOfAThreadThatBlocksSIGTERMStartsWithAnEmptyMask() throws {
        let (threadBlocked, child) = try SignalMasks.onThread(blocking: [SIGTERM, SIGHUP]) {
            // What a child would inherit without the runner's reset.
            let threadBlocked = (try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8))
                .flatMap { SignalMasks.parse($0).blocked }
            return (threadBlocked, try Self.childMasks())
        }

        let blocked = try #require(threadBlocked)
        #expect(blocked & SignalMasks.bit(SIGTERM) != 0, "the thread did not block SIGTERM")
        #expect(child.blocked == 0)
    }

    @Test func aChildStartedWhileSIGPIPEIsIgnoredSeesItAtItsDefault() throws {
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        var previous = sigaction()
        #expect(sigaction(SIGPIPE, &ignore, &previous) == 0)
        defer { sigaction(SIGPIPE, &previous, nil) }
        let own = SignalMasks.parse(try String(contentsOfFile: "/proc/self/status", encoding: .utf8))
        #expect((own.ignored ?? 0) & SignalMasks.bit(SIGPIPE) != 0, "this process does not ignore SIGPIPE")

        let child = try Self.childMasks()
        let ignored = try #require(child.ignored)
        for signal in SpawnCommandRunner.childDefaultSignals {
            #expect(ignored & SignalMasks.bit(signal) == 0, "signal \(signal) is ignored in the child")
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
