/// A day of the week, Monday first (ISO 8601, and systemd's calendar order).
public enum Weekday: Int, Sendable, Hashable, CaseIterable, Comparable, Codable {
    case monday = 0, tuesday, wednesday, thursday, friday, saturday, sunday

    /// The three-letter name systemd.time(7) prints (`Mon`).
    public var abbreviation: String {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][rawValue]
    }

    /// Reads `Mon`, `monday`, `MON` (the three-letter or the full English name).
    public init?(name: some StringProtocol) {
        let lower = name.lowercased()
        let full = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        guard let index = full.firstIndex(where: { $0 == lower || ($0.prefix(3) == lower && lower.count == 3) }) else {
            return nil
        }
        self.init(rawValue: index)
    }

    public static func < (lhs: Weekday, rhs: Weekday) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A point in time broken into calendar fields, without time zones: the caller decides
/// whether the seconds it converts are UTC or local (seconds since the epoch plus the UTC
/// offset). Pure arithmetic on the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil` / `civil_from_days`), so HealCore needs no libc time functions.
public struct CivilTime: Sendable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public static let secondsPerDay: Int64 = 86_400

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// The fields of `seconds` since 1970-01-01 00:00:00.
    public init(seconds: Int64) {
        let days = Self.floorDiv(seconds, Self.secondsPerDay)
        let rest = Int(seconds - days * Self.secondsPerDay)
        // civil_from_days (http://howardhinnant.github.io/date_algorithms.html)
        let z = days + 719_468
        let era = Self.floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), month: Int(m), day: Int(d),
                  hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60)
    }

    /// Seconds since 1970-01-01 00:00:00 of these fields.
    public var seconds: Int64 {
        // days_from_civil
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = Self.floorDiv(y, 400)
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * Self.secondsPerDay + Int64(hour * 3600 + minute * 60 + second)
    }

    /// The day of the week of `seconds` since the epoch (1970-01-01 was a Thursday).
    public static func weekday(ofDay days: Int64) -> Weekday {
        let index = Int(((days + 3) % 7 + 7) % 7)
        return Weekday(rawValue: index) ?? .monday
    }

    public var weekday: Weekday { Self.weekday(ofDay: Self.floorDiv(seconds, Self.secondsPerDay)) }

    /// `2026-12-06T02:00:00Z` for UTC fields (RFC 3339).
    public var iso8601: String {
        "\(Self.pad(year, 4))-\(Self.pad(month))-\(Self.pad(day))T\(Self.pad(hour)):\(Self.pad(minute)):\(Self.pad(second))Z"
    }

    /// `Sun 2026-12-06 02:00`, for messages to a person.
    public var readable: String {
        "\(weekday.abbreviation) \(Self.pad(year, 4))-\(Self.pad(month))-\(Self.pad(day)) \(Self.pad(hour)):\(Self.pad(minute))"
    }

    /// `2026-12-06 02:00:00 UTC`: a calendar event systemd.time(7) accepts for
    /// `systemd-run --on-calendar` (fields are taken as UTC).
    public var systemdCalendarUTC: String {
        "\(Self.pad(year, 4))-\(Self.pad(month))-\(Self.pad(day)) \(Self.pad(hour)):\(Self.pad(minute)):\(Self.pad(second)) UTC"
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    static func pad(_ value: Int, _ width: Int = 2) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
