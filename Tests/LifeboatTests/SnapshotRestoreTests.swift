import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// The main loop through the real command: init, snapshot, list, restore, check.
final class SnapshotRestoreTests: XCTestCase {
    func testSnapshotListRestoreIsByteIdenticalInRollbackMode() throws {
        let sb = try Sandbox()
        let db = sb.path("orders.db")
        try TestDB.create(db, journal: "delete", rows: 3000)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let snap = try sb.lifeboat("snapshot", db, "--json")
        XCTAssertEqual(snap.status, 0, snap.stderr)
        let j = try snap.json()
        XCTAssertEqual(j["source"] as? String, "orders.db")
        let pages = try XCTUnwrap(j["pages"] as? Int)
        XCTAssertEqual(pages, try TestDB.pages(db).count)
        XCTAssertEqual(j["pages_new"] as? Int, pages, "first snapshot stores every page")
        XCTAssertGreaterThan(try XCTUnwrap(j["bytes_added"] as? Int), 0)
        XCTAssertNotNil(RFC3339.parse(try XCTUnwrap(j["time"] as? String)))
        let id = try XCTUnwrap(j["id"] as? String)

        let list = try sb.lifeboat("snapshots", "--json").jsonArray()
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual(list.first?["id"] as? String, id)
        XCTAssertEqual(list.first?["pages"] as? Int, pages)

        let out = sb.path("restored.db")
        let r = try sb.lifeboat("restore", String(id.prefix(8)), "--to", out, "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(db), "restore must be byte-identical")
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
    }

    func testWALDatabaseRestoresTheCommittedStateIncludingFramesNotYetCheckpointed() throws {
        let sb = try Sandbox()
        let db = sb.path("wal.db")
        try TestDB.create(db, journal: "wal", rows: 1500)
        // Keep a writer connection open with autocheckpoint off, so the newest rows live only in the WAL.
        let writer = try SQLiteConnection(path: db)
        try writer.execute("PRAGMA wal_autocheckpoint=0")
        try writer.execute("UPDATE items SET n = n + 1000000 WHERE id % 10 = 0; INSERT INTO items(body, n) VALUES ('only in wal', -1);")
        XCTAssertGreaterThan(try FileIO.status(db + "-wal")?.size ?? 0, 0)
        try sb.lifeboat("init")
        let snap = try sb.lifeboat("snapshot", db, "--source", "wal", "--json")
        XCTAssertEqual(snap.status, 0, snap.stderr)
        XCTAssertGreaterThan(try snap.json()["wal_frames"] as? Int ?? 0, 0)
        let out = sb.path("out.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "wal", "--to", out).status, 0)
        let restored = try SQLiteConnection(path: out, mode: .readOnly)
        XCTAssertEqual(try restored.scalar("SELECT count(*) FROM items WHERE body = 'only in wal'")?.integer, 1)
        XCTAssertEqual(try restored.scalar("SELECT count(*) FROM items WHERE n >= 1000000")?.integer, 150)
        // Page for page the same as the live database once its WAL is checkpointed.
        try writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        XCTAssertEqual(try TestDB.pages(out), try TestDB.pages(db))
    }

    func testRestoreAtPicksNewestSnapshotAtOrBeforeTime() throws {
        let sb = try Sandbox()
        let db = sb.path("t.db")
        try TestDB.create(db, journal: "wal", rows: 200)
        try sb.lifeboat("init")
        var times: [String] = []
        for round in 1...3 {
            let w = try SQLiteConnection(path: db)
            try w.execute("INSERT INTO items(body, n) VALUES ('round \(round)', \(round))")
            let s = try sb.lifeboat("snapshot", db, "--source", "t", "--json")
            XCTAssertEqual(s.status, 0, s.stderr)
            times.append(try XCTUnwrap(try s.json()["time"] as? String))
            usleep(20_000)
        }
        func rounds(at: String) throws -> Int64? {
            let out = sb.path("at-\(UUID().uuidString.prefix(6)).db")
            let r = try sb.lifeboat("restore", "--at", at, "--source", "t", "--to", out)
            guard r.status == 0 else { return nil }
            return try SQLiteConnection(path: out, mode: .readOnly).scalar("SELECT max(n) FROM items WHERE body LIKE 'round %'")?.integer
        }
        XCTAssertEqual(try rounds(at: times[1]), 2, "exactly at the second snapshot's time")
        let between = RFC3339.format(try XCTUnwrap(RFC3339.parse(times[1])).addingTimeInterval(0.010), fractional: true)
        XCTAssertEqual(try rounds(at: between), 2)
        XCTAssertEqual(try rounds(at: "2100-01-01T00:00:00Z"), 3)
        let before = try sb.lifeboat("restore", "--at", "2000-01-01T00:00:00Z", "--source", "t", "--to", sb.path("none.db"))
        XCTAssertNotEqual(before.status, 0)
        XCTAssertTrue(before.stderr.contains("no snapshot of source 't' at or before"), before.stderr)
        XCTAssertEqual(try sb.lifeboat("restore", "--at", "yesterday", "--source", "t", "--to", sb.path("x.db")).status, 64)
    }

    func testSnapshotNeverModifiesTheLiveDatabaseOrItsWAL() throws {
        let sb = try Sandbox()
        let db = sb.path("live.db")
        try TestDB.create(db, journal: "wal", rows: 800)
        let writer = try SQLiteConnection(path: db)
        try writer.execute("PRAGMA wal_autocheckpoint=0; UPDATE items SET n = -n WHERE id < 100;")
        let before = (try FileIO.readFile(db), try FileIO.readFile(db + "-wal"))
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        XCTAssertEqual(try FileIO.readFile(db), before.0, "database file changed")
        XCTAssertEqual(try FileIO.readFile(db + "-wal"), before.1, "WAL changed (a checkpoint was forced?)")
    }

    func testRestoreRefusesToOverwriteUnlessForcedAndMovesSideFilesAside() throws {
        let sb = try Sandbox()
        let db = sb.path("a.db")
        try TestDB.create(db, journal: "delete", rows: 100)
        try sb.lifeboat("init")
        try sb.lifeboat("snapshot", db)
        let target = sb.path("target.db")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: target))
        let refused = try sb.lifeboat("restore", "latest", "--to", target)
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("already exists"), refused.stderr)
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "precious")
        try Data("stale wal".utf8).write(to: URL(fileURLWithPath: target + "-wal"))
        let forced = try sb.lifeboat("restore", "latest", "--to", target, "--force")
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try FileIO.readFile(target), try FileIO.readFile(db))
        XCTAssertFalse(FileIO.fileExists(target + "-wal"), "an old WAL would be replayed onto the restored database")
        let moved = try FileManager.default.contentsOfDirectory(atPath: sb.root).filter { $0.hasPrefix("target.db-wal.replaced-") }
        XCTAssertEqual(moved.count, 1)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: sb.root).filter { $0.contains("lifeboat-restore") }
        XCTAssertEqual(leftovers, [], "no temporary files left behind")
    }
}
