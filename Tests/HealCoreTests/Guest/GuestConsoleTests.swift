import Foundation
import Testing
@testable import HealCore

/// Consoles of real failed boots of the Debian test root (scripts/make-console-fixtures).
enum ConsoleFixture {
    static func text(_ name: String) throws -> String {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return try String(contentsOfFile: url.path + "/HealSystemTests/Resources/console/\(name).log", encoding: .utf8)
    }
}

@Suite struct GuestConsoleTests {
    /// The tail of a real validation boot's console (fstab-add-nofail on the demo's fstab
    /// typo, TCG): the getty's prompt runs into the probe's first line.
    static let validated = """
        [\u{1b}[0;1;31m TIME \u{1b}[0m] Timed out waiting for device \u{1b}[0;1;39mdev-disk-by\\x2dlabel-dtaa.device\u{1b}[0m - /dev/disk/by-label/dtaa.
        [\u{1b}[0;1;38;5;185mDEPEND\u{1b}[0m] Dependency failed for \u{1b}[0;1;39msrv-data.mount\u{1b}[0m - /srv/data.

        Debian GNU/Linux 12 clarity-test ttyS0

        clarity-test login: \r
        clarity-heal-probe c1b6b76c446b4257 reached graphical.target running\r
        \r
        clarity-heal-probe c1b6b76c446b4257 failed \r
        \r
        clarity-heal-probe c1b6b76c446b4257 ready\r
        \r
        clarity-heal-probe c1b6b76c446b4257 stable \r

        """

    @Test func theProbeOfThisBootIsRead() {
        let console = GuestConsole(text: Self.validated, nonce: "c1b6b76c446b4257")
        #expect(console.reachedTarget == "graphical.target")
        #expect(console.systemState == "running")
        #expect(console.failedUnits == [])
        #expect(console.ready)
        #expect(console.stableFailedUnits == [])
        #expect(console.panic == nil && !console.emergency && console.rootDeviceMissing == nil)
    }

    /// The probe says `target` as soon as its unit starts (the default target reached) and
    /// `reached` only when the boot's jobs are done: a guest stuck between the two has not
    /// reached anything the verdict counts.
    @Test func theTargetLineAloneIsNotAReachedBoot() throws {
        let probe = GuestProbe(nonce: "c1b6b76c446b4257", stabilitySeconds: 0)
        let script = probe.script
        let target = try #require(script.range(of: "say target"))
        let wait = try #require(script.range(of: "is-system-running --wait"))
        let reached = try #require(script.range(of: "say reached"))
        #expect(target.lowerBound < wait.lowerBound && wait.lowerBound < reached.lowerBound)

        let stuck = "clarity-heal-probe c1b6b76c446b4257 target graphical.target\r\n"
        let console = GuestConsole(text: stuck, nonce: "c1b6b76c446b4257")
        #expect(console.reachedTarget == nil)
        #expect(!console.ready)
        let whole = GuestConsole(text: stuck + Self.validated, nonce: "c1b6b76c446b4257")
        #expect(whole.reachedTarget == "graphical.target" && whole.ready)
    }

    @Test func aProbeLineWithAnotherNonceIsNotThisBoots() {
        let console = GuestConsole(text: Self.validated, nonce: "0000000000000000")
        #expect(console.reachedTarget == nil)
        #expect(!console.ready)
        #expect(console.stableFailedUnits == nil)
    }

    /// A real console from the first probe, which printed with `echo`: the guest's tty ran
    /// the lines together.
    @Test func probeLinesRunTogetherAreEachRead() {
        let text = "clarity-heal-probe 8e492d5d8e827107 reached graphical.target runningclarity-heal-probe 8e492d5d8e827107 "
            + "failed a.service b.mountclarity-heal-probe 8e492d5d8e827107 check 10-web 3clarity-heal-probe 8e492d5d8e827107 ready\n"
            + "Debian GNU/Linux 12 clarity-test ttyS0clarity-test login: clarity-heal-probe 8e492d5d8e827107 stable\n"
        let console = GuestConsole(text: text, nonce: "8e492d5d8e827107")
        #expect(console.reachedTarget == "graphical.target")
        #expect(console.failedUnits == ["a.service", "b.mount"])
        #expect(console.siteChecks == [.init(name: "10-web", status: 3)])
        #expect(console.ready)
        #expect(console.stableFailedUnits == [])
    }

    @Test func aKernelThatCannotMountItsRootPanics() throws {
        let text = try ConsoleFixture.text("vfs-panic")
        let console = GuestConsole(text: text, nonce: "x")
        #expect(console.panic?.hasPrefix("VFS: Unable to mount root fs") == true, "\(console.panic ?? "no panic")")
        #expect(console.panicSignature?.kernelVersion?.hasPrefix("6.1.0") == true)
        let checks = BootVerdict(console: console, end: .exited, emulated: true, excerpt: []).checks
        #expect(checks.map(\.verdict) == [.failed, .notRun])
        #expect(checks[0].detail.hasPrefix("the guest panicked: VFS: Unable to mount root fs"))
    }

    @Test func aRootDeviceThatNeverAppearsIsNamed() throws {
        let console = GuestConsole(text: try ConsoleFixture.text("root-missing"), nonce: "x")
        #expect(console.rootDeviceMissing == "UUID=00000000-0000-4000-8000-000000000000")
        #expect(console.panic == nil)
        let boot = BootVerdict(console: console, end: .exited, emulated: true, excerpt: []).checks[0]
        #expect(boot.verdict == .failed)
        #expect(boot.detail == "the root device UUID=00000000-0000-4000-8000-000000000000 never appeared")
    }

    @Test func theEmergencyShellIsAFailureWithTheUnitsThatFailed() throws {
        let text = try ConsoleFixture.text("emergency")
        #expect(GuestConsole.endMarkers.contains { text.contains($0) })
        let console = GuestConsole(text: text, nonce: "x")
        #expect(console.emergency)
        #expect(console.reachedTarget == nil)
        let boot = BootVerdict(console: console, end: .exited, emulated: true, excerpt: []).checks[0]
        #expect(boot.verdict == .failed)
        #expect(boot.detail.hasPrefix("the guest dropped to systemd's emergency shell"), "\(boot.detail)")
    }

    @Test func excerptsCarryNoTerminalEscapes() {
        let lines = GuestConsole.excerpt(Self.validated, lines: 100)
        #expect(lines.first == "[ TIME ] Timed out waiting for device dev-disk-by\\x2dlabel-dtaa.device - /dev/disk/by-label/dtaa.")
        #expect(!lines.contains { $0.unicodeScalars.contains { $0.value < 0x20 || $0 == "\u{7f}" } })
        #expect(lines.last == "clarity-heal-probe c1b6b76c446b4257 stable ")
    }
}

@Suite struct BootVerdictTests {
    static func console(failed: [String] = [], checks: [GuestConsole.SiteCheck] = [], ready: Bool = true,
                        stable: [String]? = []) -> GuestConsole {
        var console = GuestConsole()
        console.reachedTarget = "multi-user.target"
        console.systemState = failed.isEmpty ? "running" : "degraded"
        console.failedUnits = failed
        console.siteChecks = checks
        console.ready = ready
        console.stableFailedUnits = stable
        return console
    }

    @Test func aCleanBootPassesBoth() {
        let checks = BootVerdict(console: Self.console(), end: .exited, emulated: true, excerpt: []).checks
        #expect(checks.map(\.name) == ["boot", "stability"])
        #expect(checks.map(\.verdict) == [.passed, .passed])
    }

    @Test func aUnitThatFailedBeforeTheRepairDoesNotFailIt() {
        let before = BootVerdict(console: Self.console(failed: ["old.service"], stable: ["old.service"]), end: .exited,
                                 emulated: true, failedBefore: ["old.service"], excerpt: []).checks
        #expect(before.map(\.verdict) == [.passed, .passed])
        let new = BootVerdict(console: Self.console(failed: ["old.service", "new.service"]), end: .exited,
                              emulated: true, failedBefore: ["old.service"], excerpt: []).checks
        #expect(new[0].verdict == .failed)
        #expect(new[0].detail == "units failed that did not fail before the repair: new.service")
    }

    @Test func aFailingSiteCheckFailsTheBoot() {
        let checks = BootVerdict(console: Self.console(checks: [.init(name: "10-ok", status: 0), .init(name: "20-web", status: 7)]),
                                 end: .exited, emulated: true, excerpt: ["line"]).checks
        #expect(checks[0].verdict == .failed)
        #expect(checks[0].detail == "site check 20-web failed inside the guest (exit 7)")
        #expect(checks[0].evidence == ["line"])
        #expect(checks[1].verdict == .notRun)
    }

    @Test func aUnitFailingDuringTheStabilityPeriodFailsStability() {
        let checks = BootVerdict(console: Self.console(stable: ["late.service"]), end: .exited, emulated: true, excerpt: []).checks
        #expect(checks.map(\.verdict) == [.passed, .failed])
        #expect(checks[1].detail == "units failed after the default target: late.service")
    }

    @Test func aDeadlineIsInconclusiveUnderTCGAndAHangUnderKVM() {
        var nothing = GuestConsole()
        nothing.consoleFailures = []
        let tcg = BootVerdict(console: nothing, end: .deadline(seconds: 600), emulated: true, excerpt: []).checks
        #expect(tcg.map(\.verdict) == [.inconclusive, .inconclusive])
        #expect(tcg[0].detail.contains("no verdict after 600 s under TCG"))
        let kvm = BootVerdict(console: nothing, end: .deadline(seconds: 150), emulated: false, excerpt: []).checks
        #expect(kvm.map(\.verdict) == [.failed, .notRun])
        #expect(kvm[0].detail.contains("hung"))
        // Reached, then ran out of time in the stability period.
        let late = BootVerdict(console: Self.console(stable: nil), end: .deadline(seconds: 600), emulated: true, excerpt: []).checks
        #expect(late.map(\.verdict) == [.passed, .inconclusive])
    }

    @Test func aQEMUFailureJudgesNothing() {
        let checks = BootVerdict(console: GuestConsole(), end: .qemuFailed("exit status 1: could not open disk"),
                                 emulated: true, excerpt: []).checks
        #expect(checks.map(\.verdict) == [.inconclusive, .inconclusive])
        #expect(checks[0].detail == "QEMU failed, the guest was not judged: exit status 1: could not open disk")
    }

    @Test func aGuestThatStopsWithoutAWordFails() {
        let checks = BootVerdict(console: GuestConsole(), end: .exited, emulated: true, excerpt: []).checks
        #expect(checks[0].verdict == .failed)
        #expect(checks[0].detail == "the guest stopped before reaching its default target")
        let flood = BootVerdict(console: GuestConsole(), end: .consoleFlood(bytes: 16 << 20), emulated: true, excerpt: []).checks
        #expect(flood[0].verdict == .failed)
    }
}

@Suite struct MicroVMSettingsTests {
    @Test func settingsAreReadAndBadValuesKeepTheDefault() throws {
        var config = Config()
        try config.set(section: "MicroVM", key: "Accelerator", value: "TCG")
        try config.set(section: "MicroVM", key: "StabilitySeconds", value: "30")
        #expect(config.microVM.accelerator == .tcg)
        #expect(config.microVM.stabilitySeconds == 30)
        #expect(throws: Config.SettingError.badValue(key: "MemoryMiB", value: "12", expected: "a whole number from 256 to 65536")) {
            try config.set(section: "MicroVM", key: "MemoryMiB", value: "12")
        }
        #expect(config.microVM.memoryMiB == 1024)
        #expect(throws: Config.SettingError.unknownKey(section: "MicroVM", key: "Network")) {
            try config.set(section: "MicroVM", key: "Network", value: "user")
        }
        #expect(config.resetToDefault(section: "MicroVM", key: "Accelerator") == "auto")
    }
}

@Suite struct BootObservationTests {
    @Test func aPanicPointsToTheClassItsTextNames() throws {
        let console = GuestConsole(text: try ConsoleFixture.text("vfs-panic"), nonce: "x")
        let observed = BootObservation(console: console, end: .exited, emulated: true, excerpt: ["line"], source: "console")
        #expect(observed.finding?.failureClass == console.panicSignature?.hint ?? .kernelPanic)
        #expect(observed.finding?.summary.hasPrefix("a boot of the disk panicked: VFS: Unable to mount root fs") == true)
        #expect(observed.finding?.evidence == [Evidence(source: "console", detail: "line")])
        #expect(observed.judged)
    }

    @Test func theEmergencyShellAndAMissingRootAreFindings() throws {
        let emergency = BootObservation(console: GuestConsole(text: try ConsoleFixture.text("emergency"), nonce: "x"),
                                        end: .exited, emulated: true, excerpt: [], source: "console")
        #expect(emergency.finding?.failureClass == .unitFailures)
        let missing = BootObservation(console: GuestConsole(text: try ConsoleFixture.text("root-missing"), nonce: "x"),
                                      end: .exited, emulated: true, excerpt: [], source: "console")
        #expect(missing.finding?.failureClass == .rootDeviceMismatch)
        #expect(missing.finding?.summary == "a boot of the disk waited in vain for its root device UUID=00000000-0000-4000-8000-000000000000")
    }

    @Test func whatJudgesNothingMakesNoFindingAndSaysSo() {
        let qemu = BootObservation(console: GuestConsole(), end: .qemuFailed("exit status 1: no backing file"),
                                   emulated: true, excerpt: [], source: "console")
        #expect(qemu.finding == nil && !qemu.judged)
        let tcg = BootObservation(console: GuestConsole(), end: .deadline(seconds: 600), emulated: true, excerpt: [], source: "console")
        #expect(tcg.finding == nil && !tcg.judged)
        let kvm = BootObservation(console: GuestConsole(), end: .deadline(seconds: 150), emulated: false, excerpt: [], source: "console")
        #expect(kvm.finding?.failureClass == .bootFailures && kvm.judged)
        var clean = GuestConsole()
        clean.reachedTarget = "multi-user.target"
        let booted = BootObservation(console: clean, end: .exited, emulated: true, excerpt: [], source: "console")
        #expect(booted.finding == nil && booted.judged)
        #expect(booted.note == "the disk booted to multi-user.target with no failed unit")
    }
}
