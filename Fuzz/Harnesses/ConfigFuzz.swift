import HealCore

// Fuzzes the config file reader as `Config.load` calls it on a root's
// `/etc/clarity-heal/clarity-heal.conf`: the file's bytes handed to `Config.parse`
// (HealSystem's Config+Parse.swift, compiled in with the static libinih.a the product
// links), which feeds inih one line at a time and hands each setting to `Config.set`.
// Parsing never fails: what cannot be used is a warning, and the default stays.
//
// Properties:
// - reading the same bytes twice gives the same config and the same warnings;
// - a warning names a line from 1 on, never beyond the file's last line; at most
//   `warningLimit` warnings and one that counts the rest;
// - the config holds only values its settings allow: thresholds of at least 1, a
//   percentage above 0 and at most 100, notice minutes 0…1440, urgency days 0…365,
//   1…20 attempts, and a maintenance window of some days, starting within the day,
//   1…1440 minutes long, that reads back from its own description.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    let first = Config.parse(bytes, source: "fuzz.conf")
    let second = Config.parse(bytes, source: "fuzz.conf")
    require(first == second, "the same bytes read twice gave \(first) and \(second)")

    let lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false).count
    for warning in first.warnings {
        if let line = warning.line { require(line >= 1 && line <= lines, "a warning at line \(line) of \(lines)") }
        if case .unreadable = warning.problem { require(false, "parsing bytes reported an unreadable file") }
    }
    require(first.warnings.count <= Config.warningLimit + 1, "\(first.warnings.count) warnings")

    let config = first.config
    let thresholds = config.thresholds
    require(thresholds.kernelPanics >= 1 && thresholds.failedUnits >= 1 && thresholds.bootFailures >= 1,
            "a threshold below 1: \(thresholds)")
    require(thresholds.resourceExhaustionPercent > 0 && thresholds.resourceExhaustionPercent <= 100,
            "exhaustion at \(thresholds.resourceExhaustionPercent)%")
    let reboot = config.reboot
    require((0...1440).contains(reboot.noticeMinutes), "notice of \(reboot.noticeMinutes) minutes")
    require((1...20).contains(reboot.maxAttempts), "\(reboot.maxAttempts) attempts")
    let days = [reboot.urgency.critical, reboot.urgency.high, reboot.urgency.moderate]
    require(days.allSatisfy { (0...365).contains($0) }, "urgency \(reboot.urgency)")
    let window = reboot.window
    require(!window.weekdays.isEmpty && (0..<1440).contains(window.start) && (1...1440).contains(window.duration),
            "window \(window.weekdays) \(window.start)+\(window.duration)")
    require((try? MaintenanceWindow(parsing: window.description)) == window,
            "window \(window.description.debugDescription) does not read back")
    return 0
}
