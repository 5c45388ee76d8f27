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

    /// Issue 9, finding 11: the boot path's memory is bounded whatever pstore holds. 10,000
    /// records live, 10,000 in systemd-pstore's archive (a thousand of them `.enc.z`), 2,000
    /// in clarity-heal's, and twenty of 4 MiB less a byte (the size limit) made of empty
    /// lines; the newest record is a real Oops. Before, `detect --quick` read them all and
    /// held every text: 166 MiB and 31 s with 10,000 live records alone.
    @Test func tenThousandRecordsStayWithin64MiBAndTheNewestCrashIsFound() throws {
        let copy = try TestRoot.writableCopy()
        let live = try TemporaryDirectory(prefix: "pstore-live")
        let panic = try Data(contentsOf: URL(fileURLWithPath: TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore/panic-sysrq/dmesg-ramoops-0"))
        // Written now; the huge records and the Oops get later times of their own, so they
        // are the newest (setting 22,000 times one by one would take most of a minute).
        func place(_ path: String, _ contents: Data, secondsAhead: Double? = nil) throws {
            try contents.write(to: URL(fileURLWithPath: path))
            if let secondsAhead {
                try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: secondsAhead)], ofItemAtPath: path)
            }
        }
        let systemd = copy.at("/var/lib/systemd/pstore")
        let harvests = copy.at("/var/lib/clarity-heal/pstore")
        for folder in [systemd] + (0..<20).map({ harvests + "/2026112\($0 / 10)T0\($0 % 10)0000Z" }) {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        for index in 0..<10_000 {
            try place(live.path + "/dmesg-ramoops-\(index)", panic + Data("<6>[    9.0] live \(index)\n".utf8))
            let compressed = index % 10 == 0
            try place(systemd + "/dmesg-efi-\(177_249_561_401_001 + index)" + (compressed ? ".enc.z" : ""),
                      compressed ? Data((0..<512).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
                                 : panic + Data("<6>[    9.0] archived \(index)\n".utf8))
            if index < 2_000 {
                try place(harvests + "/2026112\(index % 20 / 10)T0\(index % 10)0000Z/dmesg-ramoops-\(index)",
                          panic + Data("<6>[    9.0] harvested \(index)\n".utf8))
            }
        }
        let huge = Data("Panic#1 Part1\n".utf8) + Data(repeating: 0x0a, count: (4 << 20) - 15)
        for index in 0..<20 { try place(live.path + "/dmesg-ramoops-\(20_000 + index)", huge, secondsAhead: 100 + Double(index)) }
        try place(live.path + "/dmesg-ramoops-99999",
                  try Data(contentsOf: URL(fileURLWithPath: TestRoot.repository + "/Tests/HealSystemTests/Resources/pstore/oops-module/dmesg-ramoops-0")),
                  secondsAhead: 200)

        let start = ContinuousClock.now
        let result = try Tool.run("/usr/bin/time", ["-f", "peak-rss-kib=%M", Tool.clarityHeal, "detect", "--quick",
                                                    "--root", copy.path, "--pstore", live.path, "--json"])
        let elapsed = start.duration(to: .now)
        #expect(elapsed < .seconds(10), "detect --quick took \(elapsed)")
        #expect(result.status == 1, "\(result.stderr)")
        let line = try #require(result.stderr.split(separator: "\n").last { $0.hasPrefix("peak-rss-kib=") })
        let peak = try #require(Int(line.dropFirst("peak-rss-kib=".count)))
        #expect(peak <= 64 * 1024, "peak RSS \(peak) KiB")
        print("detect --quick on 22,021 pstore records: peak RSS \(peak) KiB, \(elapsed)")

        struct Output: Decodable {
            struct Finding: Decodable {
                struct Evidence: Decodable { var source: String; var detail: String }
                var `class`: String
                var summary: String
                var evidence: [Evidence]
            }
            var findings: [Finding]
        }
        let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        let first = try #require(output.findings.first)
        #expect(first.class == "kernel-panic")
        #expect(first.summary.hasPrefix("kernel Oops in module clarity_oops"), "\(first.summary)")
        #expect(first.evidence.first?.source == live.path + "/dmesg-ramoops-99999")
        #expect(first.evidence.contains { $0.source == "pstore" && $0.detail.hasPrefix("skipped: ") && $0.detail.contains("not examined") })
        #expect(output.findings.reduce(0) { $0 + $1.evidence.count } < 1_000, "the report stays readable")
    }
}

