/// Parsing of human sizes ("64MiB") and durations ("5s", "2m") given on the command line and
/// in scenario files. Binary units only: a database page is 4 KiB, so "1GiB" is what users mean.
public enum Units {
    /// "4096", "512KiB", "64MiB", "1GiB", "1.5GiB"; "K/M/G/T" and "KB/MB/GB/TB" are read as binary too.
    public static func parseBytes(_ text: String) throws -> Int {
        let s = text.trimmingSpaces
        let split = s.firstIndex(where: { !($0.isNumber || $0 == ".") }) ?? s.endIndex
        let number = String(s[..<split])
        let unit = s[split...].lowercased().trimmingSpaces
        let multipliers: [String: Double] = [
            "": 1, "b": 1,
            "k": 1024, "kb": 1024, "kib": 1024,
            "m": 1_048_576, "mb": 1_048_576, "mib": 1_048_576,
            "g": 1_073_741_824, "gb": 1_073_741_824, "gib": 1_073_741_824,
            "t": 1_099_511_627_776, "tb": 1_099_511_627_776, "tib": 1_099_511_627_776,
        ]
        guard let value = Double(number), value >= 0, let multiplier = multipliers[unit] else {
            throw LifeboatError(.usage, "cannot read size '\(text)': use a number with an optional unit, e.g. 64MiB or 1GiB")
        }
        return Int((value * multiplier).rounded())
    }

    /// "500ms", "5s", "2m", "1h", "1h30m", or plain seconds ("2.5"). Returns seconds.
    public static func parseDuration(_ text: String) throws -> Double {
        let s = text.trimmingSpaces.lowercased()
        let bad = LifeboatError(.usage, "cannot read duration '\(text)': use e.g. 500ms, 5s, 2m, 1h30m")
        if let plain = Double(s) {
            guard plain >= 0 else { throw bad }
            return plain
        }
        var total = 0.0
        var rest = Substring(s)
        guard !rest.isEmpty else { throw bad }
        while !rest.isEmpty {
            let numEnd = rest.firstIndex(where: { !($0.isNumber || $0 == ".") }) ?? rest.endIndex
            guard let value = Double(rest[..<numEnd]) else { throw bad }
            rest = rest[numEnd...]
            let unitEnd = rest.firstIndex(where: { $0.isNumber }) ?? rest.endIndex
            let unit = rest[..<unitEnd]
            rest = rest[unitEnd...]
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m", "min": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: throw bad
            }
        }
        return total
    }

    /// "1.0 GiB", "64.0 MiB", "512 B" for messages.
    public static func formatBytes(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var i = 0
        while value >= 1024 && i < units.count - 1 {
            value /= 1024
            i += 1
        }
        if i == 0 { return "\(bytes) B" }
        return "\((value * 10).rounded() / 10) \(units[i])"
    }
}

extension StringProtocol {
    package var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
