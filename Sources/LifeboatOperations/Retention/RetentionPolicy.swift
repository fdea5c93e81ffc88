import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// A span of calendar time for `--keep-within`, written like restic's: "1y6m", "14d", "36h"
/// (y years, m months, d days, h hours). Months and years are calendar months and years.
public struct CalendarSpan: Sendable, Equatable, CustomStringConvertible {
    public var years = 0
    public var months = 0
    public var days = 0
    public var hours = 0

    public init(years: Int = 0, months: Int = 0, days: Int = 0, hours: Int = 0) {
        self.years = years
        self.months = months
        self.days = days
        self.hours = hours
    }

    public var isZero: Bool { years == 0 && months == 0 && days == 0 && hours == 0 }

    public static func parse(_ text: String) throws -> CalendarSpan {
        let bad = LifeboatError(.usage, "cannot read '\(text)' as a span of time: use a number with y, m (months), d or h, e.g. 7d, 6m, 1y6m, 36h")
        var span = CalendarSpan()
        var number = ""
        var seen = false
        for ch in text.trimmingSpaces.lowercased() {
            if ch.isASCII && ch.isNumber {
                number.append(ch)
                continue
            }
            guard let n = Int(number) else { throw bad }
            switch ch {
            case "y": span.years += n
            case "m": span.months += n
            case "d": span.days += n
            case "h": span.hours += n
            default: throw bad
            }
            number = ""
            seen = true
        }
        guard seen, number.isEmpty else { throw bad }
        return span
    }

    /// `date` moved back by this span.
    public func before(_ date: Date, calendar: Calendar) -> Date {
        let back = DateComponents(year: -years, month: -months, day: -days)
        let shifted = calendar.date(byAdding: back, to: date) ?? date
        return shifted.addingTimeInterval(Double(-hours) * 3600)
    }

    public var description: String {
        var s = ""
        if years > 0 { s += "\(years)y" }
        if months > 0 { s += "\(months)m" }
        if days > 0 { s += "\(days)d" }
        if hours > 0 { s += "\(hours)h" }
        return s.isEmpty ? "0h" : s
    }
}

/// Which snapshots of one source to keep; everything else is forgotten. The semantics are
/// restic's, so policies carry over unchanged:
/// - snapshots are walked newest first;
/// - `last` keeps the n newest; `hourly`/`daily`/`weekly`/`monthly`/`yearly` keep the newest
///   snapshot of each of the n most recent hours/days/ISO weeks/months/years that have one;
/// - a count of -1 means "every such period";
/// - a bucket with counts left also keeps the oldest snapshot, so history reaches back as far
///   as the policy allows even while there are fewer snapshots than counts;
/// - `within` keeps every snapshot newer than the newest one minus the span (the newest, not
///   now: a source that stopped being backed up does not lose its history to the clock).
/// Periods are taken in `timeZone` (the machine's, like restic).
public struct RetentionPolicy: Sendable, Equatable {
    public var last = 0
    public var hourly = 0
    public var daily = 0
    public var weekly = 0
    public var monthly = 0
    public var yearly = 0
    public var within: CalendarSpan?

    public init(last: Int = 0, hourly: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0, yearly: Int = 0, within: CalendarSpan? = nil) {
        self.last = last
        self.hourly = hourly
        self.daily = daily
        self.weekly = weekly
        self.monthly = monthly
        self.yearly = yearly
        self.within = within
    }

    public var isEmpty: Bool {
        last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 && (within?.isZero ?? true)
    }

    public var description: String {
        var parts: [String] = []
        func add(_ n: Int, _ what: String) {
            if n == -1 { parts.append("all \(what)") } else if n > 0 { parts.append("\(n) \(what)") }
        }
        add(last, "last")
        add(hourly, "hourly")
        add(daily, "daily")
        add(weekly, "weekly")
        add(monthly, "monthly")
        add(yearly, "yearly")
        if let w = within, !w.isZero { parts.append("all within \(w) of the newest") }
        return parts.isEmpty ? "keep everything" : "keep " + parts.joined(separator: ", ")
    }

    /// One decision.
    public struct Decision: Sendable {
        public var index: Int
        public var keep: Bool
        /// Why it is kept ("last", "daily", "within 7d", ...); empty when it goes.
        public var reasons: [String]
    }

    /// Decides for each time (any order) whether it is kept. Returns decisions in input order.
    /// `now` only excludes snapshots from the future when finding the newest.
    public func apply(times: [Date], now: Date = Date(), timeZone: TimeZone = .current) -> [Decision] {
        guard !isEmpty else {
            return times.indices.map { Decision(index: $0, keep: true, reasons: ["policy is empty"]) }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        // Newest first; ties keep input order (stable).
        let order = times.indices.sorted { (times[$0], $1) > (times[$1], $0) }
        var out = times.indices.map { Decision(index: $0, keep: false, reasons: []) }

        struct Bucket {
            package var count: Int
            package var last: Int?
            package let reason: String
            package let key: (Date, Int) -> Int
        }
        func ymdh(_ d: Date) -> Int {
            let c = calendar.dateComponents([.year, .month, .day, .hour], from: d)
            return (c.year ?? 0) * 1_000_000 + (c.month ?? 0) * 10_000 + (c.day ?? 0) * 100 + (c.hour ?? 0)
        }
        func ymd(_ d: Date) -> Int {
            let c = calendar.dateComponents([.year, .month, .day], from: d)
            return (c.year ?? 0) * 10_000 + (c.month ?? 0) * 100 + (c.day ?? 0)
        }
        func yw(_ d: Date) -> Int {
            var iso = Calendar(identifier: .iso8601)
            iso.timeZone = timeZone
            let c = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: d)
            return (c.yearForWeekOfYear ?? 0) * 100 + (c.weekOfYear ?? 0)
        }
        func ym(_ d: Date) -> Int {
            let c = calendar.dateComponents([.year, .month], from: d)
            return (c.year ?? 0) * 100 + (c.month ?? 0)
        }
        func y(_ d: Date) -> Int { calendar.component(.year, from: d) }

        var buckets = [
            Bucket(count: last, last: nil, reason: "last", key: { _, nr in nr }),
            Bucket(count: hourly, last: nil, reason: "hourly", key: { d, _ in ymdh(d) }),
            Bucket(count: daily, last: nil, reason: "daily", key: { d, _ in ymd(d) }),
            Bucket(count: weekly, last: nil, reason: "weekly", key: { d, _ in yw(d) }),
            Bucket(count: monthly, last: nil, reason: "monthly", key: { d, _ in ym(d) }),
            Bucket(count: yearly, last: nil, reason: "yearly", key: { d, _ in y(d) }),
        ]
        // The newest snapshot that is not in the future anchors --keep-within.
        let newest = order.map { times[$0] }.first { $0 <= now } ?? now
        let withinLimit = within.flatMap { $0.isZero ? nil : $0.before(newest, calendar: calendar) }

        for (nr, i) in order.enumerated() {
            let t = times[i]
            var reasons: [String] = []
            if let limit = withinLimit, let w = within, t > limit {
                reasons.append("within \(w)")
            }
            for b in buckets.indices where buckets[b].count > 0 || buckets[b].count == -1 {
                let key = buckets[b].key(t, nr)
                if key != buckets[b].last || nr == order.count - 1 {
                    buckets[b].last = key
                    if buckets[b].count > 0 { buckets[b].count -= 1 }
                    reasons.append(buckets[b].reason)
                }
            }
            out[i] = Decision(index: i, keep: !reasons.isEmpty, reasons: reasons)
        }
        return out
    }
}
