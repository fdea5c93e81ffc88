import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Retention meets the security features: prune across key generations (after `key rotate`),
/// and forget/prune in the audit trail.
final class RetentionIntegrationTests: XCTestCase {
    /// The generation whose encryption key opens each pack's header, by pack name (nil: none does).
    static func packGenerations(_ repo: Repository) throws -> [String: UInt32?] {
        var out: [String: UInt32?] = [:]
        for info in try repo.backend.list(.data) {
            let pack = try repo.backend.get(info.key)
            var found: UInt32?
            for g in repo.keyring.generations {
                let aead = try AEADContext(key: try repo.keyring.keys(generation: g).encryption)
                guard let entries = try? PackFormat.decodeHeader(pack: pack, aead: aead, name: info.key.name) else { continue }
                // Every blob of the pack must open with the same generation.
                let codec = try BlobCodec(keys: try repo.keyring.keys(generation: g))
                for e in entries {
                    XCTAssertNoThrow(try codec.plaintext(of: Array(pack[Int(e.offset)..<(Int(e.offset) + Int(e.length))]), entry: e),
                                     "pack \(info.key.name.prefix(8)) mixes key generations")
                }
                found = g
                break
            }
            out[info.key.name] = found
        }
        return out
    }

    /// Two sources so that both generations have forgotten snapshots whose packs are partly
    /// needed: source `a` has two pre-rotation snapshots (the first is forgotten), source `b`
    /// one pre-rotation and three post-rotation ones (the oldest two are forgotten). Prune must
    /// read page tables of both generations and repack each generation's blobs into packs
    /// sealed with that generation's key.
    func testPruneAfterKeyRotationRepacksEachGenerationSeparately() throws {
        let sb = try Sandbox()
        let a = sb.path("a.db"), b = sb.path("b.db")
        try TestDB.create(a, journal: "delete", rows: 3000, marker: "A")
        try TestDB.create(b, journal: "delete", rows: 3000, marker: "B")
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        var expected: [String: [UInt8]] = [:]
        func snapshot(_ db: String, _ source: String) throws -> String {
            let r = try sb.lifeboat("snapshot", db, "--source", source, "--json")
            XCTAssertEqual(r.status, 0, r.stderr)
            let id = try XCTUnwrap(try r.json()["id"] as? String)
            expected[id] = try FileIO.readFile(db)
            return id
        }
        let wa = try SQLiteConnection(path: a), wb = try SQLiteConnection(path: b)

        let a1 = try snapshot(a, "a")
        try wa.execute("UPDATE items SET body = 'a changed ' || id WHERE id % 7 = 0")
        let a2 = try snapshot(a, "a")
        let b1 = try snapshot(b, "b")
        let rotate = try sb.lifeboat("key", "rotate")
        XCTAssertEqual(rotate.status, 0, rotate.stderr)
        try wb.execute("UPDATE items SET body = 'b changed ' || id WHERE id % 5 = 0")
        let b2 = try snapshot(b, "b")
        try wb.execute("UPDATE items SET body = 'b again ' || id WHERE id % 9 = 0")
        let b3 = try snapshot(b, "b")
        try wb.execute("UPDATE items SET n = n + 1 WHERE id % 11 = 0")
        let b4 = try snapshot(b, "b")
        let repo = try sb.openRepository()
        XCTAssertNil(try repo.loadManifest(a2).keyGeneration)
        XCTAssertEqual(try repo.loadManifest(b4).keyGeneration, 1)

        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "1", "--source", "a").status, 0)
        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "2", "--source", "b").status, 0)
        let kept = try sb.lifeboat("snapshots", "--json").jsonArray().compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(kept), [a2, b3, b4])
        _ = (a1, b1, b2)

        let before = try Self.packGenerations(repo)
        XCTAssertFalse(before.values.contains(nil))
        XCTAssertEqual(Set(before.values.compactMap { $0 }), [0, 1])

        let p = try sb.lifeboat("prune", "--json")
        XCTAssertEqual(p.status, 0, p.stdout + p.stderr)
        let report = try p.json()
        XCTAssertGreaterThanOrEqual(report["packs_repacked"] as? Int ?? 0, 2, "both generations have partly used packs")
        XCTAssertGreaterThan(report["blobs_removed"] as? Int ?? 0, 0)

        // Each new pack is sealed with one generation, and both generations got new packs.
        let after = try Self.packGenerations(repo)
        XCTAssertFalse(after.values.contains(nil), "a pack header opens with no generation's key")
        let written = after.filter { before[$0.key] == nil }
        XCTAssertEqual(written.count, report["packs_written"] as? Int)
        XCTAssertEqual(Set(written.values.compactMap { $0 }), [0, 1], "repacked blobs of each generation go to packs of that generation")

        let check = try sb.lifeboat("check", "--read-data")
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        for id in [a2, b3, b4] {
            let out = sb.path("restored-\(id.prefix(8)).db")
            let r = try sb.lifeboat("restore", id, "--to", out)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try FileIO.readFile(out), expected[id], "snapshot \(id.prefix(8)) restores byte-identical after prune")
        }
        // Nothing left to do.
        let again = try sb.lifeboat("prune", "--json").json()
        XCTAssertEqual(again["packs_repacked"] as? Int, 0)
        XCTAssertEqual(again["packs_deleted"] as? Int, 0)
    }

    /// forget and prune are recorded, with the ids of the snapshots forget removed, so
    /// `audit verify` accounts for them; a manifest deleted by hand is still reported.
    func testForgetAndPruneAreAuditedAndVerifyStaysClean() throws {
        let sb = try Sandbox()
        let db = sb.path("audit.db")
        try TestDB.create(db, journal: "delete", rows: 1500)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let w = try SQLiteConnection(path: db)
        var ids: [String] = []
        for round in 0..<3 {
            let r = try sb.lifeboat("snapshot", db, "--json")
            XCTAssertEqual(r.status, 0, r.stderr)
            ids.append(try XCTUnwrap(try r.json()["id"] as? String))
            try w.execute("UPDATE items SET n = n + 1 WHERE id % 4 = \(round)")
        }
        let forget = try sb.lifeboat("forget", "--keep-last", "1")
        XCTAssertEqual(forget.status, 0, forget.stderr)
        let prune = try sb.lifeboat("prune", "--json")
        XCTAssertEqual(prune.status, 0, prune.stderr)
        let pruneReport = try prune.json()
        var verify = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)

        let records = try sb.lifeboat("audit", "show", "--json").jsonArray()
        let forgetRecords = records.filter { $0["operation"] as? String == "forget" }
        XCTAssertEqual(forgetRecords.count, 1)
        let forgetDetails = try XCTUnwrap(forgetRecords.first?["details"] as? [String: Any])
        XCTAssertEqual(Set((forgetDetails[AuditDetail.removedSnapshots] as? String ?? "").split(separator: ",").map(String.init)), Set(ids[0..<2]))
        XCTAssertEqual(forgetDetails["forgotten"] as? Int, 2)
        let pruneRecords = records.filter { $0["operation"] as? String == "prune" }
        XCTAssertEqual(pruneRecords.count, 1)
        XCTAssertEqual(pruneRecords.first?["result"] as? String, "ok")
        let pruneDetails = try XCTUnwrap(pruneRecords.first?["details"] as? [String: Any])
        XCTAssertEqual(pruneDetails["blobs_removed"] as? Int, pruneReport["blobs_removed"] as? Int)
        XCTAssertEqual(pruneDetails["bytes_deleted"] as? Int, pruneReport["bytes_deleted"] as? Int)
        XCTAssertGreaterThan(pruneDetails["bytes_deleted"] as? Int ?? 0, 0)

        // forget --prune: both recorded, still clean. Dry runs change nothing, the trail included.
        for _ in 0..<2 {
            try w.execute("UPDATE items SET n = n + 1 WHERE id % 6 = 0")
            let r = try sb.lifeboat("snapshot", db, "--json")
            XCTAssertEqual(r.status, 0, r.stderr)
            ids.append(try XCTUnwrap(try r.json()["id"] as? String))
        }
        let recordsBefore = try sb.lifeboat("audit", "show", "--json").jsonArray().count
        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "1", "--dry-run").status, 0)
        XCTAssertEqual(try sb.lifeboat("prune", "--dry-run").status, 0)
        XCTAssertEqual(try sb.lifeboat("audit", "show", "--json").jsonArray().count, recordsBefore)
        let older = sb.repo + "/snapshots/" + ids[3]
        let saved = try FileIO.readFile(older)
        let both = try sb.lifeboat("forget", "--keep-last", "1", "--prune")
        XCTAssertEqual(both.status, 0, both.stderr)
        verify = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let ops = try sb.lifeboat("audit", "show", "--json").jsonArray().compactMap { $0["operation"] as? String }
        XCTAssertEqual(ops.count, recordsBefore + 2)
        XCTAssertEqual(Array(ops.suffix(2)), ["forget", "prune"])

        // forget records before it deletes: a run killed in between leaves a manifest the trail
        // calls removed (as a replay does); verify reports it and a re-run of forget clears it.
        try Data(saved).write(to: URL(fileURLWithPath: older))
        verify = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(verify.status, 13)
        XCTAssertTrue(verify.stdout.contains("snapshot \(ids[3].prefix(8)) was removed by forget"), verify.stdout)
        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "1").status, 0)
        verify = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)

        // A manifest deleted by hand (not by forget) is still reported.
        let latest = try XCTUnwrap(ids.last)
        try FileManager.default.removeItem(atPath: sb.repo + "/snapshots/" + latest)
        verify = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(verify.status, 13)
        XCTAssertTrue(verify.stdout.contains("snapshot \(latest.prefix(8))") && verify.stdout.contains("no forget or prune removed it"), verify.stdout)
    }
}
