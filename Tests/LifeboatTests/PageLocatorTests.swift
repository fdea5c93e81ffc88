import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// The restore's page lookup: every page of an id is found, in order, and nothing else.
final class PageLocatorTests: XCTestCase {
    func testLookupFindsEveryPageOfAnIdIncludingThousandsOfIdenticalPages() {
        // Like a real database: mostly distinct pages, a long stretch of zeroed free pages, and
        // a few pages that appear twice.
        var ids: [BlobID] = []
        for p in 0..<20_000 { ids.append(BlobID(UInt64(p) &* 0x9E37_79B9_7F4A_7C15, UInt64(p) &* 0xC2B2_AE3D_27D4_EB4F | 1)) }
        let zero = BlobID(7, 7)
        for p in 5_000..<9_000 { ids[p] = zero }
        ids[15_000] = ids[100]
        ids[19_999] = ids[100]
        let lookup = PageLookup(ids: ids)

        func pages(_ id: BlobID) -> [Int] {
            var found: [Int] = []
            lookup.forEachPage(of: id, in: ids) { found.append($0) }
            return found
        }
        XCTAssertEqual(pages(zero), Array(5_000..<9_000))
        XCTAssertEqual(pages(ids[100]), [100, 15_000, 19_999])
        XCTAssertEqual(pages(ids[4_999]), [4_999])
        XCTAssertEqual(pages(ids[12_345]), [12_345])
        XCTAssertEqual(pages(BlobID(1, 2)), [], "an id no page has finds nothing")
        // Every page is reachable through its own id.
        var seen = [Bool](repeating: false, count: ids.count)
        for p in ids.indices where p < 5_000 || p >= 9_000 {
            lookup.forEachPage(of: ids[p], in: ids) { seen[$0] = true }
        }
        lookup.forEachPage(of: zero, in: ids) { seen[$0] = true }
        XCTAssertTrue(seen.allSatisfy { $0 })
    }

    /// A small rest joins the window before it instead of costing another pass over the index.
    func testASmallRestJoinsTheLastWindow() throws {
        let sb = try Sandbox()
        let db = sb.path("r.db")
        try TestDB.create(db, journal: "delete", rows: 3000)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let repo = try sb.openRepository()
        let m = try XCTUnwrap(try repo.listSnapshots(source: "r.db").last).manifest
        XCTAssertGreaterThan(m.pageCount, 100)

        // A rest of 3 pages (under an eighth): one window of every page.
        let one = try PageLocator(repo: repo, keys: repo.keys, manifest: m)
        let all = try one.next(m.pageCount - 3)
        XCTAssertEqual(all.ids.count, m.pageCount)
        XCTAssertTrue(one.isDone)
        XCTAssertEqual(all.pieces.count, m.pageCount)

        // Half: two windows.
        let two = try PageLocator(repo: repo, keys: repo.keys, manifest: m)
        XCTAssertEqual(try two.next(m.pageCount / 2).ids.count, m.pageCount / 2)
        XCTAssertFalse(two.isDone)
        let second = try two.next(m.pageCount / 2)
        XCTAssertEqual(second.first + second.ids.count, m.pageCount)
        XCTAssertTrue(two.isDone)
    }
}

/// A restore in many windows (as a database past 1 GiB is restored) gives the same bytes.
final class WindowedRestoreTests: XCTestCase {
    func testRestoreInWindowsOfAFewPagesIsByteIdenticalForBasesDeltasAndGrowth() throws {
        let sb = try Sandbox()
        let db = sb.path("w.db")
        try TestDB.create(db, journal: "delete", rows: 1500)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        // A delta: some pages changed, and the database grown past its base.
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE items SET body = body || '-changed' WHERE id % 50 = 0")
        try w.execute("INSERT INTO items(body, n) SELECT body || '-more', n FROM items WHERE id <= 300")
        let delta = try sb.lifeboat("snapshot", db, "--json")
        XCTAssertEqual(delta.status, 0, delta.stderr)
        XCTAssertEqual(try delta.json()["new_base"] as? Bool, false)

        let repo = try sb.openRepository()
        for (n, record) in try repo.listSnapshots(source: "w.db").enumerated() {
            // 7 pages: windows cut leaves (1024 ids) and frames (16 pages) anywhere.
            for window in [7, 64, 1 << 18] {
                var options = Restorer.Options()
                options.windowPages = window
                let done = Locked(0)
                options.progress = { d, total in done.withLock { $0 = max($0, d) }; XCTAssertEqual(total, record.manifest.pageCount) }
                let out = sb.path("r-\(n)-\(window).db")
                let result = try Restorer(repository: repo, options: options).restore(record, to: out)
                XCTAssertEqual(result.pages, record.manifest.pageCount)
                XCTAssertEqual(done.current, record.manifest.pageCount, "progress reaches every page")
                if n == 1 { XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(db), "window \(window)") }
            }
            if n == 0 {
                XCTAssertEqual(try FileIO.readFile(sb.path("r-0-7.db")), try FileIO.readFile(sb.path("r-0-262144.db")))
            }
        }
    }
}
