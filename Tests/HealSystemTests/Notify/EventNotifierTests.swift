import Foundation
import HealCore
@testable import HealSystem
import Testing
import TestSupport

/// Events are always logged on the root; off the running system (an initramfs, an examined
/// root) nothing is run — not wall, not the root's notify.d — and the event waits for the
/// next `verify` on the running system.
@Suite("EventNotifier")
struct EventNotifierTests {
    static let event = HealEvent(event: .fixApplied, time: 1_780_000_000, fix: "fix-1", failureClass: "fstab-unresolvable-source",
                                 strategy: "fstab-add-nofail", message: "a recovery boot repaired it")

    /// A runner that records what would have run: nothing may.
    final class Recorder: CommandRunner, @unchecked Sendable {
        var commands: [[String]] = []
        func run(_ executable: String, _ arguments: [String]) throws(CommandError) -> CommandResult {
            commands.append([executable] + arguments)
            return CommandResult(status: 0)
        }
    }

    @Test func offTheRunningSystemAnEventIsLoggedAndQueuedAndNothingRuns() throws {
        let dir = try TemporaryDirectory(prefix: "notify")
        let hook = try dir.write("etc/clarity-heal/notify.d/page-someone", "#!/bin/sh\ntouch /tmp/paged\n")
        #expect(chmod(hook, 0o755) == 0)
        let recorder = Recorder()
        let notifier = EventNotifier(root: try SystemRoot(dir.path), runner: recorder)

        let delivery = notifier.notify(Self.event)
        #expect(delivery.logged && delivery.queued && delivery.wall == nil && delivery.hooks.isEmpty, "\(delivery)")
        #expect(recorder.commands.isEmpty)
        let log = try String(contentsOfFile: dir.path + "/var/lib/clarity-heal/events.jsonl", encoding: .utf8)
        #expect(log == #"{"class":"fstab-unresolvable-source","event":"fix-applied","fix":"fix-1","message":"a recovery boot repaired it","strategy":"fstab-add-nofail","time":1780000000}"# + "\n")
        let queued = try String(contentsOfFile: dir.path + "/var/lib/clarity-heal/notify-pending.jsonl", encoding: .utf8)
        #expect(queued == log)
        // Only the running system delivers the queue.
        #expect(notifier.deliverPending().isEmpty)
        #expect(recorder.commands.isEmpty)
    }

    @Test func theHistoryIsRotatedPastItsLimit() throws {
        let dir = try TemporaryDirectory(prefix: "notify")
        let big = String(repeating: "{}\n", count: EventNotifier.eventLogLimit / 3 + 10)
        try dir.write("var/lib/clarity-heal/events.jsonl", big)
        let delivery = EventNotifier(root: try SystemRoot(dir.path), runner: Recorder()).notify(Self.event)
        #expect(delivery.logged)
        let rotated = try String(contentsOfFile: dir.path + "/var/lib/clarity-heal/events.jsonl.1", encoding: .utf8)
        #expect(rotated == big)
        let log = try String(contentsOfFile: dir.path + "/var/lib/clarity-heal/events.jsonl", encoding: .utf8)
        #expect(log.split(separator: "\n").count == 1)
    }

    @Test func aStateFolderThatIsALinkIsNotWrittenThrough() throws {
        let dir = try TemporaryDirectory(prefix: "notify")
        let elsewhere = try TemporaryDirectory(prefix: "elsewhere")
        try FileManager.default.createDirectory(atPath: dir.path + "/var/lib", withIntermediateDirectories: true)
        #expect(symlink(elsewhere.path, dir.path + "/var/lib/clarity-heal") == 0)
        let delivery = EventNotifier(root: try SystemRoot(dir.path), runner: Recorder()).notify(Self.event)
        #expect(!delivery.logged && !delivery.queued)
        #expect(!delivery.problems.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path).isEmpty)
    }

    @Test func theEventsOfVerifyCarryWhatAPersonNeeds() throws {
        var result = Verification.Result(
            status: .stopped, root: "/", fix: "fix-9", failureClass: .fstabUnresolvableSource, strategy: "fstab-comment-out",
            attempt: 3, maxAttempts: 3, checks: [.init(name: "site:db", verdict: .failed, detail: "exit 1")],
            rollback: nil, retry: nil, bootCounterReset: nil, recoveryInitramfs: nil,
            supportReference: "clarity-heal report fix-9", advice: "Check /etc/fstab.", notes: [])
        let gaveUp = try #require(HealEvent(result, time: 5))
        #expect(gaveUp.event == .gaveUp && gaveUp.needsPerson)
        #expect(gaveUp.message.contains("site:db: exit 1"))
        #expect(gaveUp.wallText.contains("Support reference: clarity-heal report fix-9"))
        #expect(gaveUp.advice == "Check /etc/fstab.")

        result.status = .good
        #expect(HealEvent(result, time: 5)?.event == .fixVerified)
        result.status = .notPending
        #expect(HealEvent(result, time: 5) == nil)
    }
}
