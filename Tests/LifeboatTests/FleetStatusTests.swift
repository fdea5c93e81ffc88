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
        XCTAssertFalse(requests.contains { $0.path.contains("/locks/") || $0.path.contains("/audit/") }, "\(requests)")
    }
}
