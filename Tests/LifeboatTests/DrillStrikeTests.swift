import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatDrill

/// A scenario struck at several points of its snapshot cycle: how the points are written and
/// chosen, and that the worst case, never one lucky sample, decides the RPO target.
final class DrillStrikeTests: XCTestCase {
    static let scheduled = """
        name: strikes
        source: {generate: {size: 256KiB}}
        repositories: [{name: primary, location: scratch}]
        targets: {rto: 1m, rpo: 1s}
        steps:
          - workload: {rate: 50}
          - snapshot
          - snapshot_schedule: {every: 600ms}
          - disaster: {kind: delete-database, strike: STRIKE}
          - restore: latest
        """

    func scenario(_ strike: String) throws -> Scenario {
        try ScenarioLoader.parse(Self.scheduled.replacingOccurrences(of: "STRIKE", with: strike), file: "s.yml")
    }

    func parseError(_ strike: String) -> String {
        do { _ = try scenario(strike); return "no error" } catch let e as LifeboatError { return e.message } catch { return "\(error)" }
    }

    /// One real drill's report (a single strike), to vary.
    static func realReport() throws -> DrillReport {
        let sb = try Sandbox()
        try DrillTests.valid.write(toFile: sb.path("ok.yml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: sb.path("scratch"), withIntermediateDirectories: true)
        let r = try sb.lifeboat("drill", "run", sb.path("ok.yml"), "--report-dir", sb.path("reports"), "--scratch-dir", sb.path("scratch"))
        XCTAssertEqual(r.status, 0, r.stderr)
        let dir = try XCTUnwrap(try FileIO.listDirectory(sb.path("reports")).first { !$0.hasSuffix(".jsonl") })
        return try DrillReport.decode(try FileIO.readFile(sb.path("reports/\(dir)/report.json")))
    }

    func testStrikePointsAreWrittenAsRandomOrOffsets() throws {
        XCTAssertEqual(try scenario("[0ms, 250ms, 500ms]").disaster?.strikePoints, .offsets([0, 0.25, 0.5]))
        XCTAssertEqual(try scenario("random").disaster?.strikePoints, .random(count: 3, seed: 1))
        XCTAssertEqual(try scenario("{random: 5, seed: 9}").disaster?.strikePoints, .random(count: 5, seed: 9))
        XCTAssertNil(try scenario("at-once").disaster?.strikePoints)
        XCTAssertTrue(try scenario("during-snapshot").disaster?.duringSnapshot == true)

        XCTAssertTrue(parseError("[100ms, 700ms]").hasPrefix("s.yml line 9: strike offset 700 ms is outside the snapshot cycle"), parseError("[100ms, 700ms]"))
        XCTAssertTrue(parseError("{random: 0}").contains("1 to 20 points"))
        XCTAssertTrue(parseError("sometimes").contains("strike must be at-once, during-snapshot, random"))
        let unscheduled = Self.scheduled.replacingOccurrences(of: "  - snapshot_schedule: {every: 600ms}\n", with: "").replacingOccurrences(of: "STRIKE", with: "random")
        XCTAssertThrowsError(try ScenarioLoader.parse(unscheduled, file: "s.yml")) {
            XCTAssertTrue(($0 as? LifeboatError)?.message.contains("add a snapshot_schedule step") == true, "\($0)")
        }
    }

    func testRandomPointsAreSeededAndSpreadOverTheWholeCycle() {
        let points = Scenario.StrikePoints.random(count: 3, seed: 7)
        let a = points.offsets(every: 1.2)
        XCTAssertEqual(a, points.offsets(every: 1.2), "the same seed gives the same points")
        XCTAssertNotEqual(a, Scenario.StrikePoints.random(count: 3, seed: 8).offsets(every: 1.2))
        for (k, o) in a.enumerated() {
            XCTAssertGreaterThanOrEqual(o, Double(k) * 0.4 - 1e-9, "point \(k) in its third of the cycle")
            XCTAssertLessThan(o, Double(k + 1) * 0.4)
        }
    }

    func testEachRunIsStruckAtItsOwnPoint() throws {
        let s = try scenario("random").struck(at: 0.25)
        XCTAssertNil(s.disaster?.strikePoints)
        XCTAssertEqual(s.disaster?.strikeOffset, 0.25)
    }

    /// Two samples within the target and one over it: the target is missed, the report gives the
    /// worst case's figures and every sample.
    func testTheWorstCaseDecidesTheTarget() throws {
        let base = try Self.realReport()
        func sample(_ rpo: Double, rto: Double, id: String) -> (offset: Double, report: DrillReport) {
            var r = base
            r.id = id
            r.rpo.achievedSeconds = rpo
            r.rpo.lostTransactions = Int(rpo * 100)
            for k in r.targets.indices where r.targets[k].measure == "RPO" {
                r.targets[k].achievedSeconds = rpo
                r.targets[k].achieved = DrillFormat.seconds(rpo)
                r.targets[k].met = rpo <= 1
            }
            for k in r.targets.indices where r.targets[k].measure == "RTO" { r.targets[k].achievedSeconds = rto }
            r.outcome = r.targets.allSatisfy { $0.met } ? DrillReport.Outcome.passed : .targetMissed
            return (Double(id.count) / 10, r)
        }
        let targets = Scenario.Targets(rto: 60, rpo: 1, maxLostTransactions: nil)
        let lucky = [sample(0.2, rto: 0.3, id: "a"), sample(0.9, rto: 0.5, id: "bb")]
        let passed = DrillStrikeSeries.combine(id: "series", points: "two points", every: 1, samples: lucky, targets: targets)
        XCTAssertEqual(passed.outcome, .passed)

        let combined = DrillStrikeSeries.combine(id: "series", points: "three points", every: 1,
                                                 samples: lucky + [sample(1.4, rto: 0.2, id: "ccc")], targets: targets)
        XCTAssertEqual(combined.outcome, .targetMissed, "one strike point over the target misses it, however good the others")
        XCTAssertEqual(combined.id, "series")
        let rpoRow = try XCTUnwrap(combined.targets.first { $0.measure == "RPO" })
        XCTAssertFalse(rpoRow.met)
        XCTAssertEqual(rpoRow.achievedSeconds, 1.4)
        XCTAssertEqual(combined.rpo.achievedSeconds, 1.4, "the report details the worst case")
        XCTAssertEqual(combined.rto.achievedSeconds, 0.5, "the slowest recovery of all points")
        let strikes = try XCTUnwrap(combined.strikes)
        XCTAssertEqual(strikes.samples.map(\.drillId), ["a", "bb", "ccc"])
        XCTAssertEqual(strikes.worstCase, 2)
        XCTAssertEqual(strikes.rpoMinSeconds, 0.2)
        XCTAssertEqual(strikes.rpoMedianSeconds, 0.9)
        XCTAssertEqual(strikes.rpoMaxSeconds, 1.4)

        let md = DrillMarkdown.render(combined, reportSHA256: "0", trend: [])
        let html = DrillHTML.render(combined, reportSHA256: "0", trend: [])
        for text in ["Strike points: RPO over the snapshot cycle", "RPO min 200 ms, median 900 ms, max 1.40 s", "1.40 s (missed)", "(worst case)"] {
            XCTAssertTrue(md.contains(text), "markdown: \(text)")
            XCTAssertTrue(html.contains(DrillHTML.esc(text)), "html: \(text)")
        }
        let json = String(decoding: try combined.encoded(), as: UTF8.self)
        XCTAssertTrue(json.contains("\"rpo_max_seconds\" : 1.4") && json.contains("\"offset_seconds\""), "report.json carries the samples")
    }
}
