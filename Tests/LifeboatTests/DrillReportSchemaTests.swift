import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatDrill

/// report.json against docs/drill-report.schema.json (draft 2020-12), checked by a validator of
/// the keywords the schema uses: type, required, properties, additionalProperties (as a schema),
/// items, enum, const, minItems, $ref into $defs. A keyword it does not know fails the test, so
/// the schema cannot grow beyond what is checked.
final class DrillReportSchemaTests: XCTestCase {
    static let schemaPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/drill-report.schema.json").path

    struct Validator {
        let root: [String: Any]
        static let known: Set<String> = ["$schema", "$id", "title", "description", "type", "required", "properties", "additionalProperties",
                                         "items", "enum", "const", "minItems", "$ref", "$defs"]

        func validate(_ value: Any, _ schema: [String: Any], at path: String, _ problems: inout [String]) {
            for key in schema.keys where !Self.known.contains(key) { problems.append("\(path): schema keyword \(key) is not checked by this validator") }
            if let ref = schema["$ref"] as? String {
                let name = String(ref.dropFirst("#/$defs/".count))
                guard let target = (root["$defs"] as? [String: Any])?[name] as? [String: Any] else { problems.append("\(path): unresolved \(ref)"); return }
                validate(value, target, at: path, &problems)
            }
            if let type = schema["type"] as? String, !Self.matches(value, type) { problems.append("\(path): expected \(type), got \(Swift.type(of: value))"); return }
            if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal($0, value) }) { problems.append("\(path): \(value) is not one of \(options)") }
            if let c = schema["const"], !Self.equal(c, value) { problems.append("\(path): expected \(c), got \(value)") }
            if let object = value as? [String: Any] {
                for key in schema["required"] as? [String] ?? [] where object[key] == nil { problems.append("\(path): required key \(key) is missing") }
                let properties = schema["properties"] as? [String: Any] ?? [:]
                for (key, v) in object {
                    if let s = properties[key] as? [String: Any] { validate(v, s, at: "\(path).\(key)", &problems) } else if let s = schema["additionalProperties"] as? [String: Any] {
                        validate(v, s, at: "\(path).\(key)", &problems)
                    } else if schema["properties"] != nil {
                        problems.append("\(path): key \(key) is not described by the schema")
                    }
                }
            }
            if let array = value as? [Any] {
                if let min = schema["minItems"] as? Int, array.count < min { problems.append("\(path): fewer than \(min) items") }
                if let items = schema["items"] as? [String: Any] { for (i, v) in array.enumerated() { validate(v, items, at: "\(path)[\(i)]", &problems) } }
            }
        }

        static func matches(_ v: Any, _ type: String) -> Bool {
            // JSONSerialization gives booleans as Bool or as NSNumbers of type char ("c").
            let isBool = Swift.type(of: v) == Bool.self || (v as? NSNumber).map { String(cString: $0.objCType) == "c" } == true
            switch type {
            case "object": return v is [String: Any]
            case "array": return v is [Any]
            case "string": return v is String
            case "boolean": return isBool || v is Bool
            case "integer": return !isBool && (v as? NSNumber).map { $0.doubleValue == $0.doubleValue.rounded() } == true
            case "number": return !isBool && v is NSNumber
            default: return false
            }
        }

        static func equal(_ a: Any, _ b: Any) -> Bool {
            if let x = a as? String, let y = b as? String { return x == y }
            if let x = a as? NSNumber, let y = b as? NSNumber { return x == y }
            return false
        }
    }

    func problems(_ report: Any) throws -> [String] {
        let schema = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(FileIO.readFile(Self.schemaPath))) as? [String: Any])
        XCTAssertEqual(schema["$schema"] as? String, "https://json-schema.org/draft/2020-12/schema")
        var out: [String] = []
        Validator(root: schema).validate(report, schema, at: "report", &out)
        return out
    }

    /// A real drill's report.json (a strike series, so `strikes` is checked too) follows the schema.
    func testARealReportFollowsTheSchema() throws {
        var report = try DrillStrikeTests.realReport()
        XCTAssertEqual(report.schemaVersion, DrillReport.currentSchemaVersion)
        XCTAssertEqual(report.controls ?? [], DrillReport.controls)
        report = DrillStrikeSeries.combine(id: "s", points: "one point", every: 1, samples: [(0.1, report)], targets: .init(rto: 60, rpo: 60, maxLostTransactions: nil))
        // And the optional parts a single run does not have: a previous run, an operator, a projection.
        report.previous = .init(id: "p", time: report.startedAt, outcome: "passed", rtoSeconds: 2, rpoSeconds: 0, lostTransactions: 0,
                                rtoDeltaSeconds: -0.5, rtoDeltaPercent: -25, rpoDeltaSeconds: 0.1, rpoDeltaPercent: nil)
        report.initiator = .init(user: "root", host: "vm", mode: "unattended", command: "lifeboat drill run", operatorName: "Jane Roe")
        report.projection = DrillProjection.project(phases: report.rto.phases, measuredRTO: report.rto.achievedSeconds ?? 1, measuredBytes: report.scope.databaseBytes ?? 1,
                                                    productionBytes: 40 << 30, link: "1Gbit/s", linkBytesPerSecond: 125e6, target: 60)
        let json = try JSONSerialization.jsonObject(with: Data(try report.encoded()))
        XCTAssertEqual(try problems(json), [])
    }

    /// The validator does catch what the schema forbids: a missing key, a wrong type, an unknown key.
    func testTheSchemaCatchesAReportThatDoesNotFollowIt() throws {
        let report = try DrillStrikeTests.realReport()
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try report.encoded())) as? [String: Any])
        json["schema_version"] = nil
        json["outcome"] = "fine"
        json["duration_seconds"] = "3 s"
        json["surprise"] = true
        let found = try problems(json).joined(separator: "\n")
        for expected in ["required key schema_version is missing", "report.outcome: fine is not one of", "report.duration_seconds: expected number", "key surprise is not described"] {
            XCTAssertTrue(found.contains(expected), "\(expected) in:\n\(found)")
        }
    }
}
