import Foundation
import Testing
import TestSupport

/// The boot path's `detect --quick` is read without ArgumentParser (QuickDetect.swift): it
/// must answer exactly as the ArgumentParser path does, hand every other command line to
/// ArgumentParser, and really skip it.
@Suite(.serialized)
struct QuickDetectTests {
    /// A copy of the real root with a real Oops record waiting in systemd-pstore's archive,
    /// so the quick checks have something to report.
    static func rootWithPanic() throws -> OverlayCopy {
        let copy = try TestRoot.writableCopy()
        let archive = copy.path + "/var/lib/systemd/pstore"
        try FileManager.default.createDirectory(atPath: archive, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore/oops-module/dmesg-ramoops-0",
            toPath: archive + "/dmesg-ramoops-0")
        return copy
    }

    /// `--log-level` is not a form QuickDetect reads, so the same request goes through
    /// ArgumentParser.
    static let throughArgumentParser = ["--log-level", "warning"]

    @Test(arguments: [
        ["--quick", "--root", "ROOT"],
        ["--root=ROOT", "--quick", "--json"],
        ["--quick", "--current-boot", "--root", "ROOT", "--json"],
        ["--json", "--quick", "--root", "ROOT", "--pstore", "ROOT/sys/fs/pstore"],
    ])
    func answersAsArgumentParserDoes(form: [String]) throws {
        for copy in [try Self.rootWithPanic(), try TestRoot.writableCopy()] {
            let arguments = ["detect"] + form.map { $0.replacingOccurrences(of: "ROOT", with: copy.path) }
            let fast = try Tool.run(Tool.clarityHeal, arguments)
            let parsed = try Tool.run(Tool.clarityHeal, arguments + Self.throughArgumentParser)
            #expect(fast.stdout == parsed.stdout)
            #expect(fast.stderr == parsed.stderr)
            #expect(fast.status == parsed.status)
        }
        let panicked = try Self.rootWithPanic()
        let result = try Tool.run(Tool.clarityHeal, ["detect", "--quick", "--root", panicked.path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("kernel-panic"), "\(result.stdout)")
    }

    @Test(arguments: [
        (["--quick", "--root", "/nonexistent/root"], "cannot use /nonexistent/root as a root"),
        (["--quick", "--root"], "Missing value for '--root <dir>'"),
        (["--quick", "--bogus"], "Unknown option '--bogus'"),
        (["--quick=yes"], "--quick"),
    ])
    func otherCommandLinesGetArgumentParsersUsageErrors(form: [String], message: String) throws {
        let result = try Tool.run(Tool.clarityHeal, ["detect"] + form)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func helpStillComesFromArgumentParser() throws {
        let result = try Tool.run(Tool.clarityHeal, ["detect", "--quick", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: clarity-heal detect"))
    }

    /// Instructions, counted by callgrind, are exact for a given binary and input whatever
    /// else runs (a timed test would flake): the boot path's form must cost a fraction of
    /// the same request through ArgumentParser, whose first parse scans every conformance
    /// record in the binary.
    @Test func bootPathSkipsArgumentParser() throws {
        let scratch = try TemporaryDirectory()
        // valgrind 3.19 cannot read the DWARF 5 of the C objects: count a stripped copy.
        let binary = scratch.path + "/clarity-heal"
        _ = try Tool.run("strip", ["-o", binary, Tool.clarityHeal])
        func instructions(_ extra: [String]) throws -> Int {
            let result = try Tool.run("valgrind", [
                "--tool=callgrind", "--callgrind-out-file=/dev/null", binary,
                "detect", "--quick", "--root", TestRoot.root] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            let line = result.stderr.split(separator: "\n").first { $0.contains("refs:") } ?? ""
            return Int(line.split(separator: " ").last?.replacingOccurrences(of: ",", with: "") ?? "") ?? 0
        }
        let fast = try instructions([])
        let parsed = try instructions(Self.throughArgumentParser)
        #expect(fast > 0 && parsed > 0)
        #expect(fast * 3 < parsed, "quick path \(fast) instructions, through ArgumentParser \(parsed)")
    }
}
