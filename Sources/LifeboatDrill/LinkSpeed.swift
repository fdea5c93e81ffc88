import Foundation

/// A network link's speed as a scenario writes it: bits (`1Gbit/s`, `100Mb/s`, `1Gbps`) or
/// bytes (`200MB/s` decimal, `120MiB/s` binary) per second. Bits and decimal prefixes are how
/// links are sold; the result is bytes per second.
public enum LinkSpeed {
    /// Bytes per second, or nil when the text is not a positive speed with a known unit.
    public static func bytesPerSecond(_ text: String) -> Double? {
        var s = text.trimmingCharacters(in: .whitespaces)
        if s.hasSuffix("/s") { s = String(s.dropLast(2)) } else if !s.lowercased().hasSuffix("ps") { return nil }
        let split = s.firstIndex { !($0.isNumber || $0 == ".") } ?? s.endIndex
        guard let value = Double(s[..<split]), value > 0, value.isFinite else { return nil }
        let unit = s[split...].trimmingCharacters(in: .whitespaces), lower = unit.lowercased()
        // The case of a lone b says bits (Mb/s) or bytes (MB/s); bit, bps and iB cannot be mistaken.
        let decimal: [String: Double] = ["": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12]
        let binary: [String: Double] = ["k": 1024, "m": 1_048_576, "g": 1_073_741_824, "t": 1_099_511_627_776]
        let multiplier: Double?
        if unit.hasSuffix("Bps") {
            multiplier = decimal[String(lower.dropLast(3))]
        } else if lower.hasSuffix("bit") || lower.hasSuffix("bps") {
            multiplier = decimal[String(lower.dropLast(3))].map { $0 / 8 }
        } else if unit.hasSuffix("iB") {
            multiplier = binary[String(lower.dropLast(2))]
        } else if unit.hasSuffix("B") {
            multiplier = decimal[String(lower.dropLast())]
        } else if unit.hasSuffix("b") {
            multiplier = decimal[String(lower.dropLast())].map { $0 / 8 }
        } else {
            multiplier = nil
        }
        guard let multiplier else { return nil }
        return value * multiplier
    }

    /// "125 MB/s" (decimal, as link speeds are quoted).
    public static func format(_ bytesPerSecond: Double) -> String {
        let units = [(1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s")]
        for (size, name) in units where bytesPerSecond >= size {
            let v = bytesPerSecond / size
            return (v == v.rounded() ? String(Int(v)) : String(format: "%.1f", v)) + " " + name
        }
        return String(Int(bytesPerSecond.rounded())) + " B/s"
    }
}
