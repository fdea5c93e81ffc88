import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// S3 Object Lock against moto over TLS: what moto enforces (retention on PUT, DELETE of a
/// locked version refused, governance bypass, delete markers on versioned buckets) is tested
/// as the server does it, through the real binary.
final class ObjectLockTests: XCTestCase {
    static let port = S3TestServer.basePort + 14

    struct Setup {
        let sb: Sandbox
        let server: S3TestServer.Info
        /// A fresh bucket per test: Object Lock is a property of the bucket.
        let bucket: String
        let repo: String
        let env: [String: String]
    }

    func makeSetup(_ name: String = #function) throws -> Setup {
        let sb = try Sandbox(name)
        let server = try S3TestServer.start("objlock", port: Self.port)
        let bucket = "lk-" + UUID().uuidString.lowercased().prefix(20)
        var env = S3TestServer.dummyEnvironment
        env["LIFEBOAT_CACERT"] = server.caCert
        env["LIFEBOAT_S3_RETRY_SECONDS"] = "3"
        env["LIFEBOAT_REPOSITORY"] = ""
        return Setup(sb: sb, server: server, bucket: String(bucket), repo: "s3:\(server.endpoint)/\(bucket)/repo", env: env)
    }

    func lifeboat(_ s: Setup, _ args: [String], repos: [String]? = nil) throws -> CLIResult {
        try CLI.run(args + (repos ?? [s.repo]).flatMap { ["--repo", $0] }, env: s.sb.env(s.env))
    }

    /// The S3 backend itself, for looking behind Lifeboat's back (and acting as an attacker).
    func backend(_ s: Setup) throws -> S3Backend {
        let b = try openBackend(location: s.repo, options: BackendOptions(caCertPath: s.server.caCert, environment: S3TestServer.dummyEnvironment))
        return try XCTUnwrap(b as? S3Backend)
    }

    /// What someone holding the bucket's credentials does: DELETE by key (no versionId).
    func attackerDeletesEverything(_ b: S3Backend) throws -> Int {
        var n = 0
        for kind in ObjectKind.allCases {
            for o in try b.list(kind) {
                let r = try b.send("DELETE", key: o.key.path)
                XCTAssertEqual(r.response.status, 204, "attacker's DELETE of \(o.key.path)")
                n += 1
            }
        }
        return n
    }

    func testLockedWritesCarryRetentionAndLockedVersionsCannotBeDeleted() throws {
        let s = try makeSetup()
        let db = s.sb.path("p.db")
        try TestDB.createMixed(db, megabytes: 3)
        let initResult = try lifeboat(s, ["init", "--object-lock", "compliance", "--retain", "2"])
        XCTAssertEqual(initResult.status, 0, initResult.stderr)
        XCTAssertTrue(initResult.stdout.contains("object lock"), initResult.stdout)
        // Later runs take the policy from the encrypted config: no flags.
        let snap = try lifeboat(s, ["snapshot", db])
        XCTAssertEqual(snap.status, 0, snap.stderr)

        let b = try backend(s)
        XCTAssertTrue(try b.objectLockEnabled())
        XCTAssertTrue(try b.isVersioned())
        let expected = Date().addingTimeInterval(2 * 86400)
        var checked = 0
        for kind in [ObjectKind.config, .keys, .data, .index, .snapshots] {
            let objects = try kind == .config ? [ObjectInfo(key: .config, size: 0)] : b.list(kind)
            XCTAssertFalse(objects.isEmpty, "\(kind) has objects")
            for o in objects {
                let held = try XCTUnwrap(try b.retention(o.key, versionID: nil), "\(o.key.path) carries no retention")
                XCTAssertEqual(held.mode, "COMPLIANCE")
                XCTAssertEqual(held.until.timeIntervalSince1970, expected.timeIntervalSince1970, accuracy: 120)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 4)
        // Audit records are a hash chain, not locked (documented); lock objects are gone.
        for o in try b.list(.audit) { XCTAssertNil(try b.retention(o.key, versionID: nil)) }
        XCTAssertEqual(try b.list(.locks).count, 0)

        // DELETE of the locked version itself: refused by the server (compliance: also with bypass).
        let pack = try XCTUnwrap(try b.list(.data).first).key
        let version = try XCTUnwrap(try b.versions(of: pack).first)
        let refused = try b.send("DELETE", key: pack.path, query: [("versionId", version.versionID)])
        XCTAssertEqual(refused.response.status, 403)
        let bypassed = try b.send("DELETE", key: pack.path, query: [("versionId", version.versionID)],
                                  headers: [("x-amz-bypass-governance-retention", "true")])
        XCTAssertEqual(bypassed.response.status, 403, "compliance mode cannot be bypassed")
        b.setObjectLock(ObjectLockRuntime(bypassGovernance: true))
        XCTAssertThrowsError(try b.delete(pack)) { error in
            let retained = error as? ObjectRetained
            XCTAssertNotNil(retained, "\(error)")
            XCTAssertEqual(retained?.until.timeIntervalSince1970 ?? 0, expected.timeIntervalSince1970, accuracy: 120)
        }
        XCTAssertNotNil(try b.stat(pack), "a retained object stays readable")

        // check --json reports the retain-until range.
        let check = try lifeboat(s, ["check", "--json"])
        XCTAssertEqual(check.status, 0, check.stderr)
        let locks = try XCTUnwrap(try check.json()["object_lock"] as? [[String: Any]])
        XCTAssertEqual(locks.count, 1)
        XCTAssertEqual(locks[0]["enabled"] as? Bool, true)
        XCTAssertEqual(locks[0]["locked"] as? Int, checked)
        XCTAssertEqual(locks[0]["unlocked"] as? Int, 0)
        XCTAssertEqual(locks[0]["modes"] as? [String], ["compliance"])
        let earliest = try XCTUnwrap((locks[0]["earliest_retain_until"] as? String).flatMap(RFC3339.parse))
        let latest = try XCTUnwrap((locks[0]["latest_retain_until"] as? String).flatMap(RFC3339.parse))
        XCTAssertLessThanOrEqual(earliest, latest)
        XCTAssertEqual(latest.timeIntervalSince1970, expected.timeIntervalSince1970, accuracy: 120)
        let text = try lifeboat(s, ["check"])
        XCTAssertTrue(text.stdout.contains("object(s) locked (compliance) until"), text.stdout)
    }

    /// The scenario of issue 7: an attacker deletes the primary's objects and, with the
    /// replica's credentials, "deletes" the locked replica's too (delete markers). Restore
    /// still succeeds from the locked versions and says what happened.
    func testAttackerDeletesPrimaryAndLockedReplicaRestoreStillWorks() throws {
        let s = try makeSetup()
        let primary = s.sb.path("primary-repo")
        let db = s.sb.path("p.db")
        try TestDB.createMixed(db, megabytes: 3)
        let both = [primary, s.repo]
        XCTAssertEqual(try lifeboat(s, ["init", "--object-lock", "governance", "--retain", "1"], repos: both).status, 0)
        let snap = try lifeboat(s, ["snapshot", db], repos: both)
        XCTAssertEqual(snap.status, 0, snap.stderr)
        try TestDB.checkpoint(db)
        let original = try FileIO.readFile(db)

        // The attack: the primary directory is wiped, every replica object deleted by key.
        try FileManager.default.removeItem(atPath: primary)
        try FileManager.default.createDirectory(atPath: primary, withIntermediateDirectories: true)
        let b = try backend(s)
        let deleted = try attackerDeletesEverything(b)
        XCTAssertGreaterThan(deleted, 4)
        let plainGet = try b.send("GET", key: ObjectKey.config.path)
        XCTAssertEqual(plainGet.response.status, 404, "GET by key sees the delete marker")

        for (name, repos) in [("replica-alone", [s.repo]), ("both", both)] {
            let out = s.sb.path("restored-\(name).db")
            let r = try lifeboat(s, ["restore", "latest", "--to", out], repos: repos)
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            XCTAssertEqual(try FileIO.readFile(out), original, name)
            XCTAssertTrue(r.stderr.contains("delete markers") && r.stderr.contains("retained versions"), "\(name): \(r.stderr)")
        }

        // check sees the attack: every object hidden by a delete marker, still locked.
        let check = try lifeboat(s, ["check", "--read-data", "--json"], repos: [s.repo])
        XCTAssertEqual(check.status, 0, check.stderr)
        let lock = try XCTUnwrap((try check.json()["object_lock"] as? [[String: Any]])?.first)
        XCTAssertEqual(lock["hidden_by_delete_marker"] as? Int, lock["locked"] as? Int)
        XCTAssertGreaterThan(lock["locked"] as? Int ?? 0, 0)

        // sync seeds a new clean copy from the locked versions.
        let fresh = s.sb.path("rebuilt")
        let sync = try CLI.run(["sync", "--from", s.repo, "--to", fresh], env: s.sb.env(s.env))
        XCTAssertEqual(sync.status, 0, sync.stderr)
        let out = s.sb.path("restored-rebuilt.db")
        XCTAssertEqual(try lifeboat(s, ["restore", "latest", "--to", out], repos: [fresh]).status, 0)
        XCTAssertEqual(try FileIO.readFile(out), original)
    }

    func testPruneLeavesRetainedObjectsAndReportsThem() throws {
        let s = try makeSetup()
        let db = s.sb.path("p.db")
        try TestDB.create(db, rows: 3000)
        XCTAssertEqual(try lifeboat(s, ["init", "--object-lock", "governance", "--retain", "1"]).status, 0)
        XCTAssertEqual(try lifeboat(s, ["snapshot", db]).status, 0)
        let conn = try SQLiteConnection(path: db)
        try conn.execute("UPDATE items SET n = n + 1 WHERE id % 3 = 0")
        try TestDB.checkpoint(db)
        XCTAssertEqual(try lifeboat(s, ["snapshot", db]).status, 0)

        // Without bypass, forget cannot delete a locked manifest: a clear refusal (exit 3).
        let refused = try lifeboat(s, ["forget", "--keep-last", "1"])
        XCTAssertEqual(refused.status, 3, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("under object lock (governance) until"), refused.stderr)
        let forget = try lifeboat(s, ["forget", "--keep-last", "1", "--bypass-governance"])
        XCTAssertEqual(forget.status, 0, forget.stderr)

        // prune: what is still retained stays, is counted, and prune completes.
        let p = try lifeboat(s, ["prune", "--json"])
        XCTAssertEqual(p.status, 0, p.stderr)
        let report = try p.json()
        XCTAssertGreaterThan(report["objects_retained"] as? Int ?? 0, 0, p.stdout)
        let until = try XCTUnwrap((report["retained_until_latest"] as? String).flatMap(RFC3339.parse))
        XCTAssertEqual(until.timeIntervalSince1970, Date().addingTimeInterval(86400).timeIntervalSince1970, accuracy: 300)
        let text = try lifeboat(s, ["prune"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("under Object Lock retention until"), text.stdout)
        // What prune left is consistent: check is clean and the kept snapshot restores.
        let check = try lifeboat(s, ["check", "--read-data"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        let out = s.sb.path("r.db")
        XCTAssertEqual(try lifeboat(s, ["restore", "latest", "--to", out]).status, 0)

        // With an explicit bypass, governance retention gives way and the data really goes.
        let b = try backend(s)
        let packsBefore = try b.listVersions(prefix: "repo/data/").count
        let bypass = try lifeboat(s, ["prune", "--bypass-governance", "--json"])
        XCTAssertEqual(bypass.status, 0, bypass.stderr)
        XCTAssertEqual(try bypass.json()["objects_retained"] as? Int, 0)
        XCTAssertLessThan(try b.listVersions(prefix: "repo/data/").count, packsBefore, "versions are deleted, not hidden")
        XCTAssertEqual(try lifeboat(s, ["check", "--read-data"]).status, 0)
    }

    /// Objects over the multipart threshold: the lock headers go on the initiation and every
    /// part carries its Content-MD5; moto accepts the upload. (moto 5.2.1 does not keep the
    /// retention of multipart uploads, so it cannot be checked here; AWS does keep it.)
    func testMultipartUploadWithObjectLockIsAccepted() throws {
        let s = try makeSetup()
        let options = S3Options(multipartThreshold: 6 << 20, partSize: 5 << 20, retry: RetryPolicy(maxAttempts: 2, baseDelay: 0.1, maxDelay: 0.2, maxTotal: 2))
        let b = try XCTUnwrap(try openBackend(location: s.repo, options: BackendOptions(caCertPath: s.server.caCert, s3: options,
                                                                                         environment: S3TestServer.dummyEnvironment)) as? S3Backend)
        b.setObjectLock(ObjectLockRuntime(policy: try ObjectLockPolicy(mode: .governance, retainDays: 3)))
        try b.create()
        let bytes = (0..<(11 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let key = ObjectKey(.data, SHA256.hex(bytes))
        try b.put(key, bytes)
        XCTAssertEqual(try b.get(key), bytes)
        XCTAssertGreaterThanOrEqual(try S3TestServer.requests(s.server, containing: "partNumber=").filter { $0.path.contains(key.name) }.count, 3)
        // Deleting removes every version, not just the current one.
        try b.delete(key)
        XCTAssertNil(try b.stat(key))
        XCTAssertEqual(try b.versions(of: key).count, 0)
    }

    /// lifeboat.yml may carry the policy; a bad one names the line and never applies half.
    func testConfigFileObjectLock() throws {
        let sb = try Sandbox()
        let good = sb.path("good.yml")
        try "repositories: [/tmp/x]\nobject_lock: { mode: governance, retain_days: 14 }\n".write(toFile: good, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ConfigLoader.load(path: good).objectLock, try ObjectLockPolicy(mode: .governance, retainDays: 14))
        for (name, text) in [("mode", "object_lock: { mode: forever, retain_days: 14 }"), ("days", "object_lock: { mode: compliance }"),
                             ("zero", "object_lock: { mode: compliance, retain_days: 0 }")] {
            let bad = sb.path("bad-\(name).yml")
            try "repositories: [/tmp/x]\n\(text)\n".write(toFile: bad, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try ConfigLoader.load(path: bad)) { e in
                XCTAssertTrue((e as? LifeboatError)?.message.contains("line 2") ?? false, "\(name): \(e)")
            }
        }
    }

    func testInitOnABucketWithoutObjectLockFailsClearly() throws {
        let s = try makeSetup()
        // An ordinary bucket, created without Object Lock.
        try backend(s).create()
        let r = try lifeboat(s, ["init", "--object-lock", "compliance", "--retain", "7"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("exists without Object Lock"), r.stderr)
        XCTAssertFalse(try backend(s).exists(.config), "nothing was initialised")
        // Bad flags are usage errors.
        XCTAssertEqual(try lifeboat(s, ["init", "--object-lock", "forever", "--retain", "7"]).status, 64)
        XCTAssertEqual(try lifeboat(s, ["init", "--object-lock", "compliance"]).status, 64)
        // Without lock the same bucket takes a repository, and a later locked snapshot is
        // refused with a clear message rather than stored unlocked.
        XCTAssertEqual(try lifeboat(s, ["init"]).status, 0)
        let db = s.sb.path("p.db")
        try TestDB.create(db, rows: 200)
        let snap = try lifeboat(s, ["snapshot", db, "--object-lock", "compliance", "--retain", "1"])
        XCTAssertNotEqual(snap.status, 0)
        XCTAssertTrue(snap.stderr.contains("has no Object Lock"), snap.stderr)
    }
}
