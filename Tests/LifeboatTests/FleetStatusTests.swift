import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations

/// `lifeboat status --all`: the fleet view over several repositories (one per host) under one
/// directory or S3 prefix, read-only.
final class FleetStatusTests: XCTestCase {
    static var port: Int { S3TestServer.basePort + 10 }

    var passphrase: SecretBytes {
        var pw = Array(Sandbox.passphrase.utf8)
        return SecretBytes(consuming: &pw)
    }

    /// Stores every snapshot of `source` again as if `host` had taken it `seconds` earlier (the
    /// old manifest deleted): a fleet of hosts, and old snapshots, without other machines or waiting.
    func rewrite(_ backend: any Backend, source: String, host: String, olderBy seconds: Double = 0) throws {
        let repo = try Repository.open(backend: backend, passphrase: passphrase)
        let records = try repo.listSnapshots(source: source)
        XCTAssertFalse(records.isEmpty, "no snapshot of \(source) in \(backend.location)")
        for record in records {
            var m = record.manifest
            m.host = host
            m.timeMs -= Int64(seconds * 1000)
            _ = try repo.storeManifest(m)
            try backend.delete(ObjectKey(.snapshots, record.id))
        }
    }

    func rows(_ r: CLIResult) throws -> [[String: Any]] {
        try XCTUnwrap(try r.json()["rows"] as? [[String: Any]], r.stdout)
    }

    func row(_ rows: [[String: Any]], _ repository: String, _ source: String) throws -> [String: Any] {
        try XCTUnwrap(rows.first { ($0["repository"] as? String)?.hasSuffix(repository) == true && $0["source"] as? String == source },
                      "no row \(repository) \(source) in \(rows)")
    }

    func testFleetOfLocalRepositories() throws {
        let sb = try Sandbox()
        let db = sb.path("app.db"), other = sb.path("other.db")
        try TestDB.create(db, rows: 200)
        try TestDB.create(other, rows: 200)
        let fleet = sb.path("fleet")
        // One level down (a repository per host) and two (per site, then host).
        let hosts = ["web-1": "fleet/web-1", "web-2": "fleet/web-2", "db-1": "fleet/site-b/db-1"]
        try FileManager.default.createDirectory(atPath: sb.path("fleet/site-b"), withIntermediateDirectories: true)
        for (host, dir) in hosts.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(try sb.lifeboat("init", "--repo", sb.path(dir), "--quiet").status, 0)
            XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "app", "--repo", sb.path(dir), "--quiet").status, 0)
            XCTAssertEqual(try sb.lifeboat("snapshot", other, "--source", "other", "--repo", sb.path(dir), "--quiet").status, 0)
            try rewrite(LocalBackend(path: sb.path(dir)), source: "app", host: host)
            try rewrite(LocalBackend(path: sb.path(dir)), source: "other", host: host == "db-1" ? "db-\"1\\b" : host)
        }
        // web-2's app stopped backing up two hours ago; web-1's newest app snapshot is verified.
        try rewrite(LocalBackend(path: sb.path("fleet/web-2")), source: "app", host: "web-2", olderBy: 7200)
        XCTAssertEqual(try sb.lifeboat("verify", "latest", "--source", "app", "--repo", sb.path("fleet/web-1"), "--quiet").status, 0)

        let all = try sb.lifeboat("status", "--all", "--repo", fleet, "--rpo", "1h", "--json")
        XCTAssertEqual(all.status, 20, all.stderr)
        XCTAssertTrue(all.stderr.contains("RPO target breached for: app in \(sb.path("fleet/web-2"))"), all.stderr)
        let json = try all.json()
        XCTAssertEqual(json["repositories"] as? Int, 3)
        let list = try rows(all)
        XCTAssertEqual(list.count, 6)
        let stale = try row(list, "fleet/web-2", "app")
        XCTAssertEqual(stale["host"] as? String, "web-2")
        XCTAssertEqual(stale["rpo_breached"] as? Bool, true)
        XCTAssertGreaterThan(stale["age_seconds"] as? Double ?? 0, 7000)
        // Continuous replication fills this later; the field is there, empty.
        XCTAssertTrue(stale.keys.contains("last_shipped_at"))
        XCTAssertTrue(stale["last_shipped_at"] is NSNull)
        XCTAssertEqual(try row(list, "fleet/web-1", "app")["verification"] as? String, "passed")
        XCTAssertEqual(try row(list, "fleet/web-1", "other")["verification"] as? String, "unverified")
        XCTAssertEqual(try row(list, "fleet/site-b/db-1", "app")["host"] as? String, "db-1")
        XCTAssertEqual(try row(list, "fleet/site-b/db-1", "app")["rpo_breached"] as? Bool, false)

        // Text: every source, its host, "-" for shipped; --quiet: nothing but the error line.
        let text = try sb.lifeboat("status", "--all", "--repo", fleet, "--rpo", "1h")
        XCTAssertEqual(text.status, 20)
        XCTAssertTrue(text.stdout.contains("BREACHED"), text.stdout)
        XCTAssertTrue(text.stdout.contains("web-1"), text.stdout)
        XCTAssertTrue(text.stdout.contains("6 source(s) in 3 repositories"), text.stdout)
        let quiet = try sb.lifeboat("status", "--all", "--repo", fleet, "--rpo", "1h", "--quiet")
        XCTAssertEqual(quiet.status, 20)
        XCTAssertEqual(quiet.stdout, "")
        XCTAssertEqual(quiet.stderr.split(separator: "\n").count, 1, quiet.stderr)
        // No target, no breach.
        XCTAssertEqual(try sb.lifeboat("status", "--all", "--repo", fleet, "--quiet").status, 0)
        // --rpo belongs to --all.
        XCTAssertEqual(try sb.lifeboat("status", "--rpo", "1h", "--quiet").status, 64)

        // Metrics: one family per measure, labelled by repository, host and source, escaped.
        let metrics = sb.path("fleet.prom")
        try Data("lifeboat_fleet_rpo_breached{repository=\"gone\",host=\"x\",source=\"y\"} 1\nlifeboat_snapshot_age_seconds{source=\"kept\"} 5\n".utf8)
            .write(to: URL(fileURLWithPath: metrics))
        XCTAssertEqual(try sb.lifeboat("status", "--all", "--repo", fleet, "--rpo", "1h", "--metrics-file", metrics, "--quiet").status, 20)
        let prom = try String(contentsOfFile: metrics, encoding: .utf8)
        let web2 = sb.path("fleet/web-2"), db1 = sb.path("fleet/site-b/db-1")
        XCTAssertTrue(prom.contains("lifeboat_fleet_rpo_breached{repository=\"\(web2)\",host=\"web-2\",source=\"app\"} 1\n"), prom)
        XCTAssertTrue(prom.contains("lifeboat_fleet_snapshot_age_seconds{repository=\"\(web2)\",host=\"web-2\",source=\"app\"} 720"), prom)
        XCTAssertTrue(prom.contains("lifeboat_fleet_newest_snapshot_verified{repository=\"\(sb.path("fleet/web-1"))\",host=\"web-1\",source=\"app\"} 1\n"), prom)
        XCTAssertTrue(prom.contains("lifeboat_fleet_rpo_breached{repository=\"\(db1)\",host=\"db-\\\"1\\\\b\",source=\"other\"} 0\n"), prom)
        XCTAssertTrue(prom.contains("lifeboat_fleet_repository_readable{repository=\"\(db1)\"} 1\n"), prom)
        XCTAssertTrue(prom.contains("# TYPE lifeboat_fleet_snapshot_age_seconds gauge"), prom)
        // The fleet families are replaced whole (a repository gone is gone); others are kept.
        XCTAssertFalse(prom.contains("repository=\"gone\""), prom)
        XCTAssertTrue(prom.contains("lifeboat_snapshot_age_seconds{source=\"kept\"} 5"), prom)
    }

    func testRepositoryThatCannotBeOpenedIsARow() throws {
        let sb = try Sandbox()
        let db = sb.path("app.db")
        try TestDB.create(db, rows: 100)
        let fleet = sb.path("fleet")
        try FileManager.default.createDirectory(atPath: fleet, withIntermediateDirectories: true)
        XCTAssertEqual(try sb.lifeboat("init", "--repo", fleet + "/good", "--quiet").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--repo", fleet + "/good", "--quiet").status, 0)
        // Another passphrase: it cannot be opened with this one.
        let otherPassword = sb.path("other-passphrase")
        try Data("another passphrase entirely\n".utf8).write(to: URL(fileURLWithPath: otherPassword))
        chmod(otherPassword, 0o600)
        XCTAssertEqual(try sb.lifeboat("init", "--repo", fleet + "/foreign", "--quiet", env: ["LIFEBOAT_PASSWORD_FILE": otherPassword]).status, 0)

        let r = try sb.lifeboat("status", "--all", "--repo", fleet, "--json")
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("1 of 2 repositories could not be read"), r.stderr)
        let list = try rows(r)
        XCTAssertEqual(list.count, 2)
        let foreign = try XCTUnwrap(list.first { ($0["repository"] as? String)?.hasSuffix("/foreign") == true })
        XCTAssertTrue((foreign["error"] as? String)?.contains("wrong passphrase") == true, "\(foreign)")
        XCTAssertTrue(foreign["source"] is NSNull)
        XCTAssertEqual(try row(list, "/good", "app.db")["snapshots"] as? Int, 1)
        // A breach elsewhere is the worse news: exit 20, and the unreadable row still shows.
        let breached = try sb.lifeboat("status", "--all", "--repo", fleet, "--rpo", "0s")
        XCTAssertEqual(breached.status, 20, breached.stderr)
        XCTAssertTrue(breached.stdout.contains("ERROR: wrong passphrase"), breached.stdout)
        // A trailing slash names the same place.
        let slash = try rows(try sb.lifeboat("status", "--all", "--repo", fleet + "/", "--json"))
        XCTAssertEqual(Set(slash.compactMap { $0["repository"] as? String }), [fleet + "/good", fleet + "/foreign"])
        // Nothing there at all.
        XCTAssertEqual(try sb.lifeboat("status", "--all", "--repo", sb.path("nothing"), "--quiet").status, 3)
    }

    /// Over S3: repositories under one prefix (a prefix per host), found by listing; and the
    /// run's requests, read from the server's own log, are GETs and HEADs only.
    func testFleetOnS3ReadsOnly() throws {
        let sb = try Sandbox()
        let server = try S3TestServer.start("fleet", port: Self.port)
        let prefix = "fleet-" + UUID().uuidString.lowercased()
        var env = S3TestServer.dummyEnvironment
        env["LIFEBOAT_CACERT"] = server.caCert
        env["LIFEBOAT_S3_RETRY_SECONDS"] = "5"
        env["LIFEBOAT_REPOSITORY"] = ""
        let top = "s3:\(server.endpoint)/lifeboat-tests/\(prefix)"
        let db = sb.path("app.db")
        try TestDB.create(db, rows: 100)
        for host in ["h1", "h2", "h3"] {
            XCTAssertEqual(try sb.lifeboat("init", "--repo", "\(top)/\(host)", "--quiet", env: env).status, 0)
            let snap = try sb.lifeboat("snapshot", db, "--source", "app-\(host)", "--repo", "\(top)/\(host)", "--quiet", env: env)
            XCTAssertEqual(snap.status, 0, snap.stderr)
        }
        // One repository with several sources (and hosts): its manifests are read in parallel.
        for (i, host) in ["web-a", "web-b", "web-c"].enumerated() {
            XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "shared-\(i)", "--repo", "\(top)/h1", "--quiet", env: env).status, 0)
            try rewrite(try S3TestServer.backend(server, prefix: "\(prefix)/h1"), source: "shared-\(i)", host: host)
        }
        try rewrite(try S3TestServer.backend(server, prefix: "\(prefix)/h3"), source: "app-h3", host: "h3", olderBy: 7200)
        // A prefix with no repository in it is not one.
        try S3TestServer.backend(server, prefix: "\(prefix)/empty/x").put(ObjectKey(.data, String(repeating: "ab", count: 32)), [1])

        let before = try S3TestServer.requests(server, containing: prefix).count
        let r = try sb.lifeboat("status", "--all", "--repo", top, "--rpo", "1h", "--json", env: env)
        XCTAssertEqual(r.status, 20, r.stderr)
        let list = try rows(r)
        XCTAssertEqual(list.count, 6, "\(list)")
        XCTAssertEqual(try row(list, "/h1", "shared-2")["host"] as? String, "web-c")
        XCTAssertEqual(try row(list, "/h1", "shared-0")["snapshots"] as? Int, 1)
        XCTAssertEqual(try row(list, "/h3", "app-h3")["rpo_breached"] as? Bool, true)
        XCTAssertEqual(try row(list, "/h3", "app-h3")["host"] as? String, "h3")
        XCTAssertEqual(try row(list, "/h1", "app-h1")["rpo_breached"] as? Bool, false)
        XCTAssertEqual(try r.json()["unreadable"] as? Int, 0)

        let requests = try S3TestServer.requests(server, containing: prefix).dropFirst(before)
        XCTAssertGreaterThan(requests.count, 10)
        let methods = Set(requests.map(\.method))
        XCTAssertTrue(methods.isSubset(of: ["GET", "HEAD"]), "status --all wrote: \(requests.filter { !["GET", "HEAD"].contains($0.method) })")
        // Audit objects are read (the newest drill of each source), never written; no lock.
        XCTAssertFalse(requests.contains { $0.path.contains("/locks/") }, "\(requests)")
    }

    /// The newest drill of each source, from the repository's audit trail, held against the
    /// config's drill_within: only a passed drill restarts the clock.
    func testLastDrillFromTheAuditTrail() throws {
        let sb = try Sandbox()
        setenv("LIFEBOAT_AUDIT_DIR", sb.path("audit-log"), 1)
        let db = sb.path("app.db")
        try TestDB.create(db, rows: 100)
        let fleet = sb.path("fleet"), fresh = sb.path("fleet/fresh"), stale = sb.path("fleet/stale")
        try FileManager.default.createDirectory(atPath: fleet, withIntermediateDirectories: true)
        for dir in [fresh, stale, sb.path("fleet/never")] {
            XCTAssertEqual(try sb.lifeboat("init", "--repo", dir, "--quiet").status, 0)
            XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "app", "--repo", dir, "--quiet").status, 0)
        }
        // fresh: a drill passed just now, recorded as `drill run` records it.
        let freshRepo = try Repository.open(backend: LocalBackend(path: fresh), passphrase: passphrase)
        UseCase.recordDrill(freshRepo, source: "app", result: .ok, details: ["outcome": .string("passed"), "drill_id": .string("d-fresh")])
        // stale: one passed 40 days ago, one failed yesterday (which does not restart the clock),
        // and a drill of another source.
        let staleRepo = try Repository.open(backend: LocalBackend(path: stale), passphrase: passphrase)
        let now = Date()
        let passedAt = RFC3339.format(now.addingTimeInterval(-40 * 86400), fractional: true)
        let failedAt = RFC3339.format(now.addingTimeInterval(-86400), fractional: true)
        for (time, source, result, outcome) in [(passedAt, "app", AuditResult.ok, "passed"), (failedAt, "app", .failed, "failed"),
                                                 (failedAt, "elsewhere", .ok, "passed")] {
            let record = AuditRecord(chain: "test", seq: 1, prev: AuditRecord.genesis, time: time, operation: "drill", source: source,
                                     result: result, error: nil, host: "drill-host", user: "ops", repository: staleRepo.config.id,
                                     details: ["outcome": .string(outcome)])
            _ = try staleRepo.storeObject(.audit, try record.encodedLine())
        }

        // Without --drills or a drill_within, the audit trails are not read (one GET an object).
        let cheap = try rows(try sb.lifeboat("status", "--all", "--repo", fleet, "--json"))
        XCTAssertTrue(try row(cheap, "/fresh", "app")["last_drill_time"] is NSNull)

        // --drills, no drill_within: shown, not judged.
        let plain = try sb.lifeboat("status", "--all", "--drills", "--repo", fleet, "--json")
        XCTAssertEqual(plain.status, 0, plain.stderr)
        var list = try rows(plain)
        XCTAssertEqual(try row(list, "/fresh", "app")["last_drill_outcome"] as? String, "passed")
        XCTAssertLessThan(try XCTUnwrap(try row(list, "/fresh", "app")["drill_age_seconds"] as? Double), 600)
        XCTAssertEqual(try row(list, "/stale", "app")["last_drill_outcome"] as? String, "failed")
        XCTAssertEqual(try row(list, "/stale", "app")["last_drill_time"] as? String, failedAt)
        XCTAssertEqual(try row(list, "/stale", "app")["drill_overdue"] as? Bool, false)
        XCTAssertTrue(try row(list, "/never", "app")["last_drill_time"] is NSNull)
        // Separate repositories (each its own id) are not copies of one another.
        XCTAssertTrue(try row(list, "/fresh", "app")["replicas_in_step"] is NSNull)

        // drill_within 30d: the stale one's newest passed drill is 40 days old, the never-drilled
        // one has none: both overdue, exit 20; the fresh one is fine.
        let config = sb.path("lifeboat.yml")
        try Data("defaults: { drill_within: 30d }\n".utf8).write(to: URL(fileURLWithPath: config))
        let metrics = sb.path("fleet.prom")
        let judged = try sb.lifeboat("status", "--all", "--repo", fleet, "--config", config, "--json", "--metrics-file", metrics)
        XCTAssertEqual(judged.status, 20, judged.stderr)
        XCTAssertTrue(judged.stderr.contains("no passed drill within drill_within for: "), judged.stderr)
        XCTAssertTrue(judged.stderr.contains("app in \(sb.path("fleet/never"))") && judged.stderr.contains("app in \(stale)"), judged.stderr)
        XCTAssertFalse(judged.stderr.contains("app in \(fresh)"), judged.stderr)
        XCTAssertEqual(try judged.json()["drill_overdue"] as? Bool, true)
        list = try rows(judged)
        let staleRow = try row(list, "/stale", "app")
        XCTAssertEqual(staleRow["drill_overdue"] as? Bool, true)
        XCTAssertEqual(staleRow["last_passed_drill_time"] as? String, passedAt)
        XCTAssertGreaterThan(staleRow["drill_age_seconds"] as? Double ?? 0, 39 * 86400)
        XCTAssertEqual(staleRow["drill_within_seconds"] as? Double, 30 * 86400)
        XCTAssertEqual(try row(list, "/fresh", "app")["drill_overdue"] as? Bool, false)
        XCTAssertEqual(try row(list, "/never", "app")["drill_overdue"] as? Bool, true)
        let prom = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(prom.contains("lifeboat_fleet_drill_overdue{repository=\"\(stale)\",host=\"\(HostIdentity.hostName)\",source=\"app\"} 1\n"), prom)
        XCTAssertTrue(prom.contains("lifeboat_fleet_drill_overdue{repository=\"\(fresh)\",host=\"\(HostIdentity.hostName)\",source=\"app\"} 0\n"), prom)
        XCTAssertTrue(prom.contains("lifeboat_fleet_drill_age_seconds{repository=\"\(stale)\",host=\"\(HostIdentity.hostName)\",source=\"app\"} 3456"), prom)
        XCTAssertFalse(prom.contains("lifeboat_fleet_drill_age_seconds{repository=\"\(sb.path("fleet/never"))\""), prom)

        let text = try sb.lifeboat("status", "--all", "--repo", fleet, "--config", config)
        XCTAssertEqual(text.status, 20)
        XCTAssertTrue(text.stdout.contains("DRILL OVERDUE"), text.stdout)
        XCTAssertTrue(text.stdout.contains(String(failedAt.prefix(19))), text.stdout)
    }

    /// Copies of one repository (same id) found under the locations are held against each
    /// other: a copy without the newest snapshot another holds is behind (exit 3).
    func testCopiesOfOneRepositoryInStep() throws {
        let sb = try Sandbox()
        let db = sb.path("app.db")
        try TestDB.create(db, rows: 100)
        let fleet = sb.path("fleet"), a = sb.path("fleet/a"), b = sb.path("fleet/b"), solo = sb.path("fleet/solo")
        try FileManager.default.createDirectory(atPath: fleet, withIntermediateDirectories: true)
        XCTAssertEqual(try sb.lifeboat("init", "--repo", a, "--repo", b, "--quiet").status, 0)
        XCTAssertEqual(try sb.lifeboat("init", "--repo", solo, "--quiet").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "app", "--repo", a, "--repo", b, "--quiet").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "app", "--repo", solo, "--quiet").status, 0)

        let inStep = try sb.lifeboat("status", "--all", "--repo", fleet, "--json")
        XCTAssertEqual(inStep.status, 0, inStep.stderr)
        var list = try rows(inStep)
        XCTAssertEqual(try row(list, "/a", "app")["replicas_in_step"] as? Bool, true)
        XCTAssertEqual(try row(list, "/a", "app")["copies"] as? [String], [b])
        XCTAssertEqual(try row(list, "/b", "app")["replicas_in_step"] as? Bool, true)
        XCTAssertTrue(try row(list, "/solo", "app")["replicas_in_step"] is NSNull)

        // A newer snapshot to a only: b is behind, seen from both rows.
        Thread.sleep(forTimeInterval: 0.01)
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "app", "--repo", a, "--quiet").status, 0)
        let metrics = sb.path("fleet.prom")
        let behind = try sb.lifeboat("status", "--all", "--repo", fleet, "--json", "--metrics-file", metrics)
        XCTAssertEqual(behind.status, 3, behind.stderr)
        XCTAssertTrue(behind.stderr.contains("copies behind the newest snapshot another copy of the same repository holds: \(b)"), behind.stderr)
        XCTAssertEqual(try behind.json()["replicas_behind"] as? Bool, true)
        list = try rows(behind)
        for copy in ["/a", "/b"] {
            XCTAssertEqual(try row(list, copy, "app")["replicas_in_step"] as? Bool, false, copy)
            XCTAssertEqual(try row(list, copy, "app")["replicas_behind"] as? [String], [b], copy)
        }
        XCTAssertEqual(try row(list, "/a", "app")["snapshots"] as? Int, 2)
        XCTAssertEqual(try row(list, "/b", "app")["snapshots"] as? Int, 1)
        let prom = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(prom.contains("lifeboat_fleet_replicas_in_step{repository=\"\(b)\",host=\"\(HostIdentity.hostName)\",source=\"app\"} 0\n"), prom)
        XCTAssertFalse(prom.contains("lifeboat_fleet_replicas_in_step{repository=\"\(solo)\""), prom)
        let text = try sb.lifeboat("status", "--all", "--repo", fleet)
        XCTAssertEqual(text.status, 3)
        XCTAssertTrue(text.stdout.contains("BEHIND: \(b)"), text.stdout)
        // A breach is the worse news.
        XCTAssertEqual(try sb.lifeboat("status", "--all", "--repo", fleet, "--rpo", "0s", "--quiet").status, 20)

        // sync brings b in step.
        XCTAssertEqual(try sb.lifeboat("sync", "--from", a, "--to", b, "--quiet").status, 0)
        let synced = try sb.lifeboat("status", "--all", "--repo", fleet, "--json")
        XCTAssertEqual(synced.status, 0, synced.stderr)
        XCTAssertEqual(try row(try rows(synced), "/b", "app")["replicas_in_step"] as? Bool, true)
    }
}
