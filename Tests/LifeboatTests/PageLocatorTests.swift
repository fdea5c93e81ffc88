import XCTest
@testable import Lifeboat

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
}
