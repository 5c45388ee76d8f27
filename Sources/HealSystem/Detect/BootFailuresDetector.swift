import HealCore

/// `boot-failures`: the boot loader's counters show at least `thresholds.bootFailures`
/// failed boot attempts. It runs on every boot (`detect --quick`), so it only reads
/// grubenv and the BLS entry names.
///
/// Three counters are read:
///
/// 1. **clarity-heal's own grubenv counter**, `clarity_heal_attempts=N`: the number of boot
///    attempts since the last verified good boot. clarity-heal's GRUB script increments it
///    (`save_env`) before it boots an entry; `clarity-heal verify` resets it to 0 once the
///    boot is proven good. So N attempts were started and none was verified: when the run
///    is part of the boot being counted (`DetectionContext.countsCurrentBoot`, the initramfs
///    or early userspace) that boot is still in progress and failures = N − 1; otherwise
///    (recovery, an offline root, after the fact) failures = N. A value that is not a
///    non-negative integer is not a count and is ignored (logged).
/// 2. **BLS boot counting** (`NAME+LEFT-DONE.conf`, systemd's automatic boot assessment):
///    DONE tries were made without the entry being blessed; the boot loader renames the
///    file before it boots, so the boot in progress is among them and failures = DONE − 1
///    when `countsCurrentBoot`, DONE otherwise. LEFT = 0 means every allowed try failed
///    ("bad"), reported whatever the threshold.
/// 3. **Fedora's grubenv scheme** (rhboot 08_fallback_counting): with `boot_success=0`,
///    GRUB decrements `boot_counter` each boot and, once it reaches 0, boots the fallback
///    entry and sets `boot_counter=-1`. So `boot_counter=-1` with `boot_success=0` means
///    every counted attempt failed and the machine fell back, reported whatever the
///    threshold. (`boot_indeterminate` only steers menu hiding and is not a failure.)
public struct BootFailuresDetector: Detector {
    public let name = "boot-counter"
    public let classes: [FailureClass] = [.bootFailures]
    public var isQuick: Bool { true }

    /// The grubenv variable clarity-heal's GRUB script counts boot attempts in.
    public static let attemptsVariable = "clarity_heal_attempts"

    public init() {}

    /// Failed attempts from clarity-heal's counter `value` (see the type's documentation).
    public static func failures(attempts value: String, countsCurrentBoot: Bool) -> Int? {
        guard let attempts = Int(value), attempts >= 0 else { return nil }
        return max(0, countsCurrentBoot ? attempts - 1 : attempts)
    }

    public func detect(_ context: DetectionContext) throws -> [Finding] {
        let threshold = max(1, context.thresholds.bootFailures)
        var findings: [Finding] = []

        // 1 and 3: grubenv, whichever GRUB directory has one.
        for directory in BootConfiguration.grubDirectories {
            let path = directory + "/grubenv"
            guard let env = BootConfiguration.readGrubEnvironment(context.root, path: path) else { continue }
            let variables = env.variables
            if let value = variables[Self.attemptsVariable] {
                if let failures = Self.failures(attempts: value, countsCurrentBoot: context.countsCurrentBoot) {
                    if failures >= threshold {
                        findings.append(Finding(
                            .bootFailures,
                            summary: "\(failures) failed boot attempt\(failures == 1 ? "" : "s") since the last verified boot (threshold \(threshold))",
                            evidence: [Evidence(source: path, detail: "\(Self.attemptsVariable)=\(value)"
                                                + (context.countsCurrentBoot ? " (the boot in progress not counted)" : ""))]))
                    }
                } else {
                    context.logger.notice("boot counter is not a number",
                                          metadata: ["path": "\(path)", "value": "\(value)"])
                }
            }
            if variables["boot_success"] == "0", variables["boot_counter"] == "-1" {
                findings.append(Finding(
                    .bootFailures,
                    summary: "every counted boot attempt failed and GRUB fell back to the previous entry",
                    evidence: [Evidence(source: path, detail: "boot_counter=-1 boot_success=0"
                                        + (variables["boot_indeterminate"].map { " boot_indeterminate=\($0)" } ?? ""))]))
            }
        }

        // 2: BLS counters in the file names.
        for directory in BootConfiguration.loaderDirectories {
            let entries = directory + "/entries"
            for name in context.root.files.entriesIfPresent(entries) {
                guard let file = LoaderEntry.FileName(parsing: name), file.triesLeft != nil else { continue }
                let failures = max(0, context.countsCurrentBoot ? file.triesDone - 1 : file.triesDone)
                let bad = file.assessment == .bad
                guard bad || failures >= threshold else { continue }
                let summary = bad
                    ? "loader entry \(file.id) is bad: all \(file.triesDone) tries failed"
                    : "loader entry \(file.id): \(failures) failed boot attempt\(failures == 1 ? "" : "s"), \(file.triesLeft ?? 0) left (threshold \(threshold))"
                findings.append(Finding(.bootFailures, summary: summary,
                    evidence: [Evidence(source: entries + "/" + name,
                                        detail: "tries left \(file.triesLeft ?? 0), tries done \(file.triesDone)")]))
            }
        }
        return findings
    }
}
