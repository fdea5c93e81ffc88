import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// `lifeboat iam-policy`: each role gets exactly the S3 actions its operations use.
final class IAMPolicyTests: XCTestCase {
    /// Action → resources, merged over the policy's statements.
    func grants(_ role: String, prefix: String? = "lifeboat/prod", extra: [String] = []) throws -> (actions: [String: Set<String>], doc: [String: Any]) {
        let sb = try Sandbox()
        var args = ["iam-policy", "--role", role, "--bucket", "bpm-backups"]
        if let prefix { args += ["--prefix", prefix] }
        args += extra
        let r = try CLI.run(args, env: sb.env())
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try r.json()
        XCTAssertEqual(doc["Version"] as? String, "2012-10-17")
        var out: [String: Set<String>] = [:]
        for s in doc["Statement"] as? [[String: Any]] ?? [] {
            XCTAssertEqual(s["Effect"] as? String, "Allow")
            for a in s["Action"] as? [String] ?? [] { out[a, default: []].formUnion(s["Resource"] as? [String] ?? []) }
        }
        return (out, doc)
    }

    func testBackupCanReadAndWriteNewObjectsButNeverDeleteData() throws {
        let (a, doc) = try grants("backup")
        XCTAssertEqual(Set(a.keys), ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
        XCTAssertEqual(a["s3:DeleteObject"], ["arn:aws:s3:::bpm-backups/lifeboat/prod/locks/*"], "a backup may remove only lock objects")
        XCTAssertEqual(a["s3:GetObject"], ["arn:aws:s3:::bpm-backups/lifeboat/prod/*"])
        XCTAssertEqual(a["s3:ListBucket"], ["arn:aws:s3:::bpm-backups"])
        let puts = try XCTUnwrap(a["s3:PutObject"])
        XCTAssertTrue(puts.contains("arn:aws:s3:::bpm-backups/lifeboat/prod/data/*"))
        XCTAssertTrue(puts.contains("arn:aws:s3:::bpm-backups/lifeboat/prod/damaged/*"), "a snapshot records the damaged packs it finds")
        XCTAssertFalse(puts.contains { $0.hasSuffix("/keys/*") || $0.hasSuffix("/config") || $0.hasSuffix("prod/*") }, "backup cannot replace keys or config")
        let list = (doc["Statement"] as? [[String: Any]] ?? []).first { ($0["Action"] as? [String]) == ["s3:ListBucket"] }
        let condition = list?["Condition"] as? [String: [String: [String]]]
        XCTAssertEqual(condition?["StringLike"]?["s3:prefix"], ["lifeboat/prod/*"])
    }

    func testPruneAddsDeleteButNotOfKeysOrTheAuditTrail() throws {
        let (a, _) = try grants("prune")
        let deletes = try XCTUnwrap(a["s3:DeleteObject"])
        // segments/: replicate's transactions, removed by prune once no kept snapshot replays them.
        XCTAssertEqual(deletes, Set(["data/*", "index/*", "snapshots/*", "locks/*", "attestations/*", "segments/*"].map { "arn:aws:s3:::bpm-backups/lifeboat/prod/\($0)" }))
        XCTAssertNotNil(a["s3:PutObject"])
        // `verify` runs with the backup role: it adds attestations, and cannot delete them.
        let (backup, _) = try grants("backup")
        XCTAssertEqual(backup["s3:PutObject"]?.contains("arn:aws:s3:::bpm-backups/lifeboat/prod/attestations/*"), true)
        XCTAssertEqual(backup["s3:DeleteObject"], ["arn:aws:s3:::bpm-backups/lifeboat/prod/locks/*"])
        // replicate runs with the backup role: it adds segments and never deletes them.
        XCTAssertEqual(backup["s3:PutObject"]?.contains("arn:aws:s3:::bpm-backups/lifeboat/prod/segments/*"), true)
    }

    func testRestoreReadsAndOnlyWritesAuditAndDamageRecords() throws {
        let (a, _) = try grants("restore", prefix: nil)
        XCTAssertEqual(Set(a.keys), ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject"])
        XCTAssertEqual(a["s3:PutObject"], ["arn:aws:s3:::bpm-backups/audit/*", "arn:aws:s3:::bpm-backups/damaged/*"])
        XCTAssertEqual(a["s3:GetObject"], ["arn:aws:s3:::bpm-backups/*"])
        XCTAssertNil(a["s3:DeleteObject"])
    }

    func testObjectLockAddsVersionReadsRetentionAndVersionDeletesOnlyForPrune() throws {
        let (backup, _) = try grants("backup", extra: ["--object-lock"])
        XCTAssertNotNil(backup["s3:GetObjectVersion"])
        XCTAssertNotNil(backup["s3:ListBucketVersions"])
        XCTAssertEqual(backup["s3:PutObjectRetention"]?.contains("arn:aws:s3:::bpm-backups/lifeboat/prod/data/*"), true)
        XCTAssertNil(backup["s3:DeleteObjectVersion"], "backup credentials cannot delete versions")
        let (prune, _) = try grants("prune", extra: ["--object-lock"])
        XCTAssertEqual(prune["s3:DeleteObjectVersion"], Set(["data/*", "index/*", "snapshots/*", "locks/*", "attestations/*", "segments/*"].map { "arn:aws:s3:::bpm-backups/lifeboat/prod/\($0)" }))
        XCTAssertNil(prune["s3:BypassGovernanceRetention"], "bypass is never granted by default")
        let (restore, _) = try grants("restore", extra: ["--object-lock"])
        XCTAssertNil(restore["s3:PutObjectRetention"])
        XCTAssertNotNil(restore["s3:GetObjectVersion"])
    }

    func testBadRoleOrBucketIsAUsageError() throws {
        let sb = try Sandbox()
        XCTAssertEqual(try CLI.run(["iam-policy", "--role", "root", "--bucket", "bpm-backups"], env: sb.env()).status, 64)
        XCTAssertEqual(try CLI.run(["iam-policy", "--role", "backup", "--bucket", "Bad_Bucket"], env: sb.env()).status, 64)
        XCTAssertEqual(try CLI.run(["iam-policy", "--role", "backup", "--bucket", "ok-bucket", "--prefix", "a*"], env: sb.env()).status, 64)
    }
}
