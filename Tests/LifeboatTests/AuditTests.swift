import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// The audit trail: every operation recorded, nothing secret in it, and every edit, deletion,
/// truncation or replay reported by `audit verify` with the exact record.
final class AuditTests: XCTestCase {
    /// A repository with init, two snapshots, a restore and a check recorded.
    func makeAuditedRepository(_ sb: Sandbox, marker: String = "PLAINTEXT-MARKER") throws -> (db: String, snapshots: [String]) {
        let db = sb.path("audit.db")
        try TestDB.create(db, journal: "wal", rows: 800, marker: marker)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let a = try XCTUnwrap(try sb.lifeboat("snapshot", db, "--json").json()["id"] as? String)
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE items SET n = n + 1 WHERE id % 10 = 0")
        let b = try XCTUnwrap(try sb.lifeboat("snapshot", db, "--json").json()["id"] as? String)
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", sb.path("r.db")).status, 0)
        XCTAssertEqual(try sb.lifeboat("check").status, 0)
        return (db, [a, b])
    }

    func localLog(_ sb: Sandbox) throws -> String {
        let dir = sb.path("audit-log")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jsonl") }
        XCTAssertEqual(files.count, 1)
        return dir + "/" + (files.first ?? "")
    }

    func lines(_ path: String) throws -> [String] {
        String(decoding: try FileIO.readFile(path), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func write(_ lines: [String], to path: String) throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    func testEveryOperationIsRecordedWithoutSecretsOrContent() throws {
        let sb = try Sandbox()
        let marker = "PATIENT-NAME-Quinzel-4711"
        let (_, snaps) = try makeAuditedRepository(sb, marker: marker)
        XCTAssertEqual(try sb.lifeboat("restore", "nope", "--to", sb.path("x.db")).status, 1, "a failed restore")
        let show = try sb.lifeboat("audit", "show", "--json")
        XCTAssertEqual(show.status, 0, show.stderr)
        let records = try show.jsonArray()
        XCTAssertEqual(records.compactMap { $0["operation"] as? String }, ["init", "snapshot", "snapshot", "restore", "check", "restore"])
        XCTAssertEqual(records.compactMap { $0["result"] as? String }, ["ok", "ok", "ok", "ok", "ok", "failed"])
        let first = try XCTUnwrap(records.first)
        for field in ["time", "host", "user", "repository", "chain", "prev"] { XCTAssertNotNil(first[field], field) }
        let details = try XCTUnwrap(records[1]["details"] as? [String: Any])
        XCTAssertEqual(details["snapshot"] as? String, snaps[0])
        XCTAssertNotNil(details["pages"] as? Int)
        XCTAssertEqual(records[1]["source"] as? String, "audit.db")
        XCTAssertNotNil(records[5]["error"] as? String)

        // Local and repository copies: no passphrase, no database content, and encrypted in the repository.
        let local = try FileIO.readFile(try localLog(sb))
        let st = try XCTUnwrap(try FileIO.status(try localLog(sb)))
        XCTAssertEqual(st.mode & 0o077, 0, "the local log is private to its owner")
        for needle in [Sandbox.passphrase, marker, "lorem ipsum"] {
            XCTAssertFalse(local.contains(needle), "\(needle) in the local audit log")
            XCTAssertFalse(show.stdout.contains(needle))
        }
        for info in try LocalBackend(path: sb.repo).list(.audit) {
            let stored = try LocalBackend(path: sb.repo).get(info.key)
            XCTAssertFalse(stored.contains("snapshot") || stored.contains("audit.db"), "audit objects are encrypted")
        }
        let verify = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stdout.contains("6 local record(s), 6 in the repository"), verify.stdout)
    }

    func testAnEditedLocalRecordIsReportedWithTheExactRecord() throws {
        let sb = try Sandbox()
        _ = try makeAuditedRepository(sb)
        let path = try localLog(sb)
        var l = try lines(path)
        let edited = l[2].replacingOccurrences(of: "\"result\":\"ok\"", with: "\"result\":\"failed\"")
        XCTAssertNotEqual(edited, l[2])
        l[2] = edited
        try write(l, to: path)
        let v = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(v.status, 13)
        XCTAssertTrue(v.stdout.contains("record: " + edited), "the edited record is shown exactly: \(v.stdout)")
        XCTAssertTrue(v.stdout.contains("chain breaks at line 4"), v.stdout)
        XCTAssertTrue(v.stderr.contains("audit trail is broken"), v.stderr)
    }

    func testADeletedLocalRecordAndACutShortLocalLogAreReported() throws {
        let sb = try Sandbox()
        _ = try makeAuditedRepository(sb)
        let path = try localLog(sb)
        let original = try lines(path)
        var l = original
        l.remove(at: 1)
        try write(l, to: path)
        let v = try sb.lifeboat("audit", "verify", "--json")
        XCTAssertEqual(v.status, 13)
        let problems = try XCTUnwrap(try v.json()["problems"] as? [[String: Any]])
        XCTAssertTrue(problems.contains { ($0["message"] as? String ?? "").contains("chain breaks at line 2") && $0["record"] as? String == original[2] }, "\(problems)")
        XCTAssertTrue(problems.contains { ($0["message"] as? String ?? "").contains("not in the local log") && $0["record"] as? String == original[1] })

        // Cutting the newest records off the local log: the repository still has them.
        try write(Array(original.dropLast(2)), to: path)
        let cut = try sb.lifeboat("audit", "verify", "--json")
        XCTAssertEqual(cut.status, 13)
        let cutProblems = try XCTUnwrap(try cut.json()["problems"] as? [[String: Any]])
        XCTAssertEqual(cutProblems.filter { ($0["message"] as? String ?? "").contains("cut short") }.count, 2)
    }

    func testDeletedRepositoryRecordsAreReported() throws {
        let sb = try Sandbox()
        _ = try makeAuditedRepository(sb)
        let repo = try sb.openRepository()
        let log = AuditLog(repository: repo, directory: sb.path("audit-log"))
        // Find the repository object of record 3 (a middle one) and of the newest (5).
        var objectOf: [Int: String] = [:]
        for info in try repo.backend.list(.audit) {
            let r = try AuditRecord.decode(line: try repo.loadObject(info.key))
            objectOf[r.seq] = info.key.path
        }
        XCTAssertEqual(objectOf.keys.sorted(), [1, 2, 3, 4, 5])
        XCTAssertTrue(try AuditVerifier(log: log).run().ok)
        try FileManager.default.removeItem(atPath: sb.repo + "/" + (objectOf[3] ?? ""))
        let v = try AuditVerifier(log: log).run()
        XCTAssertFalse(v.ok)
        XCTAssertTrue(v.problems.contains { $0.place == "repository" && $0.message.contains("record 3 of chain") && $0.message.contains("missing") }, "\(v.problems)")
        XCTAssertTrue(v.problems.contains { $0.message.contains("local record 3 is missing from the repository") })
        // The newest record deleted from the repository is visible against the local log.
        try FileManager.default.removeItem(atPath: sb.repo + "/" + (objectOf[5] ?? ""))
        let v2 = try AuditVerifier(log: log).run()
        XCTAssertTrue(v2.problems.contains { $0.message.contains("local record 5 is missing from the repository") }, "\(v2.problems)")
        // A record object tampered with fails authentication (and `check` reports it too).
        let target = sb.repo + "/" + (objectOf[2] ?? "")
        var bytes = try FileIO.readFile(target)
        bytes[bytes.count / 2] ^= 1
        chmod(target, 0o600)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        XCTAssertTrue(try AuditVerifier(log: log).run().problems.contains { $0.message.contains("does not match its name") })
        XCTAssertEqual(try sb.lifeboat("check").status, 13)
    }

    /// Manifests are content-addressed and authenticated, so an attacker with only storage
    /// access cannot forge or edit one; what they can do is delete the newest (a rollback:
    /// "latest" silently becomes older) or put back one that forget/prune removed (a replay).
    /// Both are caught by comparing the snapshots present with the audit trail.
    func testARolledBackAndAReplayedManifestAreDetected() throws {
        let sb = try Sandbox()
        let (_, snaps) = try makeAuditedRepository(sb)
        let manifestB = sb.repo + "/snapshots/" + snaps[1]
        try FileManager.default.moveItem(atPath: manifestB, toPath: sb.path("stolen-manifest"))
        let rolledBack = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(rolledBack.status, 13)
        XCTAssertTrue(rolledBack.stdout.contains("snapshot \(snaps[1].prefix(8))") && rolledBack.stdout.contains("missing from the repository"), rolledBack.stdout)

        // A forget (as the retention module records it) removes snapshot B; then B is put back.
        let repo = try sb.openRepository()
        AuditLog(repository: repo, directory: sb.path("audit-log")).record(
            operation: "forget", source: "audit.db", result: .ok, details: [AuditDetail.removedSnapshots: .string(snaps[1])])
        XCTAssertEqual(try sb.lifeboat("audit", "verify").status, 0, "after the recorded forget, B's absence is expected")
        try FileManager.default.moveItem(atPath: sb.path("stolen-manifest"), toPath: manifestB)
        let replayed = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(replayed.status, 13)
        XCTAssertTrue(replayed.stdout.contains("replayed manifest"), replayed.stdout)

        // Swapping two manifests' contents (each under the other's name) fails their names.
        let a = sb.repo + "/snapshots/" + snaps[0]
        let bytesA = try FileIO.readFile(a), bytesB = try FileIO.readFile(manifestB)
        chmod(a, 0o600)
        chmod(manifestB, 0o600)
        try Data(bytesB).write(to: URL(fileURLWithPath: a))
        try Data(bytesA).write(to: URL(fileURLWithPath: manifestB))
        let restore = try sb.lifeboat("restore", snaps[0], "--to", sb.path("swapped.db"))
        XCTAssertEqual(restore.status, 13)
        XCTAssertTrue(restore.stderr.contains("does not match its name"), restore.stderr)
    }

    func testConcurrentRunsNeverForkTheChain() throws {
        let sb = try Sandbox()
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let repo = try sb.openRepository()
        let log = AuditLog(repository: repo, directory: sb.path("audit-log"))
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            log.record(operation: "check", source: "s\(i % 3)", result: .ok, details: ["i": .int(i)])
        }
        let recorded = Date()
        let v = try AuditVerifier(log: log).run()
        print(String(format: "audit: 40 concurrent records in %.3f s (fsync'd locally + stored encrypted), verify of 41 in %.3f s",
                     recorded.timeIntervalSince(started), Date().timeIntervalSince(recorded)))
        XCTAssertTrue(v.ok, "\(v.problems)")
        XCTAssertEqual(v.localRecords, 41)
        XCTAssertEqual(v.repositoryRecords, 41)
        XCTAssertEqual(v.chains, 1)
    }
}
