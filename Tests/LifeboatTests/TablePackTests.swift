import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Page-table blobs are written to packs of their own, in table order, so a table is read with
/// a few range reads instead of one per leaf; reading blobs several at once returns each in
/// the order asked, whichever packs and ranges they come from.
final class TablePackTests: XCTestCase {
    func testLeavesShareTablePacksInOrderAndReadBackTogether() throws {
        let sb = try Sandbox()
        let db = sb.path("t.db")
        // Over 2048 pages: three leaves of 1024 ids.
        try TestDB.createMixed(db, megabytes: 24)
        try TestDB.checkpoint(db)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let s = try sb.lifeboat("snapshot", db, "--json")
        XCTAssertEqual(s.status, 0, s.stderr)

        let repo = try sb.openRepository()
        let index = try repo.loadIndex()
        let record = try XCTUnwrap(try repo.listSnapshots(source: "t.db").last)
        let codec = try BlobCodec(keys: repo.keys)
        let rootID = try XCTUnwrap(BlobID(hex: record.manifest.tableRoot))
        let root = try PageTableFormat.decodeRoot(try repo.readBlob(rootID, index: index, codec: codec))
        guard root.leaves.count >= 3 else { return XCTFail("\(root.pageCount) pages make only \(root.leaves.count) leaves") }

        // No pack mixes table blobs with pages, and the leaves lie in table order.
        var kinds: [UInt32: Set<Bool>] = [:]
        index.forEach { _, loc in kinds[loc.pack, default: []].insert(loc.type.isPage) }
        XCTAssertTrue(kinds.values.allSatisfy { $0.count == 1 }, "a pack holds both pages and table blobs")
        let places = try root.leaves.map { try XCTUnwrap(index.location($0)) }
        XCTAssertEqual(Set(places.map(\.pack)).count, 1, "three leaves fit one table pack")
        XCTAssertEqual(places.map(\.offset), places.map(\.offset).sorted())

        // Leaves (one of them twice), the root and two pages, in a mixed order: each comes back
        // as read alone.
        let pages = try PageTableReader(repo: repo, index: index, codec: codec).pageIDs(of: record.manifest)
        let asked = [root.leaves[2], pages[5], root.leaves[0], rootID, root.leaves[2], pages[2000], root.leaves[1]]
        let together = try repo.readBlobs(asked, index: index, keys: repo.keys)
        let alone = try asked.map { try repo.readBlob($0, index: index, codec: codec) }
        XCTAssertEqual(together, alone)
        XCTAssertEqual(together[1].count, 4096)

        // A blob no index lists is named in the error.
        let unknown = BlobID(1, 2)
        XCTAssertThrowsError(try repo.readBlobs([root.leaves[0], unknown], index: index, keys: repo.keys)) { error in
            XCTAssertTrue(((error as? LifeboatError)?.message ?? "").contains(unknown.hex.prefix(16)))
        }

        // And the snapshot restores byte for byte.
        let out = sb.path("out.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try TestDB.pages(out), try TestDB.pages(db))
    }
}
