import Foundation
import Glibc
import HealCore
import HealSystem
import Testing
import TestSupport

/// Real processes against one ledger: forked children run `Ledger.append` (the code under
/// test, not a re-implementation), killed with SIGKILL mid-loop or racing each other.
@Suite("Ledger crash and concurrency", .serialized, .timeLimit(.minutes(5)))
struct LedgerCrashTests {
    struct ChildFailure: Error, CustomStringConvertible { var description: String }

    /// Forks a child that runs `body` and exits 0, or 1 when it throws. Only the ledger's
    /// system calls and allocations run in the child; it never returns into the test runner.
    static func spawn(_ body: () throws -> Void) throws -> pid_t {
        let pid = fork()
        guard pid >= 0 else { throw ChildFailure(description: "fork: \(String(cString: strerror(errno)))") }
        if pid == 0 {
            do { try body() } catch { _exit(1) }
            _exit(0)
        }
        return pid
    }

    /// Waits for `pid`, killing it if it outlives `seconds`; returns the wait status.
    static func wait(_ pid: pid_t, seconds: Double = 60) throws -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw ChildFailure(description: "child \(pid) did not finish in \(seconds) s")
            }
            usleep(2_000)
        }
        return status
    }

    /// Instantiates everything `append` touches before forking, so the child never needs a
    /// lock another test thread might hold at the moment of the fork.
    static func warmUp() throws {
        let dir = try TemporaryDirectory(prefix: "ledger-warm")
        let ledger = Ledger(root: try SystemRoot(dir.path))
        try ledger.append(LedgerFixture.record(0))
        _ = try ledger.records()
    }

    @Test func sigkillWhileAppendingNeverBreaksTheLedger() throws {
        try Self.warmUp()
        let dir = try TemporaryDirectory(prefix: "ledger-kill")
        let root = try SystemRoot(dir.path)
        let rounds = 25
        var lastCount = 0
        var tornRounds = 0
        var killedMidLoop = 0
        for round in 0..<rounds {
            let pid = try Self.spawn {
                let ledger = Ledger(root: root)
                var n = 0
                while true {
                    n += 1
                    try ledger.append(LedgerFixture.record(n, fix: "fix-round-\(round)"))
                }
            }
            usleep(UInt32(3_000 + (round * 7_919) % 40_000))
            #expect(kill(pid, SIGKILL) == 0)
            let status = try Self.wait(pid)
            // Killed by the signal, not exited with an error from append.
            #expect(status & 0x7f == SIGKILL, "round \(round): child ended with status \(status)")
            if status & 0x7f == SIGKILL { killedMidLoop += 1 }

            let reading = try Ledger(root: root).records()
            if reading.tornTail { tornRounds += 1 }
            // Every intact record is numbered 1…n without a gap or a repeat: no append was
            // lost once it returned, and the lock kept the numbering whole.
            #expect(reading.records.map(\.seq) == (0..<reading.records.count).map { $0 + 1 })
            #expect(reading.records.count >= lastCount)
            // The parent's append after the kill lands on a fresh line and is readable.
            let appended = try Ledger(root: root).append(LedgerFixture.record(-1, fix: "fix-after-\(round)"))
            #expect(appended.seq == reading.records.count + 1)
            let after = try Ledger(root: root).records()
            #expect(after.records.last == appended)
            #expect(!after.tornTail)
            lastCount = after.records.count
        }
        #expect(killedMidLoop == rounds)
        // The children did real work: more records than the parent's own.
        #expect(lastCount > rounds * 2, "only \(lastCount) records after \(rounds) rounds")
        print("ledger SIGKILL: \(rounds) kills, \(lastCount) records, \(tornRounds) rounds left a torn tail")
    }

    @Test func concurrentAppendersNeverInterleave() throws {
        try Self.warmUp()
        let dir = try TemporaryDirectory(prefix: "ledger-race")
        let root = try SystemRoot(dir.path)
        let perChild = 150
        // A start line: both children block on the pipe until the parent closes it.
        var gate: [Int32] = [0, 0]
        try #require(pipe(&gate) == 0)
        let children = try (0..<2).map { child in
            try Self.spawn {
                close(gate[1])
                var byte: UInt8 = 0
                _ = read(gate[0], &byte, 1)
                let ledger = Ledger(root: root)
                for n in 1...perChild { try ledger.append(LedgerFixture.record(n, fix: "fix-child-\(child)")) }
            }
        }
        close(gate[0])
        close(gate[1])
        for pid in children {
            let status = try Self.wait(pid, seconds: 120)
            #expect(status == 0, "child exited with status \(status)")
        }
        let reading = try Ledger(root: root).records()
        #expect(reading.skipped.isEmpty)
        #expect(!reading.tornTail)
        #expect(reading.records.count == perChild * 2)
        #expect(reading.records.map(\.seq) == Array(1...(perChild * 2)))
        for child in 0..<2 {
            let own = reading.records(of: "fix-child-\(child)").compactMap { $0.detail["n"].flatMap(Int.init) }
            #expect(own == Array(1...perChild))
        }
        // Both really ran at the same time: their records alternate somewhere.
        let owners = reading.records.map(\.fix)
        let switches = zip(owners, owners.dropFirst()).filter { $0 != $1 }.count
        print("ledger race: \(perChild * 2) records, \(switches) switches between writers")
        #expect(switches >= 1)
    }
}
