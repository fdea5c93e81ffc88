import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// `status` against RPO targets and replicas, Prometheus textfile metrics, and the cron
/// wrapper and systemd units shipped in Scripts/.
final class StatusTests: XCTestCase {
    func write(_ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Moves every snapshot of `source` `seconds` into the past (its manifest stored again with
    /// an earlier time, the old one deleted): `status` then sees the repository as it would
    /// that much later, and the test need not wait for the clock.
    func backdate(_ sb: Sandbox, source: String, by seconds: Double) throws {
        let repo = try sb.openRepository()
        let records = try repo.listSnapshots(source: source)
        XCTAssertFalse(records.isEmpty, "no snapshot of \(source) to move")
        for record in records {
            var manifest = record.manifest
            manifest.timeMs -= Int64(seconds * 1000)
            _ = try repo.storeManifest(manifest)
            try repo.backend.delete(ObjectKey(.snapshots, record.id))
        }
    }

    func testRPOBreachGivesExitCode20() throws {
        let sb = try Sandbox()
        let a = sb.path("a.db"), b = sb.path("b.db")
        try TestDB.create(a, rows: 300)
        try TestDB.create(b, rows: 300)
        let config = sb.path("lifeboat.yml")
        try write(config, """
            defaults: { rpo: 1h }
            sources:
              - { name: a, path: \(a) }
              - { name: b, path: \(b), rpo: 2s }
            """)
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", "--config", config, "--quiet").status, 0)
        let fresh = try sb.lifeboat("status", "--config", config, "--json")
        XCTAssertEqual(fresh.status, 0, fresh.stdout + fresh.stderr)
        XCTAssertEqual(try fresh.json()["rpo_breached"] as? Bool, false)

        // 2.5 s later, without waiting for them: b's snapshot moved that far into the past.
        try backdate(sb, source: "b", by: 2.5)
        let stale = try sb.lifeboat("status", "--config", config, "--json")
        XCTAssertEqual(stale.status, 20, stale.stderr)
        let sources = try XCTUnwrap(try stale.json()["sources"] as? [[String: Any]])
        let b1 = try XCTUnwrap(sources.first { $0["source"] as? String == "b" })
        XCTAssertEqual(b1["rpo_breached"] as? Bool, true)
        XCTAssertEqual(b1["rpo_seconds"] as? Double, 2)
        XCTAssertGreaterThan(b1["age_seconds"] as? Double ?? 0, 2)
        XCTAssertEqual(sources.first { $0["source"] as? String == "a" }?["rpo_breached"] as? Bool, false)
        XCTAssertTrue(stale.stderr.contains("RPO target breached for: b"), stale.stderr)
        // Text output names the breach too; --quiet prints only the error line.
        XCTAssertTrue(try sb.lifeboat("status", "--config", config).stdout.contains("BREACHED"))
        let quiet = try sb.lifeboat("status", "--config", config, "--quiet")
        XCTAssertEqual(quiet.stdout, "")
        XCTAssertEqual(quiet.status, 20)

        // A configured source never backed up is a breach, not "fine".
        try write(config, "defaults: { rpo: 1h }\nsources:\n  - { name: never, path: \(sb.path("none.db")) }\n")
        let never = try sb.lifeboat("status", "--config", config, "--source", "never", "--json")
        XCTAssertEqual(never.status, 20)
        XCTAssertNil((try never.json()["sources"] as? [[String: Any]])?.first?["last_time"] as? String)
    }

    func testReplicasInStepAndBehind() throws {
        let sb = try Sandbox()
        let db = sb.path("a.db")
        try TestDB.create(db, rows: 300)
        let replica = sb.path("replica")
        let config = sb.path("lifeboat.yml")
        try write(config, "repositories: [\(sb.repo), \(replica)]\npassword: { file: \(sb.passwordFile) }\n")
        let env = ["LIFEBOAT_REPOSITORY": "", "LIFEBOAT_PASSWORD_FILE": "", "LIFEBOAT_CONFIG": config]
        try sb.lifeboat("init")
        // The configured replica does not exist: the snapshot is stored in the primary and the
        // run says the replica is behind (exit 3).
        XCTAssertEqual(try sb.lifeboat("snapshot", db, env: env).status, 3)

        // Replica unreachable (not there at all): exit 3, named.
        let missing = try sb.lifeboat("status", "--json", env: env)
        XCTAssertEqual(missing.status, 3, missing.stderr)
        XCTAssertTrue(missing.stderr.contains(replica))

        // An identical copy (what sync produces) is in step.
        XCTAssertEqual(try sb.lifeboat("sync", "--from", sb.repo, "--to", replica, env: env).status, 0)
        let same = try sb.lifeboat("status", "--json", env: env)
        XCTAssertEqual(same.status, 0, same.stderr)
        let repos = try XCTUnwrap(try same.json()["repositories"] as? [[String: Any]])
        XCTAssertEqual(repos.map { $0["in_step"] as? Bool }, [true, true])

        // A new snapshot on the primary only (--repo overrides the config): the replica is behind.
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "a", "--repo", sb.repo, env: env).status, 0)
        let behind = try sb.lifeboat("status", "--json", env: env)
        XCTAssertEqual(behind.status, 3)
        let r2 = try XCTUnwrap(try behind.json()["repositories"] as? [[String: Any]])
        XCTAssertEqual(r2.last?["behind"] as? [String], ["a"])
    }

    func testSnapshotAndStatusWriteTextfileMetrics() throws {
        let sb = try Sandbox()
        let a = sb.path("a.db")
        try TestDB.create(a, rows: 500)
        let metrics = sb.path("lifeboat.prom")
        try sb.lifeboat("init")
        let r = try sb.lifeboat("snapshot", a, "--source", "a", "--metrics-file", metrics, "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let bytesAdded = try XCTUnwrap(try r.json()["bytes_added"] as? Int)
        var text = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(text.contains("# TYPE lifeboat_last_success_timestamp_seconds gauge"), text)
        XCTAssertTrue(text.contains("lifeboat_last_bytes_added{source=\"a\"} \(bytesAdded)\n"), text)
        XCTAssertTrue(text.contains("lifeboat_last_run_success{source=\"a\"} 1\n"), text)
        XCTAssertTrue(text.contains("lifeboat_last_duration_seconds{source=\"a\"} "), text)
        XCTAssertTrue(text.contains("lifeboat_snapshot_age_seconds{source=\"a\"} "), text)
        let success = try XCTUnwrap(Self.value(text, "lifeboat_last_success_timestamp_seconds{source=\"a\"}"))
        XCTAssertEqual(success, Date().timeIntervalSince1970, accuracy: 30)

        // A failed run of another source: its own samples say so, source a's are kept.
        let failed = try sb.lifeboat("snapshot", sb.path("missing.db"), "--source", "b", "--metrics-file", metrics)
        XCTAssertNotEqual(failed.status, 0)
        text = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(text.contains("lifeboat_last_run_success{source=\"b\"} 0\n"), text)
        XCTAssertTrue(text.contains("lifeboat_last_run_success{source=\"a\"} 1\n"), text)
        XCTAssertEqual(Self.value(text, "lifeboat_last_success_timestamp_seconds{source=\"a\"}"), success)
        XCTAssertFalse(text.contains("lifeboat_last_success_timestamp_seconds{source=\"b\"}"))

        // Status refreshes ages and breach flags; every line parses as a sample or a comment.
        XCTAssertEqual(try sb.lifeboat("status", "--metrics-file", metrics).status, 0)
        text = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(text.contains("lifeboat_rpo_breached{source=\"a\"} 0\n"), text)
        XCTAssertTrue(text.contains("lifeboat_replica_in_step{repository=\"\(sb.repo)\"} 1\n"), text)
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2, String(line))
            XCTAssertNotNil(Double(String(parts.last ?? "")), String(line))
        }
        XCTAssertEqual(try FileIO.listDirectory(sb.root).filter { $0.hasSuffix(".tmp") }, [], "a temporary metrics file was left")
    }

    static func value(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    // MARK: Scripts

    static var scripts: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Scripts").path
    }

    func runWrapper(_ args: [String], env: [String: String]) throws -> CLIResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.scripts + "/lifeboat-cron")
        p.arguments = args
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLIResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func testCronWrapperIsQuietAndPassesExitCodes() throws {
        let sb = try Sandbox()
        let db = sb.path("a.db")
        try TestDB.create(db, rows: 300)
        let config = sb.path("lifeboat.yml")
        try write(config, "repositories: [\(sb.repo)]\nsources:\n  - { name: a, path: \(db) }\n")
        let envFile = sb.path("lifeboat.env")
        try write(envFile, "LIFEBOAT_CONFIG=\(config)\nLIFEBOAT_PASSWORD_FILE=\(sb.passwordFile)\n")
        var env = sb.env(["LIFEBOAT_ENV_FILE": envFile, "LIFEBOAT_BIN": CLI.binary])
        env["LIFEBOAT_REPOSITORY"] = nil
        env["LIFEBOAT_PASSWORD_FILE"] = nil
        try sb.lifeboat("init")

        let ok = try runWrapper([], env: env)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout + ok.stderr, "", "cron mails any output: a good run must print nothing")
        XCTAssertEqual(try sb.lifeboat("snapshots", "--json").jsonArray().count, 1)

        // Locked by a live run elsewhere: 11 comes through, with one explaining line.
        let t = Date().unixMilliseconds
        _ = try Locks.write(try sb.openRepository(), LockRecord(host: "db2.example", pid: 7, pidStart: nil, timeMs: t, startedMs: t,
                                                              operation: "prune", source: nil, exclusive: true))
        let locked = try runWrapper(["snapshot"], env: env)
        XCTAssertEqual(locked.status, 11)
        XCTAssertEqual(locked.stdout, "")
        XCTAssertTrue(locked.stderr.contains("locked by another run"), locked.stderr)

        // An environment file holding the passphrase itself, readable by others: refused.
        try write(envFile, "LIFEBOAT_CONFIG=\(config)\nLIFEBOAT_PASSWORD=\(Sandbox.passphrase)\n")
        chmod(envFile, 0o644)
        let leaky = try runWrapper([], env: env)
        XCTAssertEqual(leaky.status, 64)
        XCTAssertFalse(leaky.stderr.contains(Sandbox.passphrase))
    }

    func testSystemdUnitsVerify() throws {
        let units = ["lifeboat-snapshot.service", "lifeboat-snapshot.timer", "lifeboat-maintenance.service", "lifeboat-maintenance.timer",
                     "lifeboat-replicate.service"]
        let analyze = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyze) else {
            // Without systemd-analyze, at least check every unit has its sections.
            for u in units {
                let text = try String(contentsOfFile: Self.scripts + "/systemd/" + u, encoding: .utf8)
                XCTAssertTrue(text.contains("[Unit]") && (text.contains("[Service]") || text.contains("[Timer]")), u)
            }
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: analyze)
        p.arguments = ["verify", "--man=no"] + units.map { Self.scripts + "/systemd/" + $0 }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = err
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        // The binary is not installed here; anything else is a real problem in a unit.
        let problems = text.split(separator: "\n").filter { !$0.contains("/usr/local/bin/lifeboat is not executable") }
        XCTAssertEqual(problems, [], text)
    }
}
