import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// lifeboat.yml: parsing, line-numbered validation, refusal of secrets, and the CLI using it
/// (snapshot with no arguments, flags and environment overriding the file).
final class ConfigTests: XCTestCase {
    func parse(_ yaml: String) throws -> LifeboatConfig {
        try ConfigLoader.parse(yaml, path: "lifeboat.yml")
    }

    /// The error message of a config that must be refused.
    func refusal(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try parse(yaml)
            XCTFail("config was accepted", file: file, line: line)
            return ""
        } catch let e as LifeboatError {
            XCTAssertEqual(e.kind, .usage, file: file, line: line)
            return e.message
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return ""
        }
    }

    func testFullConfigParses() throws {
        let c = try parse("""
            # production
            repositories:
              - /srv/lifeboat
              - s3://backups-eu/lifeboat
            password:
              command: vault kv get -field=passphrase secret/lifeboat
            defaults:
              rpo: 25h
              rto: 30m
            retention:
              keep_daily: 14
              keep_weekly: all
              keep_within: 2d
            metrics_file: /var/lib/prometheus/node-exporter/lifeboat.prom
            lock:
              stale_after: 10m
            sources:
              - name: requests
                path: /var/lib/bpm/requests.db
                rpo: 1h
                retention: { keep_last: 48, keep_daily: 7 }
              - path: /var/lib/bpm/tasks.db
            """)
        XCTAssertEqual(c.repositories, ["/srv/lifeboat", "s3://backups-eu/lifeboat"])
        XCTAssertEqual(c.password, .command("vault kv get -field=passphrase secret/lifeboat"))
        XCTAssertEqual(c.sources.map(\.name), ["requests", "tasks.db"])
        XCTAssertEqual(c.sources.map(\.line), [18, 22])
        XCTAssertEqual(c.rpo(for: "requests"), 3600)
        XCTAssertEqual(c.rpo(for: "tasks.db"), 25 * 3600)
        XCTAssertEqual(c.rto(for: "tasks.db"), 1800)
        XCTAssertEqual(c.retention(for: "requests"), RetentionPolicy(last: 48, daily: 7))
        XCTAssertEqual(c.retention(for: "tasks.db"), RetentionPolicy(daily: 14, weekly: -1, within: CalendarSpan(days: 2)))
        XCTAssertEqual(c.lockStaleAfter, 600)
        XCTAssertEqual(c.metricsFile, "/var/lib/prometheus/node-exporter/lifeboat.prom")
    }

    func testValidationErrorsNameTheLine() {
        XCTAssertTrue(refusal("""
            repositories:
              - /srv/lifeboat
            retention:
              keep_dayly: 7
            """).contains("line 4"), "typo in a key")
        let m = refusal("""
            sources:
              - name: a
                path: /a.db
                rpo: soon
            """)
        XCTAssertTrue(m.contains("line 4") && m.contains("rpo"), m)
        XCTAssertTrue(refusal("""
            sources:
              - name: a
                path: /a.db
              - name: a
                path: /b.db
            """).contains("line 4: source 'a' is already defined at line 2"))
        XCTAssertTrue(refusal("sources:\n  - name: a\n").contains("line 2"), "missing path")
        XCTAssertTrue(refusal("retention:\n  keep_daily: 0\n").contains("line 2"), "a policy that keeps nothing")
        XCTAssertTrue(refusal("repositories: [/a\n").contains("line "), "YAML syntax error")
        XCTAssertTrue(refusal("password:\n  file: /a\n  env: B\n").contains("line 2"), "two references at once")
        XCTAssertTrue(refusal("retention:\n  keep_daily: 7\nrpo: 1h\nretention:\n  keep_last: 1\n").contains("line 4: 'retention' is set twice (first at line 1)"))
        XCTAssertTrue(refusal("retention:\n  keep_dayly: 3\n").contains("line 2: unknown setting 'keep_dayly' in retention (did you mean 'keep_daily'?)"), "a typo gets the nearest setting")
    }

    func testSecretsAreRefusedWithoutBeingQuoted() {
        let secrets: [(String, String)] = [
            ("password: correct horse battery staple\n", "correct horse"),
            ("repositories:\n  - /srv/x\npassphrase: 'hunter2'\n", "hunter2"),
            ("aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "wJalrXUtnFEMI"),
            ("sources:\n  - name: a\n    path: AKIAIOSFODNN7EXAMPLE\n", "AKIAIOSFODNN7EXAMPLE"),
            ("password:\n  command: echo dGhpcyBpcyBhIHNlY3JldCBrZXk/Zm9yIHRlc3Rz\n", "dGhpcyBp"),
            ("metrics_file: ghp_Zx9Qw3Lm8Rt5Yp2Vb7Nc4Kd6Hf1Jg0SaE1x\n", "ghp_"),
            ("sources:\n  - name: Zx9Qw3Lm8Rt5Yp2Vb7Nc4Kd6Hf1Jg0SaE\n    path: /a.db\n", "Zx9Qw3Lm8Rt5"),
            ("metrics_file: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n", "9f86d081884c"),
            ("repositories:\n  - s3://AKIAEXAMPLE:topsecret@s3.example.com/bucket\n", "topsecret"),
            ("password:\n  file: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEvQ\n", "MIIEvQ"),
        ]
        for (yaml, secret) in secrets {
            let m = refusal(yaml)
            XCTAssertTrue(m.contains("line "), "no line in: \(m)")
            XCTAssertFalse(m.contains(secret), "the message quotes the secret: \(m)")
        }
        // The 'password' refusal names the setting and the reference forms.
        let m = refusal("repositories: [/srv/x]\npassword: hunter2hunter2\n")
        XCTAssertTrue(m.contains("line 2") && m.contains("file:") && m.contains("env"), m)
    }

    func testReferencesAndOrdinaryValuesAreNotMistakenForSecrets() throws {
        let c = try parse("""
            repositories:
              - /srv/lifeboat/ProductionRepository2024
              - s3://lifeboat-backups-eu-west-1/process-db
            password:
              env: LIFEBOAT_PROD_PASSPHRASE
            metrics_file: node-exporter/textfile/Lifeboat_Production_Metrics_2024.prom
            sources:
              - name: requests_2024_ProcessEngine
                path: /var/lib/bpm/Requests-ProcessEngine-Production-2024.db
            """)
        XCTAssertEqual(c.password, .environment("LIFEBOAT_PROD_PASSPHRASE"))
        XCTAssertEqual(c.sources.first?.name, "requests_2024_ProcessEngine")
    }

    // MARK: the CLI with a config file

    func writeConfig(_ sb: Sandbox, _ text: String) throws -> String {
        let path = sb.path("lifeboat.yml")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Only the config: no LIFEBOAT_REPOSITORY, no passphrase variable.
    func configOnly(_ config: String) -> [String: String] {
        ["LIFEBOAT_REPOSITORY": "", "LIFEBOAT_PASSWORD_FILE": "", "LIFEBOAT_CONFIG": config]
    }

    func testSnapshotWithoutArgumentsTakesEveryConfiguredSource() throws {
        let sb = try Sandbox()
        try TestDB.create(sb.path("a.db"), rows: 300)
        try TestDB.create(sb.path("b.db"), journal: "delete", rows: 500)
        let config = try writeConfig(sb, """
            repositories: [\(sb.repo)]
            password: { file: \(sb.passwordFile) }
            sources:
              - { name: alpha, path: \(sb.path("a.db")) }
              - { name: beta, path: \(sb.path("b.db")) }
            """)
        XCTAssertEqual(try sb.lifeboat("init", env: configOnly(config)).status, 0)
        let r = try sb.lifeboat("snapshot", "--json", env: configOnly(config))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try r.jsonArray().compactMap { $0["source"] as? String }, ["alpha", "beta"])
        // Quiet: nothing on stdout, nothing on stderr.
        let q = try sb.lifeboat("snapshot", "--quiet", env: configOnly(config))
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertEqual(q.stdout + q.stderr, "")
        let list = try sb.lifeboat("snapshots", "--json", env: configOnly(config)).jsonArray()
        XCTAssertEqual(list.count, 4)
        // --source picks one configured source; the path argument borrows the configured name.
        XCTAssertEqual(try sb.lifeboat("snapshot", "--source", "beta", "--json", env: configOnly(config)).jsonArray().count, 1)
        XCTAssertEqual(try sb.lifeboat("snapshot", sb.path("a.db"), "--json", env: configOnly(config)).json()["source"] as? String, "alpha")
        XCTAssertEqual(try sb.lifeboat("snapshot", "--source", "gamma", env: configOnly(config)).status, 64)
    }

    func testFlagsAndEnvironmentOverrideTheFile() throws {
        let sb = try Sandbox()
        try TestDB.create(sb.path("a.db"), rows: 200)
        let config = try writeConfig(sb, """
            repositories: [\(sb.path("from-config"))]
            password: { env: SOME_UNSET_VARIABLE_FOR_TEST }
            sources: [{ name: alpha, path: \(sb.path("a.db")) }]
            """)
        // LIFEBOAT_REPOSITORY and LIFEBOAT_PASSWORD_FILE (set by the sandbox) win over the file.
        XCTAssertEqual(try sb.lifeboat("init", env: ["LIFEBOAT_CONFIG": config]).status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", env: ["LIFEBOAT_CONFIG": config]).status, 0)
        XCTAssertTrue(FileIO.fileExists(sb.repo + "/config"))
        XCTAssertFalse(FileIO.fileExists(sb.path("from-config")))
        // --repo wins over the environment.
        let other = sb.path("flag-repo")
        XCTAssertEqual(try sb.lifeboat("init", "--repo", other, env: ["LIFEBOAT_CONFIG": config]).status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", "--repo", other, env: ["LIFEBOAT_CONFIG": config]).status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshots", "--repo", other, "--json").jsonArray().count, 1)
        // Without the variable, the file's reference is used, and its absence is explained.
        let r = try sb.lifeboat("snapshot", env: ["LIFEBOAT_CONFIG": config, "LIFEBOAT_PASSWORD_FILE": ""])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("SOME_UNSET_VARIABLE_FOR_TEST"), r.stderr)
        // --config wins over LIFEBOAT_CONFIG.
        let broken = sb.path("broken.yml")
        try Data("sources: [".utf8).write(to: URL(fileURLWithPath: broken))
        XCTAssertEqual(try sb.lifeboat("snapshot", "--config", config, env: ["LIFEBOAT_CONFIG": broken]).status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", "--config", broken).status, 64)
    }

    func testConfigWithSecretIsRefusedByTheCLI() throws {
        let sb = try Sandbox()
        let secret = "Pa55-\(UUID().uuidString)"
        let config = try writeConfig(sb, "repositories: [\(sb.repo)]\nsources: []\npassword: \(secret)\n")
        let r = try sb.lifeboat("snapshot", "--config", config)
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("\(config) line 3"), r.stderr)
        XCTAssertFalse(r.stdout.contains(secret) || r.stderr.contains(secret))
    }
}
