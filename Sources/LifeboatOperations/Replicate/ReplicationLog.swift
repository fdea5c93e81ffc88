import Foundation
import LifeboatCore

/// What `replicate` tells its operator, on stderr: one line an event, as text or (`--json`)
/// one JSON object a line. Events name sources, replicas, sequence numbers, sizes and times,
/// never page contents or secrets.
public final class ReplicationLog: Sendable {
    public let json: Bool
    public let quiet: Bool
    private let write: @Sendable (String) -> Void

    public init(json: Bool, quiet: Bool = false, write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.json = json
        self.quiet = quiet
        self.write = write
    }

    /// `important` events (failures, breaks, stops) are written even with --quiet.
    public func event(_ name: String, _ fields: [String: String], important: Bool = false) {
        if quiet && !important && !name.hasSuffix("failing") && !name.hasPrefix("break") { return }
        let time = RFC3339.format(Date(), fractional: true)
        if json {
            var object: [String: String] = fields
            object["time"] = time
            object["event"] = name
            let body = object.keys.sorted().map { "\(Self.quote($0)):\(Self.quote(object[$0] ?? ""))" }.joined(separator: ",")
            write("{\(body)}")
        } else {
            let rest = fields.keys.sorted().map { "\($0)=\(fields[$0] ?? "")" }.joined(separator: " ")
            write("\(time) \(name) \(rest)")
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
