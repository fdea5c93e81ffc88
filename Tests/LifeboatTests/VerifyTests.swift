import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations

/// `lifeboat verify`: SQLite's checks run once per image and are recorded as an attestation
/// bound to it; restores trust a passing one (`--integrity-check auto`), refuse a failing one
/// without --force, and nobody can plant or rewrite one unnoticed.
final class VerifyTests: XCTestCase {
    /// A rollback-journal database whose UNIQUE index holds duplicates behind SQLite's back:
    /// every page is what was captured, but `PRAGMA integrity_check` fails.
    func makeDamagedDatabase(_ path: String) throws {
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try db.execute("""
            PRAGMA journal_mode=DELETE;
            CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT);
            CREATE INDEX t_a ON t(a);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
            INSERT INTO t(a) SELECT 'row ' || (i % 100) FROM n;
            PRAGMA writable_schema=ON;
            UPDATE sqlite_schema SET sql = 'CREATE UNIQUE INDEX t_a ON t(a)' WHERE name = 't_a';
            """)
    }

    func testVerifiedImageRestoresWithoutTheCheckAndUnverifiedWithIt() throws {
        let sb = try Sandbox()
        let db = sb.path("a.db")
        try TestDB.create(db, journal: "wal", rows: 1500)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)

        // Not verified yet: auto runs SQLite's check.
        let before = try sb.lifeboat("restore", "latest", "--to", sb.path("r1.db"), "--json")
        XCTAssertEqual(before.status, 0, before.stderr)
        XCTAssertEqual(try before.json()["integrity"] as? String, "ok")
        var listed = try sb.lifeboat("snapshots", "--json").jsonArray()
        XCTAssertEqual(listed.first?["verified"] as? String, "unverified")

        let verify = try sb.lifeboat("verify", "--json")
        XCTAssertEqual(verify.status, 0, verify.stderr)
        let attestations = try verify.jsonArray()
        XCTAssertEqual(attestations.count, 1)
        XCTAssertEqual(attestations.first?["outcome"] as? String, "passed")
        XCTAssertEqual(attestations.first?["foreign_keys"] as? String, "none")
        listed = try sb.lifeboat("snapshots", "--json").jsonArray()
        XCTAssertEqual(listed.first?["verified"] as? String, "passed")

        // Verified: auto trusts the attestation, and the file is still the captured image.
        let after = try sb.lifeboat("restore", "latest", "--to", sb.path("r2.db"))
        XCTAssertEqual(after.status, 0, after.stderr)
        XCTAssertTrue(after.stdout.contains("integrity: verified "), after.stdout)
        XCTAssertTrue(after.stdout.contains("by lifeboat verify"), after.stdout)
        XCTAssertEqual(try FileIO.readFile(sb.path("r2.db")), try FileIO.readFile(sb.path("r1.db")))
        let always = try sb.lifeboat("restore", "latest", "--to", sb.path("r3.db"), "--integrity-check", "always", "--json")
        XCTAssertEqual(try always.json()["integrity"] as? String, "ok")
        let never = try sb.lifeboat("restore", "latest", "--to", sb.path("r4.db"), "--integrity-check", "never", "--json")
        XCTAssertEqual(try never.json()["integrity"] as? String, "unchecked")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", sb.path("r5.db"), "--integrity-check", "sometimes").status, 64)

        // Every snapshot is verified: --unverified has nothing to do; a new snapshot is picked up.
        XCTAssertTrue(try sb.lifeboat("verify", "--unverified").stdout.contains("verified already"))
        try TestDB.create(sb.path("b.db"), journal: "wal", rows: 200)
        XCTAssertEqual(try sb.lifeboat("snapshot", sb.path("b.db")).status, 0)
        let second = try sb.lifeboat("verify", "--unverified", "--json")
        XCTAssertEqual(try second.jsonArray().count, 1, second.stderr)
        // The verify runs are in the audit trail, which still verifies.
        let audit = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
    }

    func testAFailedVerificationBlocksRestoreUnlessForced() throws {
        let sb = try Sandbox()
        let db = sb.path("damaged.db")
        try makeDamagedDatabase(db)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let verify = try sb.lifeboat("verify")
        XCTAssertEqual(verify.status, 13, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stdout.contains("FAILED"), verify.stdout)
        XCTAssertEqual(try sb.lifeboat("snapshots", "--json").jsonArray().first?["verified"] as? String, "failed")

        let refused = try sb.lifeboat("restore", "latest", "--to", sb.path("r.db"))
        XCTAssertEqual(refused.status, 13)
        XCTAssertTrue(refused.stderr.contains("failed 'lifeboat verify'"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--force"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sb.path("r.db")))
        let forced = try sb.lifeboat("restore", "latest", "--to", sb.path("r.db"), "--force")
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try FileIO.readFile(sb.path("r.db")), try FileIO.readFile(db))
    }

    func testForeignKeyViolationsFailVerification() throws {
        let sb = try Sandbox()
        let db = sb.path("fk.db")
        let c = try SQLiteConnection(path: db, mode: .readWriteCreate)
        try c.execute("""
            PRAGMA journal_mode=WAL;
            CREATE TABLE process(id INTEGER PRIMARY KEY);
            CREATE TABLE task(id INTEGER PRIMARY KEY, process INTEGER REFERENCES process(id));
            INSERT INTO process VALUES (1);
            INSERT INTO task VALUES (1, 1), (2, 7);
            """)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let verify = try sb.lifeboat("verify", "--json")
        XCTAssertEqual(verify.status, 13, verify.stderr)
        let a = try XCTUnwrap(try verify.jsonArray().first)
        XCTAssertEqual(a["foreign_keys"] as? String, "failed")
        XCTAssertTrue(((a["problems"] as? [String]) ?? []).contains { $0.contains("table task") }, "\(a)")
    }

    /// An attestation speaks only for the snapshot and image digest it names.
    func testAnAttestationIsBoundToItsImage() throws {
        let sb = try Sandbox()
        try TestDB.create(sb.path("a.db"), journal: "wal", rows: 300)
        try TestDB.create(sb.path("b.db"), journal: "wal", rows: 400)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", sb.path("a.db"), "--source", "a").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", sb.path("b.db"), "--source", "b").status, 0)
        let repo = try sb.openRepository()
        let a = try XCTUnwrap(repo.listSnapshots(source: "a").first)
        let b = try XCTUnwrap(repo.listSnapshots(source: "b").first)
        // A's passing result claimed for B's id (with A's digest), and for B's digest under A's id.
        for (snapshot, digest) in [(b.id, a.manifest.imageDigest), (a.id, b.manifest.imageDigest)] {
            try repo.storeAttestation(Attestation(snapshot: snapshot, source: "b", imageDigest: digest, outcome: .passed, problems: [],
                                                  foreignKeys: "none", checkedAtMs: Date().unixMilliseconds, seconds: 0))
        }
        XCTAssertNil(try repo.attestation(for: b))
        XCTAssertNil(try repo.attestation(for: a))
        let restore = try sb.lifeboat("restore", "latest", "--source", "b", "--to", sb.path("rb.db"), "--json")
        XCTAssertEqual(try restore.json()["integrity"] as? String, "ok", "no attestation binds B: SQLite's check must run")
        // Attestations no verify recorded are named by audit verify.
        let audit = try sb.lifeboat("audit", "verify")
        XCTAssertNotEqual(audit.status, 0)
        XCTAssertTrue((audit.stdout + audit.stderr).contains("no 'lifeboat verify' recorded it"), audit.stdout + audit.stderr)
    }

    func testATamperedAttestationIsCaughtByCheckAndAuditVerifyAndIgnoredByRestore() throws {
        let sb = try Sandbox()
        try TestDB.create(sb.path("a.db"), journal: "wal", rows: 300)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", sb.path("a.db")).status, 0)
        XCTAssertEqual(try sb.lifeboat("verify").status, 0)
        let dir = sb.repo + "/attestations"
        let name = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir).first)
        var bytes = try FileIO.readFile(dir + "/" + name)
        bytes[bytes.count - 20] ^= 0x40
        // Rewritten under the name of its new bytes, as someone covering their tracks would.
        try FileManager.default.removeItem(atPath: dir + "/" + name)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + SHA256.hex(bytes)))

        let check = try sb.lifeboat("check")
        XCTAssertEqual(check.status, 13, check.stdout + check.stderr)
        XCTAssertTrue(check.stdout.contains("attestation"), check.stdout)
        let audit = try sb.lifeboat("audit", "verify")
        XCTAssertNotEqual(audit.status, 0)
        XCTAssertTrue((audit.stdout + audit.stderr).contains("attestation \(SHA256.hex(bytes).prefix(8))"), audit.stdout + audit.stderr)
        let restore = try sb.lifeboat("restore", "latest", "--to", sb.path("r.db"), "--json")
        XCTAssertEqual(try restore.json()["integrity"] as? String, "ok", "an attestation that does not authenticate proves nothing")
    }

    func testPruneRemovesTheAttestationsOfForgottenSnapshots() throws {
        let sb = try Sandbox()
        let db = sb.path("a.db")
        try TestDB.create(db, journal: "wal", rows: 300)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        XCTAssertEqual(try sb.lifeboat("verify").status, 0)
        try TestDB.create(sb.path("b.db"), journal: "wal", rows: 500)
        try FileManager.default.removeItem(atPath: db)
        try FileManager.default.copyItem(atPath: sb.path("b.db"), toPath: db)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        XCTAssertEqual(try sb.lifeboat("verify", "--unverified").status, 0)
        XCTAssertEqual(try sb.openRepository().listAttestations().count, 2)
        let forget = try sb.lifeboat("forget", "--keep-last", "1", "--prune", "--json")
        XCTAssertEqual(forget.status, 0, forget.stderr)
        XCTAssertEqual((try forget.json()["prune"] as? [String: Any])?["attestations_deleted"] as? Int, 1)
        let left = try sb.openRepository().listAttestations()
        XCTAssertEqual(left.count, 1)
        XCTAssertEqual(left.first?.attestation.snapshot, try sb.openRepository().listSnapshots().last?.id)
        XCTAssertEqual(try sb.lifeboat("check").status, 0)
    }
}

extension VerifyTests {
    /// `status` names a source whose newest snapshot failed verification (exit 13) or waited
    /// longer than `verify_within` for one (exit 20), and its metrics say so.
    func testStatusReportsFailedAndOverdueVerification() throws {
        let sb = try Sandbox()
        let good = sb.path("good.db"), bad = sb.path("bad.db")
        try TestDB.create(good, journal: "wal", rows: 200)
        try makeDamagedDatabase(bad)
        let config = sb.path("lifeboat.yml")
        let metrics = sb.path("lifeboat.prom")
        try Data("""
            repositories: [\(sb.repo)]
            defaults: { verify_within: 1ms }
            metrics_file: \(metrics)
            sources:
              - { name: good, path: \(good) }
              - { name: bad, path: \(bad), verify_within: 30d }
            """.utf8).write(to: URL(fileURLWithPath: config))
        let env = ["LIFEBOAT_CONFIG": config]
        XCTAssertEqual(try sb.lifeboat("init", env: env).status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", env: env).status, 0)
        // By now the good source's newest snapshot is older than its 1 ms verify_within.

        let overdue = try sb.lifeboat("status", "--json", env: env)
        XCTAssertEqual(overdue.status, 20, overdue.stderr)
        XCTAssertTrue(overdue.stderr.contains("good"), overdue.stderr)
        XCTAssertFalse(overdue.stderr.contains("bad"), "30d has not passed for 'bad': \(overdue.stderr)")
        let sources = try XCTUnwrap(try overdue.json()["sources"] as? [[String: Any]])
        XCTAssertEqual(sources.first { $0["source"] as? String == "good" }?["verify_overdue"] as? Bool, true)

        XCTAssertEqual(try sb.lifeboat("verify", "--source", "good", env: env).status, 0)
        XCTAssertEqual(try sb.lifeboat("status", env: env).status, 0)
        XCTAssertEqual(try sb.lifeboat("verify", "--source", "bad", env: env).status, 13)
        let failed = try sb.lifeboat("status", env: env)
        XCTAssertEqual(failed.status, 13, failed.stderr)
        XCTAssertTrue(failed.stderr.contains("bad"), failed.stderr)
        XCTAssertTrue(failed.stdout.contains("VERIFY FAILED"), failed.stdout)
        let prom = String(decoding: try FileIO.readFile(metrics), as: UTF8.self)
        XCTAssertTrue(prom.contains("lifeboat_newest_snapshot_verified{source=\"bad\"} -1"), prom)
        XCTAssertTrue(prom.contains("lifeboat_newest_snapshot_verified{source=\"good\"} 1"), prom)
    }
}
