import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Page-granular incrementality: a snapshot stores only what changed, data and metadata alike.
final class IncrementalTests: XCTestCase {
    func testOnePercentRowChangeAddsAtMostTwiceTheChangedPageBytes() throws {
        let sb = try Sandbox()
        let db = sb.path("proc.db")
        try TestDB.createMixed(db, megabytes: 12)
        try TestDB.checkpoint(db)
        try sb.lifeboat("init")
        let first = try sb.lifeboat("snapshot", db, "--json")
        XCTAssertEqual(first.status, 0, first.stderr)
        let before = try TestDB.pages(db)

        // 1 % of the rows, scattered across the file, the way a workflow engine updates status.
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE requests SET status = 'approved', updated = updated + 1 WHERE id % 100 = 42")
        try TestDB.checkpoint(db)
        let after = try TestDB.pages(db)
        let changed = zip(before, after).filter { $0 != $1 }.count + max(0, after.count - before.count)
        XCTAssertGreaterThan(changed, 10)

        // The audit record (a few hundred bytes under audit/) is the operation's, written after the snapshot.
        func snapshotBytes() -> Int { directorySize(sb.repo) - directorySize(sb.repo + "/audit") }
        let repoBefore = snapshotBytes()
        let second = try sb.lifeboat("snapshot", db, "--json")
        XCTAssertEqual(second.status, 0, second.stderr)
        let j = try second.json()
        let added = try XCTUnwrap(j["bytes_added"] as? Int)
        XCTAssertEqual(added, snapshotBytes() - repoBefore, "bytes_added must count everything written")
        XCTAssertLessThanOrEqual(j["pages_new"] as? Int ?? .max, changed)
        XCTAssertLessThanOrEqual(added, 2 * changed * 4096, "added \(added) bytes for \(changed) changed pages")
        print("incremental: \(changed) changed pages (\(changed * 4096) bytes), \(added) bytes added")

        let out = sb.path("out.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try TestDB.pages(out), after)
    }

    func testMetadataGrowsWithChangesNotWithDatabaseSize() throws {
        let sb = try Sandbox()
        let db = sb.path("big.db")
        try TestDB.createMixed(db, megabytes: 24)
        try sb.lifeboat("init")
        let first = try sb.lifeboat("snapshot", db, "--json")
        let pages = try XCTUnwrap(try first.json()["pages"] as? Int)
        let fullTable = pages * 16
        XCTAssertGreaterThan(fullTable, 30_000)
        // Ten snapshots, each after a one-row change: each adds a page or two plus a small delta,
        // never a full page table.
        for round in 1...10 {
            let w = try SQLiteConnection(path: db)
            try w.execute("UPDATE requests SET status = 'round \(round)' WHERE id = \(round * 1000)")
            let s = try sb.lifeboat("snapshot", db, "--json")
            XCTAssertEqual(s.status, 0, s.stderr)
            let j = try s.json()
            let added = try XCTUnwrap(j["bytes_added"] as? Int)
            XCTAssertEqual(j["new_base"] as? Bool, false)
            XCTAssertLessThan(added, fullTable / 3, "round \(round): \(added) bytes for a one-row change (full table is \(fullTable))")
        }
        let out = sb.path("out.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try SQLiteConnection(path: out, mode: .readOnly).scalar("SELECT status FROM requests WHERE id = 10000")?.text, "round 10")
    }

    func testUnchangedDatabaseAddsOnlyAManifestAndDeltaIsRebasedWhenLarge() throws {
        let sb = try Sandbox()
        let db = sb.path("s.db")
        try TestDB.createMixed(db, megabytes: 4)
        try sb.lifeboat("init")
        try sb.lifeboat("snapshot", db)
        let again = try sb.lifeboat("snapshot", db, "--json").json()
        XCTAssertEqual(again["pages_new"] as? Int, 0)
        XCTAssertLessThan(again["bytes_added"] as? Int ?? .max, 2048, "an unchanged database costs one small manifest")
        // Rewriting most rows makes the delta larger than a new base: a new base is written.
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE requests SET data = data || 'x'")
        let big = try sb.lifeboat("snapshot", db, "--json").json()
        XCTAssertEqual(big["new_base"] as? Bool, true)
        let out = sb.path("o.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        try TestDB.checkpoint(db)
        XCTAssertEqual(try TestDB.pages(out), try TestDB.pages(db))
    }

    /// New pages are sealed 16 to a frame: a first snapshot in whole chunks of neighbouring
    /// pages, a scattered change with its changed pages gathered together. Restore and
    /// check --read-data read every page back out of its frame.
    func testNewPagesAreSealedInFramesOfSixteen() throws {
        let sb = try Sandbox()
        let db = sb.path("frames.db")
        try TestDB.createMixed(db, megabytes: 6)
        try TestDB.checkpoint(db)
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        func frames() throws -> [Int: Int] {
            // page count of each frame (pack number and offset), over the whole repository
            var members: [String: Int] = [:]
            try sb.openRepository().loadIndex().forEach { _, loc in
                if loc.type == .framedPage { members["\(loc.pack)/\(loc.offset)", default: 0] += 1 }
            }
            return members.values.reduce(into: [:]) { $0[$1, default: 0] += 1 }
        }
        let first = try frames()
        let pages = try TestDB.pages(db).count
        XCTAssertEqual(first.reduce(0) { $0 + $1.key * $1.value }, pages, "every page of the first snapshot is framed")
        XCTAssertGreaterThanOrEqual(first[16] ?? 0, pages / 16 - 2, "neighbouring new pages are sealed 16 at a time: \(first)")

        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE requests SET status = 'escalated' WHERE id % 40 = 7")
        try TestDB.checkpoint(db)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        var added = try frames()
        for (k, v) in first { added[k, default: 0] -= v }
        let newFrames = added.filter { $0.value > 0 }
        XCTAssertFalse(newFrames.isEmpty)
        XCTAssertTrue(newFrames.keys.contains { $0 > 1 }, "scattered changed pages are gathered into shared frames: \(newFrames)")

        let out = sb.path("out.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(db))
        let check = try sb.lifeboat("check", "--read-data", "--json")
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
    }
}
