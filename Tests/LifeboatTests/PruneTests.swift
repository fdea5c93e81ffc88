import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Forget + prune: deleted data is really gone (checked by decrypting every object left in the
/// repository), the repository verifies clean afterwards, and a prune killed at any moment
/// leaves a usable repository that a re-run finishes.
final class PruneTests: XCTestCase {
    /// Decrypts every object in the repository (every blob of every pack present, indexed or
    /// not; every index file and manifest) and reports whether `needle` appears in any.
    static func repositoryContains(_ sb: Sandbox, _ needle: String) throws -> Bool {
        let repo = try sb.openRepository()
        let codec = try BlobCodec(keys: repo.keys)
        let aead = try AEADContext(key: repo.keys.encryption)
        let pattern = Array(needle.utf8)
        func has(_ bytes: [UInt8]) -> Bool {
            guard bytes.count >= pattern.count else { return false }
            return (0...(bytes.count - pattern.count)).contains { i in bytes[i] == pattern[0] && Array(bytes[i..<(i + pattern.count)]) == pattern }
        }
        var blobs = 0
        for info in try repo.backend.list(.data) {
            let pack = try repo.backend.get(info.key)
            XCTAssertFalse(has(pack), "plaintext in a stored pack")
            for e in try PackFormat.decodeHeader(pack: pack, aead: aead, name: info.key.name) {
                let plain = try codec.plaintext(of: Array(pack[Int(e.offset)..<(Int(e.offset) + Int(e.length))]), entry: e)
                blobs += 1
                if has(plain) { return true }
            }
        }
        XCTAssertGreaterThan(blobs, 0)
        for kind in [ObjectKind.index, .snapshots] {
            for info in try repo.backend.list(kind) where has(try repo.loadObject(info.key)) { return true }
        }
        // Leftover temporary files hold pack bytes too: none may remain after prune.
        return false
    }

    func testForgottenRowIsReallyGoneAfterPrune() throws {
        let sb = try Sandbox()
        let db = sb.path("gdpr.db")
        try TestDB.create(db, rows: 3000)
        let marker = "ERASE-ME-\(UUID().uuidString)"
        let conn = try SQLiteConnection(path: db)
        try conn.execute("PRAGMA secure_delete=ON")
        try conn.execute("INSERT INTO items(body, n) VALUES ('\(marker) data subject record', -1)")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        // The subject asks for erasure: the row is deleted (secure_delete zeroes it) and a new
        // snapshot taken; the old snapshots still hold it until forget + prune.
        try conn.execute("DELETE FROM items WHERE n = -1")
        try conn.execute("UPDATE items SET n = n + 1 WHERE id % 50 = 0")
        try TestDB.checkpoint(db)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        XCTAssertTrue(try Self.repositoryContains(sb, marker), "the search must be able to find the row before prune")

        let dry = try sb.lifeboat("forget", "--keep-last", "1", "--dry-run", "--json")
        XCTAssertEqual(try sb.lifeboat("snapshots", "--json").jsonArray().count, 2, "dry run changed something")
        let groups = try XCTUnwrap(try dry.json()["groups"] as? [[String: Any]])
        XCTAssertEqual((groups.first?["remove"] as? [Any])?.count, 1)

        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "1").status, 0)
        XCTAssertTrue(try Self.repositoryContains(sb, marker), "forget alone deletes manifests, not data")
        let before = directorySize(sb.repo)
        let pruneDry = try sb.lifeboat("prune", "--dry-run", "--json")
        XCTAssertEqual(directorySize(sb.repo), before, "prune --dry-run changed the repository")
        XCTAssertGreaterThan(try pruneDry.json()["blobs_removed"] as? Int ?? 0, 0)

        let p = try sb.lifeboat("prune", "--json")
        XCTAssertEqual(p.status, 0, p.stderr)
        let report = try p.json()
        XCTAssertGreaterThan((report["packs_repacked"] as? Int ?? 0) + (report["packs_deleted"] as? Int ?? 0), 0)
        XCTAssertFalse(try Self.repositoryContains(sb, marker), "the erased row is still in the repository after prune")
        XCTAssertLessThan(directorySize(sb.repo), before)

        let check = try sb.lifeboat("check", "--read-data")
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        let out = sb.path("restored.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(db))
        // Nothing left to do: a second prune changes nothing.
        let again = try sb.lifeboat("prune", "--json").json()
        XCTAssertEqual(again["packs_repacked"] as? Int, 0)
        XCTAssertEqual(again["packs_deleted"] as? Int, 0)
    }

    /// Several snapshots of a 24 MiB database, most pages rewritten in between, then all but
    /// the newest forgotten: prune has many packs to repack and delete.
    func makePrunableRepository(_ sb: Sandbox) throws -> String {
        let db = sb.path("big.db")
        try TestDB.createMixed(db, megabytes: 24, journal: "wal")
        try sb.lifeboat("init")
        let conn = try SQLiteConnection(path: db)
        for round in 0..<3 {
            XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
            try conn.execute("UPDATE requests SET status = 'round\(round)', updated = updated + 1 WHERE id % 3 = \(round)")
            try conn.execute("UPDATE attachments SET content = randomblob(1200) WHERE id % 3 = \(round)")
        }
        try TestDB.checkpoint(db)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "1").status, 0)
        return db
    }

    func testPruneKilledMidwayThenRerun() throws {
        let sb = try Sandbox()
        let db = try makePrunableRepository(sb)
        var killedMidway = 0
        for delayMs in [30, 80, 150, 250, 400, 600] {
            let (p, _, _) = try CLI.start(["prune", "--orphan-grace", "0"], env: sb.env())
            usleep(UInt32(delayMs * 1000))
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                killedMidway += 1
            }
            p.waitUntilExit()
            // Usable after every kill: verifies clean and restores the kept snapshot.
            let check = try sb.lifeboat("check", "--read-data")
            XCTAssertEqual(check.status, 0, "after kill at \(delayMs) ms: \(check.stdout) \(check.stderr)")
            let out = sb.path("r\(delayMs).db")
            XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0, "after kill at \(delayMs) ms")
            XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(db), "after kill at \(delayMs) ms")
            try FileManager.default.removeItem(atPath: out)
        }
        XCTAssertGreaterThan(killedMidway, 2, "prune finished too fast to be interrupted; the test proves nothing")
        // The killed prunes left a stale exclusive lock: the re-run takes it over and finishes.
        let p = try sb.lifeboat("prune", "--orphan-grace", "0")
        XCTAssertEqual(p.status, 0, p.stderr)
        let after = try sb.lifeboat("prune", "--orphan-grace", "0", "--json").json()
        XCTAssertEqual(after["packs_repacked"] as? Int, 0, "the re-run left work undone")
        XCTAssertEqual(after["packs_deleted"] as? Int, 0)
        XCTAssertEqual(after["orphan_packs_deleted"] as? Int, 0)
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
        XCTAssertEqual(try FileIO.listDirectory(sb.repo + "/locks"), [])
        XCTAssertEqual(try FileIO.listDirectory(sb.repo + "/tmp"), [], "temporary upload files survived prune")
        // And the repository keeps working: a new snapshot dedups against the repacked data.
        let s = try sb.lifeboat("snapshot", db, "--json").json()
        XCTAssertEqual(s["pages_new"] as? Int, 0)
    }

    func testOrphanPacksWaitForTheirGraceTime() throws {
        let sb = try Sandbox()
        let db = sb.path("o.db")
        try TestDB.create(db, rows: 2000)
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        // An unindexed pack, as a killed snapshot leaves: a copy of a real pack under another name.
        let repo = try sb.openRepository()
        let real = try XCTUnwrap(try repo.backend.list(.data).first)
        var bytes = try repo.backend.get(real.key)
        bytes.append(0)
        let orphan = ObjectKey(.data, SHA256.hex(bytes))
        try repo.backend.put(orphan, bytes)

        let young = try sb.lifeboat("prune", "--json").json()
        XCTAssertEqual(young["orphan_packs_kept"] as? Int, 1)
        XCTAssertNotNil(try repo.backend.stat(orphan), "a young orphan was deleted")
        let old = try sb.lifeboat("prune", "--orphan-grace", "0", "--json").json()
        XCTAssertEqual(old["orphan_packs_deleted"] as? Int, 1)
        XCTAssertNil(try repo.backend.stat(orphan))
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
    }

    func testPruneRefusesDamagedRepository() throws {
        let sb = try Sandbox()
        let db = sb.path("d.db")
        try TestDB.create(db, rows: 2000)
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        // Without its index, the snapshot's blobs are unaccounted for: prune must not guess.
        let repo = try sb.openRepository()
        for info in try repo.backend.list(.index) { try repo.backend.delete(info.key) }
        let packs = try repo.backend.list(.data).count
        let r = try sb.lifeboat("prune", "--orphan-grace", "0")
        XCTAssertEqual(r.status, 13, r.stderr)
        XCTAssertTrue(r.stderr.contains("refuses"), r.stderr)
        XCTAssertEqual(try repo.backend.list(.data).count, packs, "prune deleted data in a damaged repository")
    }

    func testForgetUsesConfigRetentionAndPrunes() throws {
        let sb = try Sandbox()
        let db = sb.path("c.db")
        try TestDB.create(db, rows: 500)
        let config = sb.path("lifeboat.yml")
        try Data("""
            retention: { keep_last: 2 }
            sources:
              - { name: one, path: \(db), retention: { keep_last: 1 } }
              - { name: two, path: \(db) }
            """.utf8).write(to: URL(fileURLWithPath: config))
        try sb.lifeboat("init")
        for _ in 0..<3 { XCTAssertEqual(try sb.lifeboat("snapshot", "--config", config).status, 0) }
        // No --keep-*: each source's policy from the config.
        let r = try sb.lifeboat("forget", "--config", config, "--prune", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNotNil(try r.json()["prune"] as? [String: Any])
        let left = try sb.lifeboat("snapshots", "--json").jsonArray().compactMap { $0["source"] as? String }
        XCTAssertEqual(left.sorted(), ["one", "two", "two"])
        // Without any policy, forget refuses instead of deleting everything.
        XCTAssertEqual(try sb.lifeboat("forget").status, 64)
        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "0").status, 64)
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
    }
}
