import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Issue 16 (1, 2): a damaged pack never poisons later snapshots, and `lifeboat repair` puts a
/// damaged copy right, from the live database or from another copy, saying exactly what stays lost.
final class DamagedDataTests: XCTestCase {
    /// Packs holding only pages (not page-table blobs), with their sizes.
    func pagePacks(_ sb: Sandbox) throws -> [(name: String, size: Int)] {
        let repo = try sb.openRepository()
        var out: [(String, Int)] = []
        for info in try repo.backend.list(.index) {
            for p in try repo.loadIndexFile(info).packs where p.entries.allSatisfy({ $0.type.isPage }) { out.append((p.name, p.size)) }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    func packPath(_ sb: Sandbox, _ name: String) -> String { sb.repo + "/data/\(name.prefix(2))/\(name)" }

    /// The operator's reproduction, step by step: a pack over 1 MiB truncated to 0 bytes, the
    /// same database snapshotted again under another name. As filed, that snapshot exited 0
    /// referencing the empty pack and its restore exited 13.
    func testTruncatedPackIsNotReferencedByTheNextSnapshot() throws {
        let sb = try Sandbox()
        let a = sb.path("a.db"), b = sb.path("b.db")
        try TestDB.createMixed(a, megabytes: 8, journal: "delete")
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", a).status, 0)
        let victim = try XCTUnwrap(try pagePacks(sb).first { $0.size > 1 << 20 }, "no pack over 1 MiB: the test proves nothing")
        XCTAssertEqual(truncate(packPath(sb, victim.name), 0), 0)
        try FileManager.default.copyItem(atPath: a, toPath: b)

        let snap = try sb.lifeboat("snapshot", b, "--json")
        XCTAssertEqual(snap.status, 0, snap.stderr)
        XCTAssertGreaterThan(try snap.json()["pages_new"] as? Int ?? 0, 0, "the damaged pack's pages are stored again")
        XCTAssertTrue(snap.stderr.contains("\(victim.name.prefix(8)) has 0 bytes") && snap.stderr.contains("lifeboat repair"), snap.stderr)
        let restored = sb.path("b-restored.db")
        let r = try sb.lifeboat("restore", "latest", "--source", "b.db", "--to", restored)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try FileIO.readFile(restored), try FileIO.readFile(b))

        // The damage is recorded (encrypted, under damaged/), so runs that take no listing
        // (restore) know it too; a snapshot after that stores nothing again.
        let records = try sb.openRepository().loadDamageLedger()
        XCTAssertEqual(records.damaged.keys.sorted(), [victim.name])
        XCTAssertEqual(records.packs[victim.name]?.evidence, .listing)
        XCTAssertFalse(try FileIO.readFile(sb.repo + "/damaged/" + (try XCTUnwrap(FileIO.listDirectory(sb.repo + "/damaged").first))).contains(String(victim.name.prefix(16))),
                       "the record is encrypted")
        let again = try sb.lifeboat("snapshot", b, "--json")
        XCTAssertEqual(try again.json()["pages_new"] as? Int, 0, again.stderr)
        XCTAssertFalse(again.stderr.contains("warning"), "known damage is not told again: \(again.stderr)")

        // Every page of the damaged pack is stored elsewhere now: the older snapshot restores
        // too, check passes and calls the pack superseded, and prune deletes it.
        let older = sb.path("a-restored.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "a.db", "--to", older).status, 0)
        XCTAssertEqual(try FileIO.readFile(older), try FileIO.readFile(a))
        let check = try sb.lifeboat("check", "--json")
        XCTAssertEqual(check.status, 0, check.stdout)
        XCTAssertEqual(try check.json()["superseded_packs"] as? Int, 1)
        let prune = try sb.lifeboat("prune", "--json")
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertFalse(FileIO.fileExists(packPath(sb, victim.name)), "prune deletes the damaged pack nothing needs")
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
    }

    /// A pack garbled in place (same size: only reading finds it) once `check --read-data` has
    /// found it: the next snapshot does not deduplicate against it either.
    func testPackFoundGarbledByCheckIsNotDeduplicatedAgainst() throws {
        let sb = try Sandbox()
        let db = sb.path("g.db")
        try TestDB.createMixed(db, megabytes: 6, journal: "delete")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let victim = try XCTUnwrap(try pagePacks(sb).max { $0.size < $1.size })
        try flipBytes(packPath(sb, victim.name), at: victim.size / 2)
        XCTAssertEqual(try sb.lifeboat("check").status, 0, "a listing cannot see it")
        let check = try sb.lifeboat("check", "--read-data", "--json")
        XCTAssertEqual(check.status, 13)
        XCTAssertEqual(try check.json()["damaged_packs"] as? [String], [victim.name])
        XCTAssertEqual(try check.json()["damage_recorded"] as? Bool, true)
        XCTAssertEqual(try sb.lifeboat("check").status, 13, "the ledger remembers what reading found")

        let snap = try sb.lifeboat("snapshot", db, "--json")
        XCTAssertEqual(snap.status, 0, snap.stderr)
        XCTAssertGreaterThan(try snap.json()["pages_new"] as? Int ?? 0, 0)
        let out = sb.path("out.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(db))
        XCTAssertEqual(try sb.lifeboat("check").status, 0, "every page of the garbled pack is stored again")
    }

    /// `repair` from the live database: pages that are still in it are stored again; pages
    /// that changed since are nowhere any more, and the report names exactly those, per snapshot.
    func testRepairFromTheDatabaseStoresWhatItHoldsAndNamesWhatIsLost() throws {
        let sb = try Sandbox()
        let db = sb.path("p.db")
        try TestDB.createMixed(db, megabytes: 6, journal: "delete")
        try sb.lifeboat("init")
        let first = try XCTUnwrap(try sb.lifeboat("snapshot", db, "--json").json()["id"] as? String)
        let firstImage = try TestDB.pages(db)
        let firstPacks = try pagePacks(sb).map(\.name)
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE requests SET status = 'closed', data = data || ' closed' WHERE id % 40 = 0")
        let second = try XCTUnwrap(try sb.lifeboat("snapshot", db, "--json").json()["id"] as? String)
        // Every page pack of the first snapshot lost (its page table, in a pack of its own, is not).
        for name in firstPacks { XCTAssertEqual(truncate(packPath(sb, name), 0), 0) }
        XCTAssertEqual(try sb.lifeboat("restore", second, "--to", sb.path("x.db")).status, 13, "the second snapshot shares the lost pages")

        // What cannot come back: the first image's pages whose content the database no longer holds anywhere.
        let now = Set(try TestDB.pages(db).map { Data($0) })
        let lost = firstImage.indices.filter { !now.contains(Data(firstImage[$0])) }
        XCTAssertFalse(lost.isEmpty)

        let r = try sb.lifeboat("repair", "--from-database", db, "--json")
        XCTAssertEqual(r.status, 13, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        let report = try r.json()
        let still = try XCTUnwrap(report["still_damaged"] as? [[String: Any]])
        XCTAssertEqual(still.compactMap { $0["id"] as? String }, [first], "only the first snapshot stays damaged")
        XCTAssertEqual(still.first?["pages"] as? String, RepairReport.ranges(lost))
        XCTAssertEqual(still.first?["page_count"] as? Int, lost.count)
        // Each distinct page once (identical pages share an id).
        XCTAssertEqual((report["from_databases"] as? [String: Int])?[db], Set(firstImage.map { Data($0) }).intersection(now).count)

        let out = sb.path("second.db")
        let restore = try sb.lifeboat("restore", second, "--to", out)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(db))
        let check = try sb.lifeboat("check", "--json")
        XCTAssertEqual((try check.json()["damaged_snapshots"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [first])
        // The audit trail has the repair.
        let audit = try sb.lifeboat("audit", "show", "--json")
        XCTAssertTrue(audit.stdout.contains("\"repair\""), audit.stdout)
    }

    /// A flipped bit costs one frame, not a pack: `repair` copies what still authenticates out
    /// of the damaged pack, with no database and no other copy.
    func testRepairSalvagesWhatStillAuthenticates() throws {
        let sb = try Sandbox()
        let db = sb.path("s.db")
        try TestDB.createMixed(db, megabytes: 6, journal: "delete")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let victim = try XCTUnwrap(try pagePacks(sb).max { $0.size < $1.size })
        try flipBytes(packPath(sb, victim.name), at: victim.size / 3)
        let r = try sb.lifeboat("repair", "--read-data", "--json")
        XCTAssertEqual(r.status, 13, r.stderr)
        let report = try r.json()
        XCTAssertGreaterThan(report["salvaged_blobs"] as? Int ?? 0, 100)
        let still = try XCTUnwrap((report["still_damaged"] as? [[String: Any]])?.first)
        XCTAssertLessThanOrEqual(still["page_count"] as? Int ?? 99, 32, "the pages of the frame (or two) the flip hit are lost, no more: \(still)")
        // With the database, nothing is lost.
        let fixed = try sb.lifeboat("repair", "--from-database", db)
        XCTAssertEqual(fixed.status, 0, fixed.stdout + fixed.stderr)
        let out = sb.path("out.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(db))
    }

    func testDamageRecordsKeepTheNewestObservation() throws {
        var ledger = DamageLedger()
        let p = String(repeating: "ab", count: 32)
        ledger.add(DamageRecord(timeMs: 10, host: "h", operation: "check", packs: [.init(pack: p, state: .damaged, problem: "x", evidence: .content)]))
        XCTAssertTrue(ledger.isDamaged(p))
        ledger.add(DamageRecord(timeMs: 5, host: "h", operation: "check", packs: [.init(pack: p, state: .whole)]))
        XCTAssertTrue(ledger.isDamaged(p), "an older observation does not win")
        ledger.add(DamageRecord(timeMs: 20, host: "h", operation: "repair", packs: [.init(pack: p, state: .whole)]))
        XCTAssertFalse(ledger.isDamaged(p))
        XCTAssertEqual(RepairReport.ranges([9, 2, 3, 4, 40]), "3-5,10,41")
        XCTAssertThrowsError(try DamageRecord.decode(Array(#"{"version":1,"time_ms":1,"host":"h","operation":"c","packs":[{"pack":"../x","state":"damaged"}]}"#.utf8), name: "x"))
    }
}

/// Overwrites 64 bytes of a file in place with their complement (same size: only reading sees it).
func flipBytes(_ path: String, at offset: Int) throws {
    let fd = open(path, O_RDWR)
    guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot open", path: path) }
    defer { close(fd) }
    var bytes = try FileIO.readExactly(fd: fd, offset: offset, count: 64, path: path)
    for i in bytes.indices { bytes[i] ^= 0xff }
    try bytes.withUnsafeBytes { try FileIO.pwriteAll(fd: fd, $0, offset: offset, path: path) }
}
