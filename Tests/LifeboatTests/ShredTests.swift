import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Per-source keys and `lifeboat shred`: destroying one source's key makes all of its backups
/// unreadable at once (checked by decrypting every blob left in the repository with its keys),
/// other sources are untouched, prune then frees the space, and the trail records it.
final class ShredTests: XCTestCase {
    /// Decrypts every blob of every pack with whichever of `keys` opens the pack's header (packs
    /// no key opens are searched as raw bytes only), and every index file and manifest; reports
    /// whether `needle` appears anywhere.
    static func contains(_ repo: Repository, _ needle: String, keys: [MasterKeys]) throws -> Bool {
        let pattern = Array(needle.utf8)
        func has(_ bytes: [UInt8]) -> Bool {
            guard bytes.count >= pattern.count else { return false }
            return (0...(bytes.count - pattern.count)).contains { i in bytes[i] == pattern[0] && Array(bytes[i..<(i + pattern.count)]) == pattern }
        }
        for info in try repo.backend.list(.data) {
            let pack = try repo.backend.get(info.key)
            if has(pack) { return true }
            for k in keys {
                guard let header = try? PackFormat.decodeHeader(pack: pack, aead: AEADContext(key: k.encryption), name: info.key.name) else { continue }
                let codec = try BlobCodec(keys: k)
                for e in header {
                    let plain = try codec.plaintext(of: Array(pack[Int(e.offset)..<(Int(e.offset) + Int(e.length))]), entry: e)
                    if has(plain) { return true }
                }
            }
        }
        for kind in [ObjectKind.index, .snapshots, .sourceKeys] {
            for info in try repo.backend.list(kind) where has(try repo.loadObject(info.key)) { return true }
        }
        return false
    }

    /// Master keys of every generation, plus every source key still in the repository.
    static func allKeys(_ sb: Sandbox) throws -> [MasterKeys] {
        let repo = try sb.openRepository()
        var keys = try repo.keyring.generations.map { try repo.keyring.keys(generation: $0) }
        for k in try repo.sourceKeyDirectory().keys {
            keys.append(try repo.keys(tag: KeyTag(generation: k.generation, sourceKey: k.id), source: k.source))
        }
        return keys
    }

    func testShredOneSourceOthersUnaffectedPruneFreesTheSpace() throws {
        let sb = try Sandbox()
        let keep = sb.path("keep.db"), erase = sb.path("erase.db")
        let keepMarker = "KEEP-\(UUID().uuidString)", eraseMarker = "ERASE-\(UUID().uuidString)"
        try TestDB.create(keep, rows: 3000, marker: keepMarker)
        try TestDB.create(erase, rows: 6000, marker: eraseMarker)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let created = try sb.lifeboat("source-key", "create", "--source", "erase.db", "--json")
        XCTAssertEqual(created.status, 0, created.stderr)
        let keyID = try XCTUnwrap(try created.json()["id"] as? String)
        XCTAssertTrue(FileManager.default.fileExists(atPath: sb.repo + "/sourcekeys/" + keyID))
        // The key is never copied into a key slot: no key file changed size or count.
        XCTAssertEqual(try FileIO.listDirectory(sb.repo + "/keys").count, 1)

        XCTAssertEqual(try sb.lifeboat("snapshot", keep).status, 0)
        for round in 0..<3 {
            let s = try sb.lifeboat("snapshot", erase, "--json")
            XCTAssertEqual(s.status, 0, s.stderr)
            let conn = try SQLiteConnection(path: erase)
            try conn.execute("UPDATE items SET n = n + 1 WHERE id % 5 = \(round)")
            try TestDB.checkpoint(erase)
        }
        XCTAssertEqual(try sb.lifeboat("snapshot", erase).status, 0)
        // Forget + prune within the own-key source repacks its packs with its key.
        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "2", "--source", "erase.db").status, 0)
        let p0 = try sb.lifeboat("prune", "--json")
        XCTAssertEqual(p0.status, 0, p0.stderr)
        XCTAssertGreaterThan(try p0.json()["packs_repacked"] as? Int ?? 0, 0, "the test wants source-key packs repacked")
        let check0 = try sb.lifeboat("check", "--read-data")
        XCTAssertEqual(check0.status, 0, check0.stdout + check0.stderr)

        // Its snapshots are sealed with its key: the master keys alone do not find its rows.
        let before = try sb.openRepository()
        let master = try before.keyring.generations.map { try before.keyring.keys(generation: $0) }
        XCTAssertTrue(try Self.contains(before, eraseMarker, keys: try Self.allKeys(sb)), "the search must find the rows with the source key")
        XCTAssertFalse(try Self.contains(before, eraseMarker, keys: master))
        XCTAssertTrue(try Self.contains(before, keepMarker, keys: master))

        // Without --yes: shows the plan, changes nothing (also not on a terminal).
        let snapshotsBefore = try sb.lifeboat("snapshots", "--json").jsonArray().count
        let refused = try sb.lifeboat("shred", "--source", "erase.db")
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("--yes"), refused.stderr)
        XCTAssertEqual(try sb.lifeboat("snapshots", "--json").jsonArray().count, snapshotsBefore)
        XCTAssertTrue(FileManager.default.fileExists(atPath: sb.repo + "/sourcekeys/" + keyID))

        let shred = try sb.lifeboat("shred", "--source", "erase.db", "--yes", "--json")
        XCTAssertEqual(shred.status, 0, shred.stderr)
        let report = try shred.json()
        XCTAssertEqual(report["keys_destroyed"] as? [String], [keyID])
        XCTAssertEqual((report["snapshots_forgotten"] as? [String])?.count, 2)
        let packBytes = try XCTUnwrap(report["pack_bytes"] as? Int)
        XCTAssertGreaterThan(packBytes, 100_000)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sb.repo + "/sourcekeys/" + keyID))
        XCTAssertEqual(try sb.lifeboat("snapshots", "--json").jsonArray().map { $0["source"] as? String }, ["keep.db"])

        // Before prune, every key the passphrase gives cannot find the shredded rows any more.
        let after = try sb.openRepository()
        XCTAssertFalse(try Self.contains(after, eraseMarker, keys: try Self.allKeys(sb)), "shredded data still decrypts")
        XCTAssertTrue(try Self.contains(after, keepMarker, keys: try Self.allKeys(sb)))

        let gone = try sb.lifeboat("restore", "latest", "--source", "erase.db", "--to", sb.path("erased.db"))
        XCTAssertNotEqual(gone.status, 0)
        XCTAssertTrue(gone.stderr.contains("shredded"), gone.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sb.path("erased.db")))
        let out = sb.path("kept.db")
        let r = try sb.lifeboat("restore", "latest", "--source", "keep.db", "--to", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(keep))

        // check knows those packs are unreadable on purpose: not damage.
        let check1 = try sb.lifeboat("check", "--read-data", "--json")
        XCTAssertEqual(check1.status, 0, check1.stdout + check1.stderr)
        XCTAssertGreaterThan(try check1.json()["shredded_packs"] as? Int ?? 0, 0)
        let verify = try sb.lifeboat("audit", "verify")
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let trail = try sb.lifeboat("audit", "show", "--json")
        XCTAssertTrue(trail.stdout.contains("\"shred\""), trail.stdout)
        XCTAssertFalse(trail.stdout.contains(keyID) && trail.stdout.contains("material"))

        // prune deletes them as unreferenced: the repository shrinks by about that source's data.
        let sizeBefore = directorySize(sb.repo + "/data")
        let p = try sb.lifeboat("prune", "--json")
        XCTAssertEqual(p.status, 0, p.stderr)
        let freed = sizeBefore - directorySize(sb.repo + "/data")
        XCTAssertGreaterThanOrEqual(freed, packBytes, "prune freed \(freed) bytes of the \(packBytes) shredded")
        XCTAssertLessThan(freed, packBytes + 20_000)
        let check2 = try sb.lifeboat("check", "--read-data", "--json")
        XCTAssertEqual(check2.status, 0, check2.stdout + check2.stderr)
        XCTAssertNil(try check2.json()["shredded_packs"])
        XCTAssertFalse(try Self.contains(try sb.openRepository(), eraseMarker, keys: try Self.allKeys(sb)))
        XCTAssertEqual(try sb.lifeboat("audit", "verify").status, 0)

        // The source can be backed up again: it gets a fresh key, so a later shred works again.
        XCTAssertEqual(try sb.lifeboat("snapshot", erase).status, 0)
        let keys = try sb.lifeboat("source-key", "list", "--json").json()
        let listed = try XCTUnwrap(keys["keys"] as? [[String: Any]])
        XCTAssertEqual(listed.count, 1)
        XCTAssertNotEqual(listed.first?["id"] as? String, keyID)
        let again = sb.path("again.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "erase.db", "--to", again).status, 0)
        XCTAssertEqual(try FileIO.readFile(again), try FileIO.readFile(erase))
    }

    /// After `key rotate` the source gets a key of the new generation too; shred destroys both.
    func testShredAfterRotationDestroysEveryGeneration() throws {
        let sb = try Sandbox()
        let db = sb.path("subject.db")
        let marker = "SUBJECT-\(UUID().uuidString)"
        try TestDB.create(db, rows: 2000, marker: marker)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("source-key", "create", "--source", "subject.db").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let rotate = try sb.lifeboat("key", "rotate")
        XCTAssertEqual(rotate.status, 0, rotate.stderr)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let listed = try XCTUnwrap(try sb.lifeboat("source-key", "list", "--json").json()["keys"] as? [[String: Any]])
        XCTAssertEqual(listed.compactMap { $0["generation"] as? Int }.sorted(), [0, 1])
        let check = try sb.lifeboat("check", "--read-data")
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)

        let shred = try sb.lifeboat("shred", "--source", "subject.db", "--yes", "--json")
        XCTAssertEqual(shred.status, 0, shred.stderr)
        XCTAssertEqual((try shred.json()["keys_destroyed"] as? [String])?.count, 2)
        XCTAssertFalse(try Self.contains(try sb.openRepository(), marker, keys: try Self.allKeys(sb)))
        XCTAssertEqual(try sb.lifeboat("prune").status, 0)
        XCTAssertEqual(directorySize(sb.repo + "/data"), 0, "every pack was the shredded source's")
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
    }

    func testShredRefusesSourceWithoutItsOwnKey() throws {
        let sb = try Sandbox()
        let db = sb.path("plain.db")
        try TestDB.create(db)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let r = try sb.lifeboat("shred", "--source", "plain.db", "--yes")
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("no key of its own"), r.stderr)
        XCTAssertEqual(try sb.lifeboat("snapshots", "--json").jsonArray().count, 1)
        let unknown = try sb.lifeboat("shred", "--source", "nosuch.db", "--yes")
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("no source 'nosuch.db'"), unknown.stderr)
    }

    func testDamagedSourceKeyGivesAClearError() throws {
        let sb = try Sandbox()
        let db = sb.path("own.db")
        try TestDB.create(db)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let id = try XCTUnwrap(try sb.lifeboat("source-key", "create", "--source", "own.db", "--json").json()["id"] as? String)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let path = sb.repo + "/sourcekeys/" + id
        var bytes = try FileIO.readFile(path)
        bytes[bytes.count / 2] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let r = try sb.lifeboat("restore", "latest", "--source", "own.db", "--to", sb.path("out.db"))
        XCTAssertEqual(r.status, 13, r.stderr)
        XCTAssertTrue(r.stderr.contains("source key") && r.stderr.contains("damaged"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        let check = try sb.lifeboat("check")
        XCTAssertEqual(check.status, 13)
        XCTAssertTrue(check.stdout.contains("source key"), check.stdout)
        // A snapshot stops rather than fall back to the master key for this source.
        let s = try sb.lifeboat("snapshot", db)
        XCTAssertEqual(s.status, 13, s.stderr)
        XCTAssertTrue(s.stderr.contains("damaged"), s.stderr)
    }

    /// The plaintext parser of source key objects and shred records never crashes.
    func testFuzzSourceKeyObjects() throws {
        let material = try SecretBytes.random(count: MasterKeys.materialSize)
        let key = SourceKeyFormat.encodeKey(source: "bpm.db", generation: 3, createdMs: 1_700_000_000_000, material: material)
        guard case .key(let info, _) = try SourceKeyFormat.decode(key, id: "seed") else { return XCTFail("seed did not decode") }
        XCTAssertEqual(info.source, "bpm.db")
        XCTAssertEqual(info.generation, 3)
        let shred = SourceKeyFormat.shredMagic + (try JSONCoding.encode(ShredRecord(source: "bpm.db", timeMs: 1, sourceKeys: ["ab"], packs: ["cd"])))
        var f = Fuzzer("source key object", seed: 77)
        f.run(seeds: [key, shred]) { _ = try SourceKeyFormat.decode($0, id: "fuzz") }
    }
}
