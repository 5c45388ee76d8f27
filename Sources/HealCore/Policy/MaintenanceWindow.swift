/// When reboots are allowed under `Policy=window`: a set of weekdays and a time range on
/// each, in the style of systemd.time(7) calendar events.
///
/// ```
///   Window=Sun 02:00-04:00            Sundays from 02:00 to 04:00
///   Window=Sat,Sun 01:30-05:00        a list of days
///   Window=Mon..Fri 22:00-02:00       a range of days; an end before the start runs past
///                                     midnight (the window belongs to the day it opens)
///   Window=03:00-04:00                no days: every day
/// ```
///
/// Days are `Mon`…`Sun` or their full names, any case; `..` (systemd) or `-` make a range
/// and a range may wrap (`Fri..Mon`). Times are `HH:MM` in the machine's local time;
/// `24:00` may end a window.
public struct MaintenanceWindow: Sendable, Hashable, CustomStringConvertible {
    public var weekdays: Set<Weekday>
    /// Minutes after midnight, 0..<1440.
    public var start: Int
    /// Length in minutes, 1...1440.
    public var duration: Int

    public init(weekdays: Set<Weekday>, start: Int, duration: Int) {
        self.weekdays = weekdays
        self.start = start
        self.duration = duration
    }

    /// One opening of the window, in the seconds the caller used (local seconds).
    public struct Opening: Sendable, Hashable {
        public var start: Int64
        public var end: Int64

        public func contains(_ time: Int64) -> Bool { start <= time && time < end }
    }

    public enum ParseError: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        case badDay(String)
        case badTime(String)
        case badRange(String)
        case empty

        public var description: String {
            switch self {
            case .badDay(let text): "\"\(text)\" is not a day of the week (Mon…Sun)"
            case .badTime(let text): "\"\(text)\" is not a time HH:MM"
            case .badRange(let text): "\"\(text)\" is not a time range HH:MM-HH:MM of some length"
            case .empty: "no time range"
            }
        }
    }

    /// Parses `[DAYS] HH:MM-HH:MM`.
    public init(parsing text: String) throws(ParseError) {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let range = words.last else { throw .empty }
        guard words.count <= 2 else { throw .badDay(words.dropLast().joined(separator: " ")) }
        var days = Set(Weekday.allCases)
        if words.count == 2 { days = try Self.days(words[0]) }
        let bounds = range.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2 else { throw .badRange(String(range)) }
        let from = try Self.minutes(bounds[0]), to = try Self.minutes(bounds[1])
        guard from < 1440 else { throw .badRange(String(range)) }
        let length = to > from ? to - from : to + 1440 - from
        guard from != to % 1440 || to == 1440 && from == 0, length >= 1 else { throw .badRange(String(range)) }
        self.init(weekdays: days, start: from, duration: length)
    }

    private static func days(_ text: Substring) throws(ParseError) -> Set<Weekday> {
        var days: Set<Weekday> = []
        for item in text.split(separator: ",") {
            // `..` (systemd) or `-`: after splitting on "." a range has an empty middle.
            let dotted = item.split(separator: ".", omittingEmptySubsequences: false)
            let ends: [Substring]
            if dotted.count == 3 && dotted[1].isEmpty {
                ends = [dotted[0], dotted[2]]
            } else if dotted.count == 1 {
                ends = item.split(separator: "-", omittingEmptySubsequences: false)
            } else {
                throw .badDay(String(item))
            }
            guard ends.count == 1 || ends.count == 2 else { throw .badDay(String(item)) }
            guard let first = Weekday(name: ends[0]) else { throw .badDay(String(ends[0])) }
            guard let last = ends.count == 2 ? Weekday(name: ends[1]) : first else { throw .badDay(String(ends[1])) }
            var day = first
            while true {
                days.insert(day)
                if day == last { break }
                day = Weekday(rawValue: (day.rawValue + 1) % 7) ?? .monday
            }
        }
        guard !days.isEmpty else { throw .badDay(String(text)) }
        return days
    }

    private static func minutes(_ text: Substring) throws(ParseError) -> Int {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let hour = Int(parts[0]), let minute = Int(parts[1]), minute < 60,
              hour < 24 || hour == 24 && minute == 0 else {
            throw .badTime(String(text))
        }
        return hour * 60 + minute
    }

    /// The opening in progress at `time`, or else the next one (`time` in local seconds).
    /// Nil only for a window without days, which parsing never makes.
    public func opening(atOrAfter time: Int64) -> Opening? {
        let today = CivilTime.floorDiv(time, CivilTime.secondsPerDay)
        // Yesterday's opening may run past midnight into today; a week later every day
        // has come round once.
        for day in (today - 1)...(today + 7) where weekdays.contains(CivilTime.weekday(ofDay: day)) {
            let start = day * CivilTime.secondsPerDay + Int64(start) * 60
            let opening = Opening(start: start, end: start + Int64(duration) * 60)
            if opening.end > time { return opening }
        }
        return nil
    }

    /// The setting as it would be written: `Sat,Sun 02:00-04:00`.
    public var description: String {
        let end = (start + duration) % 1440 == 0 && start + duration == 1440 ? 1440 : (start + duration) % 1440
        let time = "\(Self.clock(start))-\(Self.clock(end))"
        if weekdays.count == 7 { return time }
        return weekdays.sorted().map(\.abbreviation).joined(separator: ",") + " " + time
    }

    private static func clock(_ minutes: Int) -> String {
        CivilTime.pad(minutes / 60) + ":" + CivilTime.pad(minutes % 60)
    }
}
