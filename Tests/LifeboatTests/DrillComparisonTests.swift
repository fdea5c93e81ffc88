import XCTest
@testable import LifeboatCore
@testable import LifeboatOperations
@testable import LifeboatDrill

/// A drill compared with the previous run of the same scenario file, and its metrics.
final class DrillComparisonTests: XCTestCase {
    func testSecondRunComparesWithTheFirstAndWritesMetrics() throws {
        let sb = try Sandbox()
        try DrillTests.valid.write(toFile: sb.path("ok.yml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: sb.path("scratch"), withIntermediateDirectories: true)
        let metrics = sb.path("lifeboat.prom")
        func run() throws -> DrillReport {
            let r = try sb.lifeboat("drill", "run", sb.path("ok.yml"), "--report-dir", sb.path("reports"), "--scratch-dir", sb.path("scratch"),
                                    "--metrics-file", metrics, "--json")
            XCTAssertEqual(r.status, 0, r.stderr)
            let dir = try XCTUnwrap(try r.json()["report_directory"] as? String)
            return try DrillReport.decode(try FileIO.readFile(dir + "/report.json"))
        }
        let first = try run()
        XCTAssertNil(first.previous, "the first run of a scenario has nothing to compare with")
        var prom = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(prom.contains("lifeboat_drill_last_result{scenario=\"ok\"} 1"), prom)
        XCTAssertTrue(prom.contains("lifeboat_drill_rpo_target_seconds{scenario=\"ok\"} 60"), prom)

        let second = try run()
        let previous = try XCTUnwrap(second.previous)
        XCTAssertEqual(previous.id, first.id)
        XCTAssertEqual(previous.outcome, "passed")
        XCTAssertEqual(previous.rtoSeconds, first.rto.achievedSeconds)
        let rto = try XCTUnwrap(second.rto.achievedSeconds), before = try XCTUnwrap(first.rto.achievedSeconds)
        XCTAssertEqual(try XCTUnwrap(previous.rtoDeltaSeconds), rto - before, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(previous.rtoDeltaPercent), (rto - before) / before * 100, accuracy: 1e-6)
        let dir = try XCTUnwrap(try FileIO.listDirectory(sb.path("reports")).first { $0.hasPrefix(second.id) })
        let line = "RTO \(DrillFormat.seconds(before)) → \(DrillFormat.seconds(rto)) (\(String(format: "%+.0f %%", (rto - before) / before * 100)))"
        for file in ["report.md", "report.html"] {
            let text = String(decoding: try FileIO.readFile(sb.path("reports/\(dir)/\(file)")), as: UTF8.self)
            XCTAssertTrue(text.contains("revious run (") && text.contains(DrillHTML.esc(line)), "\(file): \(line)")
        }
        prom = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertEqual(prom.components(separatedBy: "lifeboat_drill_last_rto_seconds{").count, 2, "one series per scenario:\n\(prom)")
    }

    /// Runs are matched by the scenario file's SHA-256: an edited scenario starts afresh.
    func testPreviousRunIsKeyedByTheScenarioFileHash() throws {
        let report = try DrillStrikeTests.realReport()
        func entry(_ id: String, hash: String?, rto: Double?) -> DrillHistoryEntry {
            var e = DrillArchive.entry(report, dir: id, files: [:], prev: "")
            e.id = id
            e.scenarioSha256 = hash
            e.rtoSeconds = rto
            return e
        }
        let same = report.scenario.fileSha256
        XCTAssertNil(DrillComparison.previous(for: report, in: [entry("edited", hash: (same.hasPrefix("0") ? "1" : "0") + same.dropFirst(), rto: 1), entry("legacy", hash: nil, rto: 1)]))
        let p = try XCTUnwrap(DrillComparison.previous(for: report, in: [entry("old", hash: same, rto: 2), entry("newer", hash: same, rto: nil), entry("other", hash: "x", rto: 1)]))
        XCTAssertEqual(p.id, "newer")
        XCTAssertNil(p.rtoDeltaSeconds, "no delta against a drill that did not recover")
        XCTAssertTrue(DrillComparison.text(p, report).contains("RTO not achieved → "), DrillComparison.text(p, report))
    }
}
