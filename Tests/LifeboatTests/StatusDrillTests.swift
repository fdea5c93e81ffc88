import XCTest
@testable import LifeboatCore
@testable import LifeboatOperations
@testable import LifeboatDrill

/// `status` and the drill history: the newest drill shown, `drill_within` held per source
/// (exit 20 when no passed drill is recent enough), and the drill's Prometheus samples.
final class StatusDrillTests: XCTestCase {
    func entry(_ id: String, source: String, daysAgo: Double, outcome: String) -> DrillHistoryEntry {
        DrillHistoryEntry(time: RFC3339.format(Date().addingTimeInterval(-daysAgo * 86400)), id: id, scenario: "Annual full drill",
                          scenarioFile: "Scenarios/annual-full-drill.yml", disaster: "repository-lost", outcome: outcome,
                          rtoSeconds: 12, rpoSeconds: 60, rtoTargetSeconds: 3600, rpoTargetSeconds: 86400, lostTransactions: nil,
                          restoredFrom: "offsite", scenarioSha256: "ab", source: source, report: id, files: [:], prev: "genesis")
    }

    func writeHistory(_ dir: String, _ entries: [DrillHistoryEntry]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        let text = try entries.map { String(decoding: try enc.encode($0), as: UTF8.self) + "\n" }.joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/" + DrillArchive.historyFile))
    }

    func testConfigReadsDrillWithinAndDrillHistory() throws {
        let c = try ConfigLoader.parse("""
            defaults: { rpo: 1h, drill_within: 365d }
            drill_history: /var/lib/lifeboat/drill-reports
            sources:
              - { name: a, path: /a.db }
              - { name: b, path: /b.db, drill_within: 30d }
            """, path: "lifeboat.yml")
        XCTAssertEqual(c.drillWithin(for: "a"), 365 * 86400)
        XCTAssertEqual(c.drillWithin(for: "b"), 30 * 86400)
        XCTAssertEqual(c.drillHistory, "/var/lib/lifeboat/drill-reports")
        XCTAssertThrowsError(try ConfigLoader.parse("defaults: { drill_within: often }\n", path: "lifeboat.yml"))
    }

    func testOverdueDrillGivesExitCode20() throws {
        let sb = try Sandbox()
        let a = sb.path("a.db")
        try TestDB.create(a, rows: 100)
        let config = sb.path("lifeboat.yml"), reports = sb.path("drill-reports"), metrics = sb.path("lifeboat.prom")
        try Data("defaults: { drill_within: 365d }\ndrill_history: \(reports)\nsources:\n  - { name: a, path: \(a) }\n".utf8)
            .write(to: URL(fileURLWithPath: config))
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", "--config", config, "--quiet").status, 0)

        // Never drilled: overdue, with what to do.
        let never = try sb.lifeboat("status", "--config", config, "--json", "--metrics-file", metrics)
        XCTAssertEqual(never.status, 20, never.stderr)
        XCTAssertTrue(never.stderr.contains("no passed drill of a in \(reports) (drill_within 365d): run lifeboat drill run"), never.stderr)
        let source = try XCTUnwrap((try never.json()["sources"] as? [[String: Any]])?.first)
        XCTAssertEqual((source["drill"] as? [String: Any])?["overdue"] as? Bool, true)
        XCTAssertTrue(try String(contentsOfFile: metrics, encoding: .utf8).contains("lifeboat_drill_overdue{source=\"a\"} 1"))

        // A passed drill 10 days ago: fine; text and JSON show it.
        try writeHistory(reports, [entry("d1", source: "a", daysAgo: 10, outcome: "passed")])
        let fresh = try sb.lifeboat("status", "--config", config)
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        XCTAssertTrue(fresh.stdout.contains("last drill: "), fresh.stdout)
        XCTAssertTrue(fresh.stdout.contains("Annual full drill (Scenarios/annual-full-drill.yml): passed"), fresh.stdout)
        XCTAssertTrue(fresh.stdout.contains("drill of a: last passed"), fresh.stdout)
        let json = try sb.lifeboat("status", "--config", config, "--json", "--metrics-file", metrics).json()
        XCTAssertEqual((json["drill"] as? [String: Any]).flatMap { ($0["last"] as? [String: Any])?["outcome"] as? String }, "passed")
        let prom = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(prom.contains("lifeboat_drill_overdue{source=\"a\"} 0"), prom)
        XCTAssertTrue(prom.contains("lifeboat_drill_age_seconds{source=\"a\"} 864"), prom)

        // 400 days ago, and a newer drill that missed its target: overdue, since the old one.
        let old = entry("d0", source: "a", daysAgo: 400, outcome: "passed")
        try writeHistory(reports, [old, entry("d2", source: "a", daysAgo: 1, outcome: "target_missed"), entry("d3", source: "other", daysAgo: 1, outcome: "passed")])
        let stale = try sb.lifeboat("status", "--config", config)
        XCTAssertEqual(stale.status, 20, stale.stderr)
        XCTAssertTrue(stale.stderr.contains("no passed drill of a since \(old.time) (drill_within 365d): run lifeboat drill run Scenarios/annual-full-drill.yml"), stale.stderr)
        XCTAssertTrue(stale.stdout.contains("OVERDUE"), stale.stdout)

        // A source's own drill_within wins over the default; the flag overrides the config's history.
        try Data("defaults: { drill_within: 365d }\nsources:\n  - { name: a, path: \(a), drill_within: 500d }\n".utf8).write(to: URL(fileURLWithPath: config))
        XCTAssertEqual(try sb.lifeboat("status", "--config", config, "--drill-history", reports + "/history.jsonl").status, 0)
    }

    func testDrillSamplesNameTheScenarioAndMarkWhatWasNotAchieved() throws {
        let sb = try Sandbox()
        let file = MetricsFile(path: sb.path("m.prom"))
        try file.update(MetricsFile.drillRun(scenario: "Pages corrupted", finishedAt: Date(timeIntervalSince1970: 1_700_000_000), outcome: "passed",
                                             rtoSeconds: 1.25, rpoSeconds: 0.5, rtoTargetSeconds: 30, rpoTargetSeconds: 3))
        try file.update(MetricsFile.drillRun(scenario: "Pages corrupted", finishedAt: Date(timeIntervalSince1970: 1_700_000_100), outcome: "failed",
                                             rtoSeconds: nil, rpoSeconds: nil, rtoTargetSeconds: 30, rpoTargetSeconds: 3))
        let text = try String(contentsOfFile: sb.path("m.prom"), encoding: .utf8)
        for line in ["lifeboat_drill_last_result{scenario=\"Pages corrupted\"} -1", "lifeboat_drill_last_rto_seconds{scenario=\"Pages corrupted\"} NaN",
                     "lifeboat_drill_last_timestamp_seconds{scenario=\"Pages corrupted\"} 1700000100", "lifeboat_drill_rto_target_seconds{scenario=\"Pages corrupted\"} 30",
                     "# HELP lifeboat_drill_last_result "] {
            XCTAssertTrue(text.contains(line), "\(line) in:\n\(text)")
        }
        XCTAssertFalse(text.contains("1.250"), "the earlier drill's RTO must not stand beside the failed one")
    }
}
