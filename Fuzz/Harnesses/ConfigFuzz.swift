import HealCore

// Fuzzes the config file reader as `Config.load` calls it on a root's
// `/etc/clarity-heal/clarity-heal.conf`: the text decoded as `FileReading.text` does,
// then `Config.parse` (HealSystem's Config+Parse.swift, compiled in with the static
// libinih.a the product links), which hands each setting to `Config.set`.
//
// Properties:
// - reading the same text twice gives the same config or the same error;
// - an error names a line from 1 on;
// - a config that loads holds only values its settings allow: thresholds of at least 1,
//   a percentage above 0 and at most 100, notice minutes 0…1440, urgency days 0…365,
//   1…20 attempts, and a maintenance window of some days, starting within the day,
//   1…1440 minutes long, that reads back from its own description.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = fuzzText(fuzzInput(data, size))
    let first = Result { () throws(Config.Error) in try Config.parse(text, source: "fuzz.conf") }
    let second = Result { () throws(Config.Error) in try Config.parse(text, source: "fuzz.conf") }
    require(first == second, "the same text read twice gave \(first) and \(second)")

    switch first {
    case .failure(.setting(_, let line, _)), .failure(.syntax(_, let line)):
        require(line >= 1, "an error at line \(line)")
    case .failure(.unreadable):
        require(false, "parsing text reported an unreadable file")
    case .success(let config):
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
    }
    return 0
}
