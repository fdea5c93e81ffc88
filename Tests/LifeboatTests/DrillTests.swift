import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Drills end to end through the real binary: every shipped scenario, a target that cannot be
/// met, broken scenario files, read-only drills against existing repositories, history and
/// tamper detection, interruption, and reports free of secrets and database content.
final class DrillTests: XCTestCase {
    static let scenarios = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Scenarios").path

    /// Runs a drill with its own report and scratch directories; returns the CLI result and report.
    func drill(_ sb: Sandbox, _ scenario: String, env: [String: String] = [:]) throws -> (CLIResult, [String: Any]?) {
        try? FileManager.default.createDirectory(atPath: sb.path("scratch"), withIntermediateDirectories: true)
        let r = try sb.lifeboat("drill", "run", scenario, "--report-dir", sb.path("reports"), "--scratch-dir", sb.path("scratch"), env: env)
        let dirs = ((try? FileIO.listDirectory(sb.path("reports"))) ?? []).filter { !$0.hasSuffix(".jsonl") }.sorted()
        guard let last = dirs.last else { return (r, nil) }
        let json = try JSONSerialization.jsonObject(with: Data(FileIO.readFile(sb.path("reports/\(last)/report.json")))) as? [String: Any]
        return (r, json)
    }

    func scratchIsEmpty(_ sb: Sandbox) throws -> Bool {
        try FileIO.listDirectory(sb.path("scratch")).isEmpty
    }

    func targets(_ report: [String: Any]) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for t in report["targets"] as? [[String: Any]] ?? [] { out[t["measure"] as? String ?? ""] = t }
        return out
    }

    /// The checks every shipped scenario must pass; returns the report for scenario-specific ones.
    /// `replicated`: the scenario runs `replicate` instead of snapshots, so the restore replays
    /// shipped transactions and the state restored is no snapshot's (no per-table digest of it).
    func runShipped(_ name: String, replicated: Bool = false) throws -> [String: Any] {
        let sb = try Sandbox("drill-\(name)")
        let (r, report) = try drill(sb, Self.scenarios + "/\(name).yml")
        XCTAssertEqual(r.status, 0, "\(name): \(r.stdout)\n\(r.stderr)")
        let rep = try XCTUnwrap(report, "no report written")
        XCTAssertEqual(rep["outcome"] as? String, "passed")
        for file in ["report.json", "report.md", "report.html", "SHA256SUMS"] {
            let dirs = try FileIO.listDirectory(sb.path("reports")).filter { !$0.hasSuffix(".jsonl") }
            XCTAssertTrue(FileIO.fileExists(sb.path("reports/\(dirs[0])/\(file)")), file)
        }
        let rpo = try XCTUnwrap(rep["rpo"] as? [String: Any])
        XCTAssertEqual(rpo["method"] as? String, "markers", "RPO is measured from the marker transactions")
        let achieved = try XCTUnwrap(rpo["achieved_seconds"] as? Double)
        XCTAssertGreaterThanOrEqual(achieved, 0)
        XCTAssertLessThanOrEqual(achieved, 3)
        XCTAssertNotNil(rpo["lost_transactions"] as? Int)
        let rto = try XCTUnwrap(rep["rto"] as? [String: Any])
        let phases = try XCTUnwrap(rto["phases"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        for p in ["detection (damage → disaster declared)", DrillRunner.keyDerivationPhase, "find snapshot", "locate (index, page table)", "fetch", "decrypt + decompress", "write",
                  "integrity check", "swap into the production path", "application health query", "verification queries"] + (replicated ? [DrillRunner.replayPhase] : []) {
            XCTAssertTrue(phases.contains(p), "phase \(p) timed: \(phases)")
        }
        XCTAssertEqual(phases.first, "detection (damage → disaster declared)", "the RTO starts at the damage, detection included")
        if rep["strikes"] == nil {
            let total = try XCTUnwrap(rto["phases"] as? [[String: Any]]).compactMap { $0["seconds"] as? Double }.reduce(0, +)
            XCTAssertEqual(total, try XCTUnwrap(rto["achieved_seconds"] as? Double), accuracy: 0.05, "the phases account for the whole RTO")
        }
        let verifications = try XCTUnwrap(rep["verifications"] as? [[String: Any]])
        XCTAssertTrue(verifications.allSatisfy { $0["passed"] as? Bool == true })
        XCTAssertTrue(verifications.contains { $0["name"] as? String == "Transactions whole" })
        if !replicated {
            XCTAssertTrue(verifications.contains { $0["name"] as? String == "Tables as at the recovery point" }, "the data itself is compared with the source's")
        }
        let evidence = try XCTUnwrap(rep["evidence"] as? [String: Any])
        for key in ["binary_sha256", "restored_file_sha256", "scenario_sha256"] {
            XCTAssertEqual((evidence[key] as? String)?.count, 64, key)
        }
        XCTAssertFalse((evidence["sqlite_version"] as? String ?? "").isEmpty)
        // The commit Scripts/build-info recorded for this build, or a plain "unknown", never empty.
        let header = Self.scenarios + "/../Sources/CBuildInfo/build_commit.h"
        let recorded = (try? String(contentsOfFile: header, encoding: .utf8)).flatMap { $0.split(separator: "\"").dropFirst().first.map(String.init) }
        XCTAssertEqual(evidence["build_commit"] as? String, recorded ?? BuildInfo.unknownCommit)
        XCTAssertNotNil((evidence["repository_ids"] as? [String: String])?["primary"])
        let restoredFrom = (rep["restore_attempts"] as? [[String: Any]])?.last { $0["ok"] as? Bool == true }
        XCTAssertEqual(evidence["restored_snapshot"] as? String, restoredFrom?["snapshot"] as? String)
        XCTAssertTrue(r.stdout.contains("disaster declared"), "progress is shown as the drill goes")
        XCTAssertTrue(try scratchIsEmpty(sb), "the drill removes its scratch directory")
        return rep
    }

    // MARK: shipped scenarios

    func testScenarioDeleteDatabase() throws {
        let rep = try runShipped("delete-database")
        let attempts = try XCTUnwrap(rep["restore_attempts"] as? [[String: Any]])
        XCTAssertEqual(attempts.count, 1)
        XCTAssertEqual(attempts[0]["repository"] as? String, "primary")
        let snapshots = try XCTUnwrap((rep["scope"] as? [String: Any])?["snapshots"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(snapshots.count, 1)
        XCTAssertEqual(attempts[0]["snapshot"] as? String, snapshots.last?["id"] as? String, "latest means the newest snapshot")

        // Struck at three seeded points of the 1 s cycle, one in each third; the worst counts.
        let strikes = try XCTUnwrap(rep["strikes"] as? [String: Any], "the scenario is run at several strike points")
        let samples = try XCTUnwrap(strikes["samples"] as? [[String: Any]])
        XCTAssertEqual(samples.count, 3)
        let offsets = samples.compactMap { $0["offset_seconds"] as? Double }
        XCTAssertEqual(offsets, Scenario.StrikePoints.random(count: 3, seed: 1).offsets(every: 1))
        let rpos = samples.compactMap { $0["rpo_seconds"] as? Double }
        XCTAssertEqual(rpos.count, 3)
        let (lo, mid, hi) = (try XCTUnwrap(strikes["rpo_min_seconds"] as? Double), try XCTUnwrap(strikes["rpo_median_seconds"] as? Double), try XCTUnwrap(strikes["rpo_max_seconds"] as? Double))
        XCTAssertEqual([lo, mid, hi], rpos.sorted())
        XCTAssertEqual((rep["rpo"] as? [String: Any])?["achieved_seconds"] as? Double, hi, "the report's RPO is the worst case")
        XCTAssertEqual(targets(rep)["RPO"]?["achieved_seconds"] as? Double, hi)
        XCTAssertEqual(samples[try XCTUnwrap(strikes["worst_case"] as? Int)]["rpo_seconds"] as? Double, hi)
        XCTAssertEqual(Set(samples.compactMap { $0["drill_id"] as? String }).count, 3, "each point is a run of its own")
    }

    func testScenarioCorruptPages() throws {
        let rep = try runShipped("corrupt-pages")
        let details = try XCTUnwrap((rep["disaster"] as? [String: Any])?["details"] as? [String])
        XCTAssertTrue(details.contains { $0.contains("overwrote 16 of") })
        XCTAssertTrue(details.contains { $0.contains("detected") || $0.contains("silent") }, "the drill reports whether the damage is noticed")
    }

    func testScenarioDestructiveStatementRestoresToJustBeforeIt() throws {
        let rep = try runShipped("destructive-statement")
        let disaster = try XCTUnwrap(rep["disaster"] as? [String: Any])
        let struck = try XCTUnwrap(RFC3339.parse(disaster["struck_at"] as? String ?? ""))
        let attempt = try XCTUnwrap((rep["restore_attempts"] as? [[String: Any]])?.first)
        let taken = try XCTUnwrap(RFC3339.parse(attempt["snapshot_time"] as? String ?? ""))
        XCTAssertLessThan(taken, struck, "point-in-time: the snapshot predates the statement")
        let snapshots = try XCTUnwrap((rep["scope"] as? [String: Any])?["snapshots"] as? [[String: Any]])
        let after = snapshots.compactMap { RFC3339.parse($0["time"] as? String ?? "") }.filter { $0 > struck }
        XCTAssertFalse(after.isEmpty, "snapshots holding the damage exist, so 'latest' would have restored the mistake")
        let findings = try XCTUnwrap(rep["findings"] as? [String])
        XCTAssertTrue(findings.contains { $0.contains("committed after it") }, "\(findings)")

        // The transactions committed after the statement and rolled back with it count in the RPO.
        let rpo = try XCTUnwrap(rep["rpo"] as? [String: Any])
        let afterStatement = try XCTUnwrap((disaster["details"] as? [String])?.compactMap { line -> Int? in
            line.hasSuffix("transactions were committed after the statement, before it was noticed") ? Int(line.split(separator: " ")[0]) : nil
        }.first, "the disaster says how many transactions followed the statement")
        XCTAssertGreaterThan(afterStatement, 0)
        XCTAssertEqual(rpo["lost_by_choice"] as? Int, afterStatement)
        let lost = try XCTUnwrap(rpo["lost_transactions"] as? Int)
        XCTAssertEqual(lost, afterStatement + (rpo["lost_by_backup"] as? Int ?? -1))
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(rpo["achieved_seconds"] as? Double), 1.4, "the 1.5 s before the mistake was noticed are lost work")
        XCTAssertEqual(try XCTUnwrap(rpo["committed_transactions"] as? Int), try XCTUnwrap((rep["scope"] as? [String: Any]).flatMap { ($0["workload"] as? [String: Any])?["commits"] as? Int }),
                       "the load stopped when the disaster was declared")
    }

    /// Continuous replication instead of snapshots, cut off at the deletion as a crash: at the
    /// CI write rate no more than 1 s of committed work is lost.
    func testScenarioReplicateDeleteDatabaseLosesAtMostOneSecond() throws {
        let rep = try runShipped("replicate-delete-database", replicated: true)
        let rpo = try XCTUnwrap(rep["rpo"] as? [String: Any])
        let achieved = try XCTUnwrap(rpo["achieved_seconds"] as? Double)
        XCTAssertLessThanOrEqual(achieved, 1.0, "RPO within a second: \(rpo["detail"] ?? "")")
        XCTAssertLessThanOrEqual(try XCTUnwrap(targets(rep)["RPO"]?["achieved_seconds"] as? Double), 1.0)
        XCTAssertEqual(targets(rep)["RPO"]?["met"] as? Bool, true)
        // What 1 s holds at the load's rate (a span of 1 s has one commit at each end).
        let rate = try XCTUnwrap(((rep["scope"] as? [String: Any])?["workload"] as? [String: Any])?["commits_per_second_target"] as? Double)
        let lostByBackup = try XCTUnwrap(rpo["lost_by_backup"] as? Int)
        XCTAssertLessThanOrEqual(lostByBackup, Int(rate) + 1, "\(rpo["detail"] ?? "")")
        XCTAssertGreaterThan(try XCTUnwrap(rpo["committed_transactions"] as? Int), 300, "the load ran for seconds before the disaster")

        // Restored from the replicated transactions, not from a snapshot alone.
        let attempt = try XCTUnwrap((rep["restore_attempts"] as? [[String: Any]])?.first)
        XCTAssertGreaterThan(try XCTUnwrap(attempt["replayed_transactions"] as? Int), 300)
        let base = try XCTUnwrap(RFC3339.parse(attempt["snapshot_time"] as? String ?? ""))
        let state = try XCTUnwrap(RFC3339.parse(attempt["state_time"] as? String ?? ""))
        XCTAssertGreaterThan(state.timeIntervalSince(base), 3, "the state restored is seconds past replicate's first snapshot")
        XCTAssertTrue((rep["scope"] as? [String: Any])?["snapshots"].map { ($0 as? [Any])?.isEmpty == true } ?? true, "no snapshot schedule: the drill took none itself")
        let details = try XCTUnwrap((rep["disaster"] as? [String: Any])?["details"] as? [String])
        XCTAssertTrue(details.contains { $0.contains("cut off as a crash") }, "\(details)")
    }

    /// Replication stores the mistake too; the restore goes to the state just before the
    /// statement: the damage is gone and nothing committed over a second before it is lost.
    func testScenarioReplicateDestructiveStatementRestoresToTheSecondBeforeIt() throws {
        let rep = try runShipped("replicate-destructive-statement", replicated: true)
        let disaster = try XCTUnwrap(rep["disaster"] as? [String: Any])
        let struck = try XCTUnwrap(RFC3339.parse(disaster["struck_at"] as? String ?? ""))
        let rpo = try XCTUnwrap(rep["rpo"] as? [String: Any])
        if let oldest = (rpo["oldest_lost_by_backup"] as? String).flatMap(RFC3339.parse) {
            XCTAssertGreaterThanOrEqual(oldest, struck.addingTimeInterval(-1), "no transaction committed more than 1 s before the statement is lost: \(rpo["detail"] ?? "")")
        }
        let lostByBackup = try XCTUnwrap(rpo["lost_by_backup"] as? Int)
        XCTAssertLessThanOrEqual(lostByBackup, 100, "at most a second's worth at 100/s before the statement")
        let restored = try XCTUnwrap(RFC3339.parse(rpo["newest_restored"] as? String ?? ""))
        XCTAssertLessThan(restored, struck)
        XCTAssertGreaterThan(restored, struck.addingTimeInterval(-1), "restored to within the second before the statement")

        // The state restored predates the statement, and is past the lineage's first snapshot.
        let attempt = try XCTUnwrap((rep["restore_attempts"] as? [[String: Any]])?.first)
        let state = try XCTUnwrap(RFC3339.parse(attempt["state_time"] as? String ?? ""))
        XCTAssertLessThan(state, struck)
        XCTAssertGreaterThan(try XCTUnwrap(attempt["replayed_transactions"] as? Int), 0)

        // The damage is absent: the comments are all back.
        let verifications = try XCTUnwrap(rep["verifications"] as? [[String: Any]])
        let back = try XCTUnwrap(verifications.first { $0["name"] as? String == "the deleted comments are back" })
        XCTAssertEqual(back["passed"] as? Bool, true)
        XCTAssertNotEqual(back["actual"] as? String, "0")

        // The work after the statement is rolled back on purpose and counted as such.
        let afterStatement = try XCTUnwrap((disaster["details"] as? [String])?.compactMap { line -> Int? in
            line.hasSuffix("transactions were committed after the statement, before it was noticed") ? Int(line.split(separator: " ")[0]) : nil
        }.first)
        XCTAssertEqual(rpo["lost_by_choice"] as? Int, afterStatement)
        XCTAssertEqual(try XCTUnwrap(rpo["lost_transactions"] as? Int), afterStatement + lostByBackup)
    }

    func testReplicateStepIsCheckedAtLoad() throws {
        let replicating = Self.valid.replacingOccurrences(of: "  - snapshot\n", with: "  - workload: {rate: 10}\n  - replicate: {interval: 500ms}\n")
        XCTAssertEqual(parseError(replicating), "no error")
        let s = try ScenarioLoader.parse(replicating, file: "s.yml")
        XCTAssertEqual(s.replication, Scenario.Replicate(interval: 0.5, snapshotInterval: 0))
        XCTAssertEqual(try ScenarioLoader.parse(Self.valid.replacingOccurrences(of: "  - snapshot\n", with: "  - replicate\n"), file: "s.yml").replication, Scenario.Replicate())
        let cases: [(String, String, String)] = [
            (replicating.replacingOccurrences(of: "size: 256KiB", with: "size: 256KiB, journal: delete"), "line 7", "replicate follows the WAL"),
            (replicating.replacingOccurrences(of: "interval: 500ms", with: "interval: 10ms"), "line 7", "at least 50ms"),
            (replicating.replacingOccurrences(of: "interval: 500ms", with: "every: 1s"), "line 7", "unknown key 'every'"),
            (replicating.replacingOccurrences(of: "location: scratch", with: "location: /srv/lifeboat"), "line 7", "only to scratch repositories"),
            (replicating.replacingOccurrences(of: "  - disaster: delete-database", with: "  - replicate\n  - disaster: delete-database"), "line 7", "at most one replicate step"),
        ]
        for (text, line, message) in cases {
            let error = parseError(text)
            XCTAssertTrue(error.hasPrefix("s.yml \(line):"), "expected \(line) in: \(error)")
            XCTAssertTrue(error.contains(message), "expected '\(message)' in: \(error)")
        }
    }

    func testStrikeDuringASnapshotCountsFromTheLastCompletedOne() throws {
        let sb = try Sandbox()
        let file = sb.path("during.yml")
        try """
            name: Strike during a snapshot
            source: {generate: {size: 8MiB, seed: 11}}
            repositories: [{name: primary, location: scratch}, {name: offsite, location: scratch, replica_of: primary}]
            targets: {rto: 1m, rpo: 1m}
            steps:
              - workload: {rate: 100}
              - snapshot
              - snapshot_schedule: {every: 200ms}
              - wait: 700ms
              - disaster: {kind: delete-database, strike: during-snapshot}
              - restore: {from: offsite}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let (r, report) = try drill(sb, file)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let rep = try XCTUnwrap(report)
        let disaster = try XCTUnwrap(rep["disaster"] as? [String: Any])
        let details = try XCTUnwrap(disaster["details"] as? [String])
        XCTAssertTrue(details.contains { $0.contains("cut off before") }, "\(details)")
        let struck = try XCTUnwrap(RFC3339.parse(disaster["struck_at"] as? String ?? ""))
        let attempt = try XCTUnwrap((rep["restore_attempts"] as? [[String: Any]])?.first)
        let snapshots = try XCTUnwrap((rep["scope"] as? [String: Any])?["snapshots"] as? [[String: Any]])
        let restored = try XCTUnwrap(snapshots.first { $0["id"] as? String == attempt["snapshot"] as? String })
        let began = try XCTUnwrap(RFC3339.parse(restored["time"] as? String ?? ""))
        let committed = try XCTUnwrap(RFC3339.parse(restored["committed_at"] as? String ?? ""))
        XCTAssertLessThanOrEqual(committed, struck, "the restored snapshot committed before the strike; the one in flight does not count")
        XCTAssertTrue(snapshots.allSatisfy { (RFC3339.parse($0["committed_at"] as? String ?? "") ?? .distantFuture) <= struck },
                      "no snapshot that began its commit after the strike is listed")
        XCTAssertEqual(restored["replicated_to"] as? [String], ["offsite"])
        let rpo = try XCTUnwrap(rep["rpo"] as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(rpo["lost_transactions"] as? Int), 0)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(rpo["achieved_seconds"] as? Double), struck.timeIntervalSince(began) - 0.05,
                                    "everything committed since the last completed snapshot began is lost")
    }

    func testAnRPOQueryThatMissesInsertsIsFlaggedBesideTheMarkerCount() throws {
        let sb = try Sandbox()
        let file = sb.path("standin.yml")
        // created_at of requests does not move when the load commits: a stand-in that sees nothing.
        try """
            name: Stand-in RPO query
            source: {generate: {size: 256KiB}, rpo_query: SELECT max(created_at) FROM requests, rpo_unit: ms}
            repositories: [{name: primary, location: scratch}]
            targets: {rto: 1m, rpo: 1m}
            steps:
              - workload: {rate: 200}
              - snapshot
              - wait: 600ms
              - disaster: delete-database
              - restore: latest
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let (r, report) = try drill(sb, file)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let rep = try XCTUnwrap(report)
        let rpo = try XCTUnwrap(rep["rpo"] as? [String: Any])
        XCTAssertEqual(rpo["method"] as? String, "markers", "the marker count is the measure")
        XCTAssertGreaterThan(try XCTUnwrap(rpo["lost_transactions"] as? Int), 0)
        XCTAssertGreaterThan(try XCTUnwrap(rpo["achieved_seconds"] as? Double), 0.3)
        let estimate = try XCTUnwrap(rpo["estimate"] as? [String: Any], "rpo_query is reported beside it")
        XCTAssertEqual(estimate["seconds"] as? Double, 0)
        XCTAssertTrue((rep["findings"] as? [String] ?? []).contains { $0.contains("rpo_query estimated 0 ms") && $0.contains("do not use it alone") },
                      "\(rep["findings"] ?? "")")
    }

    func testScenarioRepositoryLostRecoversFromReplica() throws {
        let rep = try runShipped("repository-lost")
        let attempts = try XCTUnwrap(rep["restore_attempts"] as? [[String: Any]])
        XCTAssertEqual(attempts.map { $0["repository"] as? String }, ["primary", "offsite"])
        XCTAssertEqual(attempts[0]["ok"] as? Bool, false)
        XCTAssertEqual(attempts[1]["ok"] as? Bool, true)
        let repos = try XCTUnwrap((rep["scope"] as? [String: Any])?["repositories"] as? [[String: Any]])
        XCTAssertTrue((repos[0]["state_after_disaster"] as? String ?? "").contains("destroyed"))
    }

    func testScenarioRansomwareRecoversFromReplicaAndFlagsDeleteRights() throws {
        let rep = try runShipped("ransomware")
        let attempts = try XCTUnwrap(rep["restore_attempts"] as? [[String: Any]])
        XCTAssertEqual(attempts.last?["repository"] as? String, "offsite")
        XCTAssertEqual(attempts.last?["ok"] as? Bool, true)
        XCTAssertEqual((rep["scope"] as? [String: Any])?["journal_mode"] as? String, "delete")
        let findings = try XCTUnwrap(rep["findings"] as? [String])
        XCTAssertTrue(findings.contains { $0.contains("write-only credentials") })
    }

    func testShippedAnnualScenarioIsValid() throws {
        let s = try ScenarioLoader.load(path: Self.scenarios + "/annual-full-drill.yml")
        XCTAssertFalse(s.source.isDrillOwned, "the annual drill reads the live database only")
        XCTAssertTrue(s.repositories.allSatisfy { !$0.isScratch })
        XCTAssertEqual(s.targets.rto, 4 * 3600)
        XCTAssertNotNil(s.source.rpoQuery)
        // Every CI scenario is one per disaster kind.
        let kinds = try FileIO.listDirectory(Self.scenarios).filter { $0.hasSuffix(".yml") }
            .compactMap { try ScenarioLoader.load(path: Self.scenarios + "/" + $0).disaster?.kind }
        XCTAssertEqual(Set(kinds), Set(Scenario.DisasterKind.allCases))
    }

    func testTableDigestsTellTheSameRowsWithOtherContent() throws {
        let sb = try Sandbox()
        let path = sb.path("t.db")
        _ = try ProcessDatabaseGenerator(options: .init(targetBytes: 256 << 10, seed: 3)).generate(at: path)
        let db = try SQLiteConnection(path: path)
        let before = try DrillTables.digest(db)
        XCTAssertTrue(DrillTables.differences(expected: before, actual: try DrillTables.digest(db)).isEmpty)
        try db.execute("UPDATE requests SET updated_at = updated_at + 1 WHERE id = 1")
        let changed = DrillTables.differences(expected: before, actual: try DrillTables.digest(db))
        XCTAssertEqual(changed, ["requests: same \(before.first { $0.table == "requests" }?.rows ?? -1) rows, different content"])
        try db.execute("DELETE FROM comments WHERE id IN (SELECT id FROM comments LIMIT 1)")
        XCTAssertTrue(DrillTables.differences(expected: before, actual: try DrillTables.digest(db)).contains { $0.hasPrefix("comments: ") && $0.contains("rows, expected") })
    }

    func testShippedAnnualScenarioStopsBeforeStartingAndSaysWhatToEdit() throws {
        let sb = try Sandbox()
        let (r, report) = try drill(sb, Self.scenarios + "/annual-full-drill.yml")
        XCTAssertEqual(r.status, 64, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("source.live /var/lib/bpm/process.db") && r.stderr.contains("edit source.live"), r.stderr)
        XCTAssertTrue(r.stderr.contains("repository 'offsite'") && r.stderr.contains("edit its location"), r.stderr)
        XCTAssertNil(report, "no failed report is filed for a drill that never started")
    }

    // MARK: a target that cannot be met

    func testUnmeetableTargetExitsWithTargetMissedAndTheReportSaysWhy() throws {
        let sb = try Sandbox()
        let file = sb.path("tight.yml")
        try """
            name: Impossible RPO
            source: {generate: {size: 256KiB}}
            repositories: [{name: primary, location: scratch}]
            targets: {rto: 1ms, rpo: 1ms}
            steps:
              - workload: {rate: 200}
              - snapshot
              - wait: 600ms
              - disaster: delete-database
              - restore: latest
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let (r, report) = try drill(sb, file)
        XCTAssertEqual(r.status, 20, r.stderr)
        XCTAssertTrue(r.stderr.contains("target missed"), r.stderr)
        let rep = try XCTUnwrap(report)
        XCTAssertEqual(rep["outcome"] as? String, "target_missed")
        let t = targets(rep)
        XCTAssertEqual(t["RPO"]?["met"] as? Bool, false)
        XCTAssertEqual(t["RTO"]?["met"] as? Bool, false)
        XCTAssertEqual(t["Recovery verified"]?["met"] as? Bool, true, "the restore itself worked")
        XCTAssertTrue((t["RPO"]?["detail"] as? String ?? "").contains("over the target"))
        let findings = try XCTUnwrap(rep["findings"] as? [String])
        XCTAssertTrue(findings.contains { $0.contains("RPO target missed") }, "\(findings)")
        XCTAssertTrue(findings.contains { $0.contains("slowest phase") }, "\(findings)")
        XCTAssertGreaterThan(rep["rpo"].flatMap { ($0 as? [String: Any])?["lost_transactions"] as? Int } ?? 0, 0)
        let md = try String(contentsOfFile: try XCTUnwrap(try FileIO.listDirectory(sb.path("reports")).filter { !$0.hasSuffix(".jsonl") }.first.map { sb.path("reports/\($0)/report.md") }), encoding: .utf8)
        XCTAssertTrue(md.contains("TARGET MISSED"))
        XCTAssertTrue(md.contains("❌ missed"))
    }

    func testRecoveryImpossibleIsTargetMissedNotACrash() throws {
        let sb = try Sandbox()
        let file = sb.path("no-replica.yml")
        try """
            name: No replica
            source: {generate: {size: 256KiB}}
            repositories: [{name: primary, location: scratch}]
            targets: {rto: 1m, rpo: 1m}
            steps:
              - snapshot
              - disaster: {kind: repository-lost}
              - restore: latest
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let (r, report) = try drill(sb, file)
        XCTAssertEqual(r.status, 20, r.stderr)
        let rep = try XCTUnwrap(report)
        XCTAssertEqual(targets(rep)["Recovery verified"]?["met"] as? Bool, false)
        XCTAssertTrue((rep["findings"] as? [String] ?? []).contains { $0.contains("No repository could restore") })
        XCTAssertTrue(try scratchIsEmpty(sb))
    }

    func testARecoveryNoCheckLookedAtIsNotCalledVerified() throws {
        let sb = try Sandbox()
        let live = sb.path("live.db")
        _ = try ProcessDatabaseGenerator(options: .init(targetBytes: 256 << 10, seed: 2)).generate(at: live)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", live, "--source", "process.db").status, 0)
        let file = sb.path("unchecked.yml")
        try """
            name: Restore nobody checks
            source: {live: \(live), name: process.db}
            repositories: [{name: nas, location: \(sb.repo)}]
            targets: {rto: 1m, rpo: 1d}
            steps:
              - disaster: delete-database
              - restore: latest
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let (r, report) = try drill(sb, file)
        XCTAssertEqual(r.status, 20, r.stdout + r.stderr)
        let verified = try XCTUnwrap(targets(try XCTUnwrap(report))["Recovery verified"])
        XCTAssertEqual(verified["met"] as? Bool, false)
        XCTAssertEqual(verified["achieved"] as? String, "no check ran", "\((report?["restore_attempts"] as? [[String: Any]])?.first?["error"] ?? "")")
    }

    // MARK: broken scenario files

    func parseError(_ text: String) -> String {
        do {
            _ = try ScenarioLoader.parse(text, file: "s.yml")
            return "no error"
        } catch let e as LifeboatError {
            XCTAssertEqual(e.kind, .usage)
            return e.message
        } catch {
            return "\(error)"
        }
    }

    static let valid = """
        name: ok
        source: {generate: {size: 256KiB}}
        repositories: [{name: primary, location: scratch}]
        targets: {rto: 1m, rpo: 1m}
        steps:
          - snapshot
          - disaster: delete-database
          - restore: latest
        """

    func testBrokenScenarioErrorsNameTheLine() throws {
        XCTAssertEqual(parseError(Self.valid), "no error")
        let cases: [(String, String, String)] = [
            (Self.valid.replacingOccurrences(of: "targets: {rto: 1m, rpo: 1m}", with: "targets: {rto: 1m, rpo: soon}"), "line 4", "cannot read duration 'soon'"),
            (Self.valid.replacingOccurrences(of: "  - disaster: delete-database", with: "  - disaster: flood"), "line 7", "disaster kind must be one of"),
            (Self.valid.replacingOccurrences(of: "  - snapshot\n", with: "  - snapshots: {}\n"), "line 6", "did you mean 'snapshot'"),
            (Self.valid.replacingOccurrences(of: "name: ok", with: "name: ok\nrto_target: 5m"), "line 2", "unknown key 'rto_target'"),
            (Self.valid.replacingOccurrences(of: "  - restore: latest", with: "\t- restore: latest"), "line 8", "tab"),
            (Self.valid.replacingOccurrences(of: "  - restore: latest", with: "    - restore: latest"), "line 8", "indentation"),
            (Self.valid.replacingOccurrences(of: "repositories: [{name: primary, location: scratch}]", with: "repositories: [{name: primary, location: scratch, password: hunter2}]"), "line 3", "secrets never go in scenario files"),
            (Self.valid.replacingOccurrences(of: "  - disaster: delete-database\n  - restore: latest", with: "  - restore: latest\n  - disaster: delete-database"), "line 7", "restore step must come after the disaster"),
            (Self.valid.replacingOccurrences(of: "name: ok", with: "name: 'ok"), "line 1", "not closed"),
            (Self.valid.replacingOccurrences(of: "  - disaster: delete-database", with: "  - disaster: {kind: destructive-statement}"), "line 7", "needs 'statement:'"),
            (Self.valid.replacingOccurrences(of: "  - restore: latest", with: "  - restore: {from: tape}"), "line 8", "'tape' is not one of"),
        ]
        for (text, line, message) in cases {
            let error = parseError(text)
            XCTAssertTrue(error.hasPrefix("s.yml \(line):"), "expected \(line) in: \(error)")
            XCTAssertTrue(error.contains(message), "expected '\(message)' in: \(error)")
            XCTAssertFalse(error.contains("\n"), "one line")
        }
    }

    func testBrokenScenarioThroughTheCLIExitsWithUsageAndNamesTheLine() throws {
        let sb = try Sandbox()
        let file = sb.path("broken.yml")
        try Self.valid.replacingOccurrences(of: "targets: {rto: 1m, rpo: 1m}", with: "targets:\n  rto: 1m\n  rpoo: 1m").write(toFile: file, atomically: true, encoding: .utf8)
        let r = try sb.lifeboat("drill", "run", file, "--report-dir", sb.path("reports"))
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("broken.yml line 6: unknown key 'rpoo' in targets (did you mean 'rpo'?)"), r.stderr)
        XCTAssertFalse(FileIO.fileExists(sb.path("reports/history.jsonl")), "nothing ran, nothing recorded")
    }

    /// Scenarios are read with Yams, through the YAML helper the config file uses too.
    func testScenarioYAMLThroughTheSharedReader() throws {
        let doc = try YAMLDocument("""
            # comment
            a: plain text # trailing comment
            b: "quoted: # not a comment"
            c: 'it''s'
            d: {x: 1, y: [2, 3]}
            e: |
              line one
                indented
              line three
            f: >
              folded
              text
            g:
              - one
              - k: v
                m: n
            """, path: "t.yml")
        let entries = try doc.entries(try XCTUnwrap(doc.root?.mapping, "not a mapping"))
        func text(_ key: String) -> String? { entries.first { $0.key == key }?.value.scalar?.string }
        XCTAssertEqual(text("a"), "plain text")
        XCTAssertEqual(text("b"), "quoted: # not a comment")
        XCTAssertEqual(text("c"), "it's")
        XCTAssertEqual(text("e"), "line one\n  indented\nline three\n")
        XCTAssertEqual(text("f"), "folded text\n")
        XCTAssertEqual(entries.first { $0.key == "g" }.map { YAMLDocument.line($0.keyNode) }, 13)
        let g = try XCTUnwrap(entries.first { $0.key == "g" }?.value.sequence, "g is not a list")
        XCTAssertEqual(g.count, 2)
        XCTAssertEqual(try doc.entries(try XCTUnwrap(g[1].mapping)).map(\.key), ["k", "m"])
        XCTAssertEqual(YAMLDocument.line(g[1]), 15)
        let d = try doc.entries(try XCTUnwrap(entries.first { $0.key == "d" }?.value.mapping, "d"))
        XCTAssertEqual(d[1].value.sequence?.count, 2)

        // What YAML allows and a scenario must not: a key given twice, which one would win being a guess.
        XCTAssertTrue(parseError(Self.valid.replacingOccurrences(of: "name: ok", with: "name: ok\nname: other"))
            .hasPrefix("s.yml line 2: 'name' is set twice (first at line 1)"))
        XCTAssertTrue(parseError("").hasPrefix("s.yml line 1: the file is empty"))
    }

    // MARK: scratch replicas

    /// A drill fills its replicas as `lifeboat sync` does: an object whose bytes do not match
    /// its name is reported, not copied, so a replica never inherits damage silently.
    func testReplicaCopiesAreCheckedAgainstTheirNames() throws {
        let sb = try Sandbox()
        let scenario = try ScenarioLoader.parse(Self.valid, file: "s.yml")
        let runner = DrillRunner(scenario: scenario, options: .init(scratchParent: sb.path("")))
        func scratch(_ name: String, replicaOf: String?) -> DrillRepository {
            DrillRepository(spec: .init(name: name, location: nil, replicaOf: replicaOf, passwordPrefix: "LIFEBOAT", line: 1),
                            backend: DrillBackend(LocalBackend(path: sb.path(name)), readOnly: false), directory: sb.path(name))
        }
        let primary = scratch("primary", replicaOf: nil), replica = scratch("offsite", replicaOf: "primary")
        _ = try Repository.initialize(backend: primary.backend, passphrase: try SecretBytes.random(count: 32))
        try runner.replicate(primary, to: replica)
        XCTAssertEqual(try replica.backend.get(.config), try primary.backend.get(.config), "a sound repository is copied whole")

        let damaged = ObjectKey(.data, String(repeating: "ab", count: 32))
        try primary.backend.put(damaged, [1, 2, 3])
        XCTAssertThrowsError(try runner.replicate(primary, to: replica)) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .corrupt)
            XCTAssertTrue((error as? LifeboatError)?.message.contains(damaged.path) == true, "\(error)")
        }
        XCTAssertNil(try replica.backend.stat(damaged), "the damaged object was not copied")
    }

    // MARK: existing repositories are only read

    func testDrillAgainstExistingRepositoriesNeverWritesToThemOrTheLiveDatabase() throws {
        let sb = try Sandbox()
        let live = sb.path("live.db")
        _ = try ProcessDatabaseGenerator(options: .init(targetBytes: 1 << 20, seed: 9)).generate(at: live)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", live, "--source", "process.db").status, 0)
        try FileManager.default.copyItem(atPath: sb.repo, toPath: sb.path("offsite"))
        let before = try fingerprint([sb.repo, sb.path("offsite"), live])

        let file = sb.path("annual.yml")
        let text = try String(contentsOfFile: Self.scenarios + "/annual-full-drill.yml", encoding: .utf8)
            .replacingOccurrences(of: "/var/lib/bpm/process.db", with: live)
            .replacingOccurrences(of: "/srv/lifeboat/primary", with: sb.repo)
            .replacingOccurrences(of: "/mnt/offsite/lifeboat", with: sb.path("offsite"))
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let (r, report) = try drill(sb, file, env: ["LIFEBOAT_OFFSITE_PASSWORD_FILE": sb.passwordFile])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let rep = try XCTUnwrap(report)
        let attempts = try XCTUnwrap(rep["restore_attempts"] as? [[String: Any]])
        XCTAssertEqual(attempts.first?["ok"] as? Bool, false, "the primary's loss is simulated")
        XCTAssertTrue((attempts.first?["error"] as? String ?? "").contains("unreachable"))
        XCTAssertEqual(attempts.last?["repository"] as? String, "offsite")
        XCTAssertEqual((rep["rpo"] as? [String: Any])?["method"] as? String, "rpo_query_estimate", "without a write load the RPO is labelled an estimate")
        XCTAssertTrue((rep["findings"] as? [String] ?? []).contains { $0.contains("not a count of committed work lost") })
        XCTAssertEqual((rep["verifications"] as? [[String: Any]])?.map { $0["name"] as? String ?? "" }.filter { $0 == "SQLite integrity" || $0 == "Page checksums" }, [],
                       "no check that cannot fail: the restore itself fails when integrity_check does")
        XCTAssertEqual((rep["verifications"] as? [[String: Any]])?.count, 5)
        XCTAssertEqual(try fingerprint([sb.repo, sb.path("offsite"), live]).filter { !$0.key.contains("/audit/") },
                       before.filter { !$0.key.contains("/audit/") }, "repositories and the live database are unchanged")
        for repo in [sb.repo, sb.path("offsite")] {
            XCTAssertEqual(try fingerprint([repo]).keys.filter { $0.contains("/audit/") }.count,
                           before.keys.filter { $0.hasPrefix(repo + "/") && $0.contains("/audit/") }.count + 1,
                           "the one write: the drill's record in \(repo)'s audit trail")
        }
        XCTAssertTrue(r.stdout.contains("drill recorded in the audit trail of 'offsite'"), r.stdout)
        XCTAssertTrue(try scratchIsEmpty(sb))
    }

    /// Whoever can rewrite the report directory and the anchor file cannot make a drill vanish:
    /// its record is in the repository's audit trail, and `history --verify --repo` names it.
    func testADeletedLastDrillIsCaughtByTheRepositoryAuditTrail() throws {
        let sb = try Sandbox()
        let live = sb.path("live.db")
        _ = try ProcessDatabaseGenerator(options: .init(targetBytes: 256 << 10, seed: 9)).generate(at: live)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", live, "--source", "process.db").status, 0)
        let file = sb.path("existing.yml")
        try """
            name: existing repository
            source: {name: process.db, live: \(live)}
            repositories: [{name: primary, location: \(sb.repo)}]
            targets: {rto: 1m, rpo: 1d}
            steps:
              - disaster: delete-database
              - restore: latest
              - verify: {queries: [{name: requests, sql: SELECT count(*) FROM requests, expect: "> 0"}]}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        for _ in 0..<2 { XCTAssertEqual(try drill(sb, file).0.status, 0) }
        let verify = { (repo: Bool) in
            try sb.lifeboat(["drill", "history", "--report-dir", sb.path("reports"), "--verify"] + (repo ? ["--repo", sb.repo] : []))
        }
        let whole = try verify(true)
        XCTAssertEqual(whole.status, 0, whole.stderr)
        XCTAssertTrue(whole.stdout.contains("and the audit trail of \(sb.repo)"), whole.stdout)

        // Drop the last drill (line and directory) and the anchor's record of it.
        let history = sb.path("reports/history.jsonl")
        let lines = try String(contentsOfFile: history, encoding: .utf8).split(separator: "\n").map(String.init)
        let last = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        let (lastID, lastDir) = (try XCTUnwrap(last["id"] as? String), try XCTUnwrap(last["report"] as? String))
        try FileManager.default.removeItem(atPath: sb.path("reports/\(lastDir)"))
        try (lines[0] + "\n").write(toFile: history, atomically: true, encoding: .utf8)
        let anchor = sb.path("drill-anchors.jsonl")
        let anchored = try String(contentsOfFile: anchor, encoding: .utf8).split(separator: "\n").map(String.init)
        try (anchored.dropLast().joined(separator: "\n") + "\n").write(toFile: anchor, atomically: true, encoding: .utf8)
        XCTAssertEqual(try verify(false).status, 0, "the report directory and the anchor alone agree: the rewrite is invisible there")
        let caught = try verify(true)
        XCTAssertEqual(caught.status, 13, caught.stdout)
        XCTAssertTrue(caught.stderr.contains("drill \(lastID)") && caught.stderr.contains("missing from the history"), caught.stderr)
    }

    func testScenarioRulesKeepDrillsAwayFromLiveData() throws {
        let live = Self.valid.replacingOccurrences(of: "source: {generate: {size: 256KiB}}", with: "source: {live: /data/x.db}")
        XCTAssertTrue(parseError(live.replacingOccurrences(of: "  - snapshot\n", with: "  - workload: {rate: 10}\n")).contains("never written by a drill"))
        XCTAssertTrue(parseError(live.replacingOccurrences(of: "disaster: delete-database", with: "disaster: ransomware")).contains("needs source generate or copy"))
        let existing = Self.valid.replacingOccurrences(of: "location: scratch", with: "location: /srv/backups")
        XCTAssertTrue(parseError(existing).contains("never writes to an existing repository"), parseError(existing))
    }

    /// Sizes and SHA-256 of every file below the paths.
    func fingerprint(_ paths: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for p in paths {
            if try FileIO.status(p)?.isRegularFile == true { out[p] = SHA256.hex(try FileIO.readFile(p)); continue }
            for f in FileManager.default.enumerator(atPath: p)?.allObjects as? [String] ?? [] {
                if try FileIO.status(p + "/" + f)?.isRegularFile == true { out[p + "/" + f] = SHA256.hex(try FileIO.readFile(p + "/" + f)) }
            }
        }
        return out
    }

    // MARK: history, tamper evidence

    func testHistoryShowsTheTrendAndVerifyDetectsTampering() throws {
        let sb = try Sandbox()
        let file = sb.path("quick.yml")
        try Self.valid.write(toFile: file, atomically: true, encoding: .utf8)
        for _ in 0..<2 { XCTAssertEqual(try drill(sb, file).0.status, 0) }
        let list = try sb.lifeboat("drill", "history", "--report-dir", sb.path("reports"), "--json")
        XCTAssertEqual(list.status, 0, list.stderr)
        let drills = try XCTUnwrap(try list.json()["drills"] as? [[String: Any]])
        XCTAssertEqual(drills.count, 2)
        XCTAssertTrue(drills.allSatisfy { $0["rto_seconds"] is Double && $0["rpo_seconds"] is Double })
        XCTAssertEqual(drills[0]["prev"] as? String, "genesis")
        let text = try sb.lifeboat("drill", "history", "--report-dir", sb.path("reports"), "--verify")
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("2 drill(s)"))
        XCTAssertTrue(text.stdout.contains("history verified"))
        // The second report's HTML carries the trend chart of both drills.
        let second = try XCTUnwrap(drills[1]["report"] as? String)
        let html = try String(contentsOfFile: sb.path("reports/\(second)/report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("RTO per drill"))
        XCTAssertTrue(html.contains("aria-label=\"drill timeline\""))
        XCTAssertFalse(html.contains("<script"), "self-contained, no scripts")

        // Edit a report: detected, and the file is named.
        let md = sb.path("reports/\(second)/report.md")
        try (String(contentsOfFile: md, encoding: .utf8).replacingOccurrences(of: "PASSED", with: "PASSED!")).write(toFile: md, atomically: true, encoding: .utf8)
        let tampered = try sb.lifeboat("drill", "history", "--report-dir", sb.path("reports"), "--verify")
        XCTAssertEqual(tampered.status, 13)
        XCTAssertTrue(tampered.stderr.contains("\(second)/report.md was changed"), tampered.stderr)

        // Edit the first history line: the chain breaks at the second.
        let history = sb.path("reports/history.jsonl")
        var lines = try String(contentsOfFile: history, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[0] = lines[0].replacingOccurrences(of: "\"outcome\":\"passed\"", with: "\"outcome\":\"target_missed\"")
        try (lines.joined(separator: "\n") + "\n").write(toFile: history, atomically: true, encoding: .utf8)
        let broken = try sb.lifeboat("drill", "history", "--report-dir", sb.path("reports"), "--verify")
        XCTAssertEqual(broken.status, 13)
        XCTAssertTrue(broken.stderr.contains("history line 2"), broken.stderr)
    }

    func testHistoryAnchorDetectsADroppedLastDrillAndARechainedReport() throws {
        let sb = try Sandbox()
        let file = sb.path("quick.yml")
        try Self.valid.write(toFile: file, atomically: true, encoding: .utf8)
        for _ in 0..<2 { XCTAssertEqual(try drill(sb, file).0.status, 0) }
        let verify = { try sb.lifeboat("drill", "history", "--report-dir", sb.path("reports"), "--verify") }
        XCTAssertEqual(try verify().status, 0)
        let history = sb.path("reports/history.jsonl")
        let original = try String(contentsOfFile: history, encoding: .utf8)
        var lines = original.split(separator: "\n").map(String.init)
        let last = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])?["report"] as? String)

        // Drop the last drill, line and directory: the local chain is whole, the anchor is not.
        try FileManager.default.moveItem(atPath: sb.path("reports/\(last)"), toPath: sb.path("kept"))
        try (lines[0] + "\n").write(toFile: history, atomically: true, encoding: .utf8)
        let dropped = try verify()
        XCTAssertEqual(dropped.status, 13, dropped.stdout)
        XCTAssertTrue(dropped.stderr.contains("drills were removed"), dropped.stderr)
        try FileManager.default.moveItem(atPath: sb.path("kept"), toPath: sb.path("reports/\(last)"))
        try original.write(toFile: history, atomically: true, encoding: .utf8)
        XCTAssertEqual(try verify().status, 0, "put back, it verifies again")

        // Edit report.json, recompute SHA256SUMS and the history's hash: only the anchor tells.
        let json = sb.path("reports/\(last)/report.json")
        let edited = Array(try String(contentsOfFile: json, encoding: .utf8).replacingOccurrences(of: "\"passed\"", with: "\"target_missed\"").utf8)
        try Data(edited).write(to: URL(fileURLWithPath: json))
        let sums = sb.path("reports/\(last)/SHA256SUMS")
        let oldSHA = try XCTUnwrap(try String(contentsOfFile: sums, encoding: .utf8).split(separator: "\n").first { $0.hasSuffix("report.json") }?.split(separator: " ").first.map(String.init))
        XCTAssertNotEqual(oldSHA, SHA256.hex(edited), "the report was edited")
        try String(contentsOfFile: sums, encoding: .utf8).replacingOccurrences(of: oldSHA, with: SHA256.hex(edited)).write(toFile: sums, atomically: true, encoding: .utf8)
        lines[1] = lines[1].replacingOccurrences(of: oldSHA, with: SHA256.hex(edited))
        try (lines.joined(separator: "\n") + "\n").write(toFile: history, atomically: true, encoding: .utf8)
        let rewritten = try verify()
        XCTAssertEqual(rewritten.status, 13, rewritten.stdout)
        XCTAssertTrue(rewritten.stderr.contains("history line 2") && rewritten.stderr.contains("the history was rewritten"), rewritten.stderr)
        XCTAssertFalse(rewritten.stderr.contains("was changed after the drill"), "the local chain alone is fooled: \(rewritten.stderr)")
    }

    func testSignedReportsVerifyAgainstTheirKeyOnly() throws {
        let sb = try Sandbox()
        let key = sb.path("drill-key")
        XCTAssertEqual(try sb.lifeboat("drill", "keygen", key).status, 0)
        XCTAssertEqual(try XCTUnwrap(try FileIO.status(key)).mode & 0o777, 0o600)
        XCTAssertEqual(try sb.lifeboat("drill", "keygen", sb.path("other")).status, 0)
        let file = sb.path("quick.yml")
        try Self.valid.write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: sb.path("scratch"), withIntermediateDirectories: true)
        let r = try sb.lifeboat("drill", "run", file, "--report-dir", sb.path("reports"), "--scratch-dir", sb.path("scratch"), "--sign-key", key)
        XCTAssertEqual(r.status, 0, r.stderr)
        let dir = try XCTUnwrap(try FileIO.listDirectory(sb.path("reports")).first { !$0.hasSuffix(".jsonl") })
        let json = sb.path("reports/\(dir)/report.json")
        XCTAssertTrue(try String(contentsOfFile: sb.path("reports/\(dir)/SHA256SUMS"), encoding: .utf8).contains("report.json.sig"))
        let good = try sb.lifeboat("drill", "verify-report", json, "--key", key + ".pub")
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertTrue(good.stdout.contains("signature valid"))
        let wrongKey = try sb.lifeboat("drill", "verify-report", json, "--key", sb.path("other.pub"))
        XCTAssertEqual(wrongKey.status, 13)
        XCTAssertTrue(wrongKey.stderr.contains("another key"), wrongKey.stderr)
        try (String(contentsOfFile: json, encoding: .utf8).replacingOccurrences(of: "\"passed\"", with: "\"target_missed\"")).write(toFile: json, atomically: true, encoding: .utf8)
        let changed = try sb.lifeboat("drill", "verify-report", json, "--key", key + ".pub")
        XCTAssertEqual(changed.status, 13)
        XCTAssertTrue(changed.stderr.contains("changed after it was signed"), changed.stderr)
        try FileManager.default.removeItem(atPath: sb.path("reports/\(dir)/report.json.sig"))
        XCTAssertTrue(try sb.lifeboat("drill", "verify-report", json, "--key", key + ".pub").stderr.contains("not signed"))
        // A private key others can read is refused before the drill starts.
        chmod(key, 0o644)
        let loose = try sb.lifeboat("drill", "run", file, "--report-dir", sb.path("reports2"), "--scratch-dir", sb.path("scratch"), "--sign-key", key)
        XCTAssertEqual(loose.status, 64)
        XCTAssertTrue(loose.stderr.contains("chmod 600"), loose.stderr)
    }

    // MARK: interruption and cleanup

    func testInterruptedDrillRemovesItsScratchFilesAndAbandonedOnesAreSwept() throws {
        let sb = try Sandbox()
        try FileManager.default.createDirectory(atPath: sb.path("scratch"), withIntermediateDirectories: true)
        // A drill killed with -9 earlier: its process no longer exists.
        let abandoned = sb.path("scratch/lifeboat-drill-old")
        try FileManager.default.createDirectory(atPath: abandoned + "/db", withIntermediateDirectories: true)
        try "999999999\n".write(toFile: abandoned + "/owner.pid", atomically: true, encoding: .utf8)
        let file = sb.path("long.yml")
        try Self.valid.replacingOccurrences(of: "  - snapshot\n", with: "  - workload: {rate: 50}\n  - snapshot\n  - wait: 60s\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let (p, out, _) = try CLI.start(["drill", "run", file, "--report-dir", sb.path("reports"), "--scratch-dir", sb.path("scratch")], env: sb.env())
        let deadline = Date().addingTimeInterval(20)
        var text = ""
        while Date() < deadline {
            usleep(100_000)
            if let s = String(data: out.fileHandleForReading.availableData, encoding: .utf8) { text += s }
            if text.contains("waiting") { break }
        }
        XCTAssertTrue(text.contains("waiting"), "the drill reached its wait: \(text)")
        XCTAssertFalse(FileIO.fileExists(abandoned), "an abandoned scratch directory is removed")
        XCTAssertEqual(try FileIO.listDirectory(sb.path("scratch")).count, 1, "the running drill's scratch directory")
        let started = Date()
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(p.terminationStatus, 130)
        XCTAssertTrue(try scratchIsEmpty(sb), "interrupted drills clean up")
        let entries = try DrillArchive.readHistory(sb.path("reports"))
        XCTAssertEqual(entries.last?.outcome, "failed", "the interrupted drill is on record")
    }

    // MARK: no secrets, no database content

    func testReportsHoldNoSecretsAndNoDatabaseContent() throws {
        let sb = try Sandbox()
        let db = sb.path("app.db")
        try TestDB.create(db, rows: 500, marker: "CONFIDENTIAL-PATIENT-NAME")
        let file = sb.path("copy.yml")
        try """
            name: Copy of an application database
            source: {name: app.db, copy: \(db)}
            repositories:
              - {name: primary, location: scratch}
              - {name: second, location: scratch, replica_of: primary}
            targets: {rto: 1m, rpo: 1m}
            steps:
              - workload: {rate: 100}
              - snapshot
              - wait: 300ms
              - disaster: {kind: ransomware}
              - restore: latest
              - verify:
                  queries:
                    - {name: first row text, sql: SELECT body FROM items ORDER BY id LIMIT 1, expect: 'nothing like this'}
                    - {name: rows, sql: SELECT count(*) FROM items, expect: 500}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let secret = "s3cr3t-drill-passphrase-never-shown"
        let (r, report) = try drill(sb, file, env: ["LIFEBOAT_PASSWORD": secret])
        XCTAssertEqual(r.status, 20, "the text expectation fails: \(r.stdout) \(r.stderr)")
        let rep = try XCTUnwrap(report)
        let checks = try XCTUnwrap(rep["verifications"] as? [[String: Any]])
        XCTAssertEqual(checks.first { $0["name"] as? String == "first row text" }?["actual"] as? String, "did not match")
        XCTAssertEqual(checks.first { $0["name"] as? String == "rows" }?["actual"] as? String, "500")
        let dir = try XCTUnwrap(try FileIO.listDirectory(sb.path("reports")).first { !$0.hasSuffix(".jsonl") })
        for f in ["report.json", "report.md", "report.html"] {
            let text = String(decoding: try FileIO.readFile(sb.path("reports/\(dir)/\(f)")), as: UTF8.self)
            XCTAssertFalse(text.contains("CONFIDENTIAL-PATIENT-NAME"), "\(f) holds database content")
            XCTAssertFalse(text.contains(secret), "\(f) holds a secret")
            XCTAssertFalse(text.contains(Sandbox.passphrase), "\(f) holds a secret")
        }
        XCTAssertFalse((r.stdout + r.stderr).contains("CONFIDENTIAL-PATIENT-NAME"))
        XCTAssertEqual(try FileIO.readFile(db).count > 0, true, "the copied database is untouched")
        XCTAssertEqual(try SQLiteConnection(path: db, mode: .readOnly).scalar("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'lifeboat_marker%'")?.integer, 0,
                       "the write load ran on the copy, never on the original")
    }
}
