import Testing
@testable import HealCore

@Suite("MaintenanceWindow")
struct MaintenanceWindowTests {
    /// Seconds since the epoch, as `date -u -d … +%s` gives them.
    @Test(arguments: [
        (CivilTime(year: 1970, month: 1, day: 1), Int64(0), Weekday.thursday),
        (CivilTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59), -60, .wednesday),
        (CivilTime(year: 2000, month: 2, day: 29, hour: 12, minute: 34), 951_827_640, .tuesday),
        (CivilTime(year: 2026, month: 11, day: 28, hour: 23), 1_795_906_800, .saturday),
        (CivilTime(year: 2026, month: 12, day: 6, hour: 2), 1_796_522_400, .sunday),
    ])
    func civilTimeMatchesTheEpoch(civil: CivilTime, seconds: Int64, weekday: Weekday) {
        #expect(civil.seconds == seconds)
        #expect(CivilTime(seconds: seconds) == civil)
        #expect(civil.weekday == weekday)
    }

    @Test func formats() {
        let time = CivilTime(year: 2026, month: 12, day: 6, hour: 2, minute: 5, second: 9)
        #expect(time.iso8601 == "2026-12-06T02:05:09Z")
        #expect(time.readable == "Sun 2026-12-06 02:05")
        #expect(time.systemdCalendarUTC == "2026-12-06 02:05:09 UTC")
    }

    @Test(arguments: [
        ("Sun 02:00-04:00", "Sun 02:00-04:00", 120, 120),
        ("sunday 2:00-04:00", "Sun 02:00-04:00", 120, 120),
        ("Sat,Sun 01:30-05:00", "Sat,Sun 01:30-05:00", 90, 210),
        ("Mon..Fri 22:00-02:00", "Mon,Tue,Wed,Thu,Fri 22:00-02:00", 1320, 240),
        ("Mon-Wed 22:00-24:00", "Mon,Tue,Wed 22:00-24:00", 1320, 120),
        ("Fri..Mon 03:00-04:00", "Mon,Fri,Sat,Sun 03:00-04:00", 180, 60),
        ("03:00-04:00", "03:00-04:00", 180, 60),
        ("  Sun   02:00-04:00 ", "Sun 02:00-04:00", 120, 120),
        ("00:00-24:00", "00:00-24:00", 0, 1440),
    ])
    func parses(text: String, shown: String, start: Int, duration: Int) throws {
        let window = try MaintenanceWindow(parsing: text)
        #expect(window.description == shown)
        #expect(window.start == start)
        #expect(window.duration == duration)
        #expect(try MaintenanceWindow(parsing: window.description) == window)
    }

    @Test(arguments: ["", "Sun", "Sun 02:00", "Sun 02:00-02:00", "Sun 2:0-4:00", "Sun 25:00-26:00",
                      "Funday 02:00-04:00", "Sun..Funday 02:00-04:00", "Sun 02:00-04:60", "Sun 24:00-02:00",
                      "Sat Sun 02:00-04:00", "Sun 02:00-04:00-05:00", "Mon...Fri 02:00-03:00", "Sun 02h-04h"])
    func refuses(text: String) {
        #expect(throws: MaintenanceWindow.ParseError.self) { try MaintenanceWindow(parsing: text) }
    }

    static func at(_ day: Int, _ hour: Int, _ minute: Int = 0) -> Int64 {
        CivilTime(year: 2026, month: 11, day: day, hour: hour, minute: minute).seconds
    }

    /// Sun 2026-11-29 is the window day; Sat 28th is the night before.
    @Test(arguments: [
        ("Sun 02:00-04:00", at(28, 23), at(29, 2), at(29, 4)),        // tonight
        ("Sun 02:00-04:00", at(29, 3), at(29, 2), at(29, 4)),         // open now
        ("Sun 02:00-04:00", at(29, 4), at(29, 2) + 7 * 86_400, at(29, 4) + 7 * 86_400),  // just closed: next week
        ("Sat 23:00-01:00", at(29, 0, 30), at(28, 23), at(29, 1)),    // opened yesterday, runs past midnight
        ("Mon..Fri 22:00-23:00", at(28, 23), at(30, 22), at(30, 23)), // the weekend skipped
        ("12:00-13:00", at(29, 12, 59), at(29, 12), at(29, 13)),
    ])
    func nextOpening(text: String, now: Int64, start: Int64, end: Int64) throws {
        let opening = try #require(try MaintenanceWindow(parsing: text).opening(atOrAfter: now))
        #expect(opening == MaintenanceWindow.Opening(start: start, end: end))
    }
}
