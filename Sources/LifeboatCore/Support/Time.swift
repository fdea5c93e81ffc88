import Foundation

/// RFC 3339 timestamps in UTC, the only time format Lifeboat prints or accepts.
///
/// Written out by hand over gmtime_r/timegm rather than with ISO8601DateFormatter: that
/// formatter pulls in ICU's calendar data, about 5 MB of resident memory in every run.
public enum RFC3339 {
    public static func format(_ date: Date, fractional: Bool = false) -> String {
        // To the nearest millisecond: times are stored in milliseconds, and a Date made from
        // them may sit a hair below the exact value.
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var t = tm()
        gmtime_r(&seconds, &t)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        var out = pad(t.tm_year + 1900, 4) + "-" + pad(t.tm_mon + 1, 2) + "-" + pad(t.tm_mday, 2)
            + "T" + pad(t.tm_hour, 2) + ":" + pad(t.tm_min, 2) + ":" + pad(t.tm_sec, 2)
        if fractional { out += "." + pad(Int32(((ms % 1000) + 1000) % 1000), 3) }
        return out + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil for anything else.
    public static func parse(_ s: String) -> Date? {
        let b = Array(s.utf8)
        var i = 0
        func number(_ digits: Int) -> Int? {
            guard i + digits <= b.count else { return nil }
            var v = 0
            for k in i..<(i + digits) {
                guard b[k] >= 0x30 && b[k] <= 0x39 else { return nil }
                v = v * 10 + Int(b[k] - 0x30)
            }
            i += digits
            return v
        }
        func expect(_ c: UInt8...) -> Bool {
            guard i < b.count, c.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(0x2d), let month = number(2), expect(0x2d), let day = number(2),
              expect(0x54, 0x74), let hour = number(2), expect(0x3a), let minute = number(2), expect(0x3a), let second = number(2)
        else { return nil }
        // The fraction as whole nanoseconds (digits past the ninth are dropped).
        var nanos = 0
        if i < b.count, b[i] == 0x2e {
            i += 1
            let start = i
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                if i - start < 9 { nanos = nanos * 10 + Int(b[i] - 0x30) }
                i += 1
            }
            guard i > start else { return nil }
            for _ in 0..<max(0, 9 - (i - start)) { nanos *= 10 }
        }
        var offset = 0
        if expect(0x5a, 0x7a) {
            offset = 0
        } else if i < b.count, b[i] == 0x2b || b[i] == 0x2d {
            let sign = b[i] == 0x2d ? -1 : 1
            i += 1
            guard let oh = number(2), expect(0x3a), let om = number(2), oh <= 23, om <= 59 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count, (1...12).contains(month), (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second) else { return nil }
        let daysInMonth = [31, (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day >= 1, day <= daysInMonth[month - 1] else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        let epoch = timegm(&t)
        // Whole milliseconds first, so a time printed from a stored one reads back as the very
        // same Date (Double(ms) / 1000), and `--at` the printed time of a snapshot includes it.
        let ms = Int64(epoch - offset) * 1000 + Int64(nanos / 1_000_000)
        return Date(timeIntervalSince1970: Double(ms) / 1000 + Double(nanos % 1_000_000) / 1e9)
    }
}

/// Milliseconds since the Unix epoch: how times are stored inside the repository.
public extension Date {
    /// Rounded down, except that a value a hair (under a microsecond) below a whole
    /// millisecond counts as that millisecond: Double(ms) / 1000 * 1000 can land just below ms.
    package var unixMilliseconds: Int64 {
        let x = timeIntervalSince1970 * 1000
        let nearest = x.rounded()
        return Int64(abs(x - nearest) < 1e-3 ? nearest : x.rounded(.down))
    }
    package init(unixMilliseconds ms: Int64) { self.init(timeIntervalSince1970: Double(ms) / 1000) }
}
