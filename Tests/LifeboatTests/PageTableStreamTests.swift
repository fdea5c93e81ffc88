import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// The page table built as ids are captured: whatever it decides (delta or new base, switching
/// midway), the table it describes must be exactly the captured ids, with their HMAC.
final class PageTableStreamTests: XCTestCase {
    let fanout = 16
    var hasher: KeyedHash!
    var store: [BlobID: [UInt8]] = [:]

    override func setUpWithError() throws {
        var key = [UInt8](repeating: 7, count: 32)
        hasher = try KeyedHash(key: SecretBytes(consuming: &key))
        store = [:]
    }

    func ids(_ count: Int, seed: UInt64) -> [BlobID] {
        (0..<count).map { BlobID(seed, UInt64($0) &* 0x9E37_79B9_7F4A_7C15 | 1) }
    }

    /// Builds a table over `pages` (fed in uneven batches), against `parent`'s if given.
    func build(_ pages: [BlobID], parent: PageTableFormat.Root? = nil) throws -> (TablePlan, [UInt8], PageTableFormat.Root?) {
        let parentID = parent.map { hasher.id(PageTableFormat.encodeRoot($0)) }
        let stream = try PageTableStream(
            pageCount: pages.count, fanout: fanout, hasher: hasher,
            parent: parent.flatMap { p in parentID.map { ($0, p) } },
            readLeaves: { [self] ids in try ids.map { try XCTUnwrap(store[$0]) } },
            storeLeaf: { [self] bytes in
                let id = hasher.id(bytes)
                store[id] = bytes
                return id
            })
        var at = 0
        var step = 1
        while at < pages.count {
            let n = min(step, pages.count - at)
            try pages[at..<(at + n)].withUnsafeBufferPointer { try stream.append($0) }
            at += n
            step = step * 3 % 97 + 1
        }
        let (plan, digest) = try stream.finish()
        if case .newBase(let leaves) = plan {
            return (plan, digest, PageTableFormat.Root(pageCount: pages.count, pageSize: 4096, fanout: fanout, leaves: leaves))
        }
        return (plan, digest, parent)
    }

    /// The ids the plan describes, read back the way a restore does.
    func table(_ plan: TablePlan, root: PageTableFormat.Root, pageCount: Int) throws -> [BlobID] {
        var out: [BlobID] = []
        for (k, leaf) in root.leaves.enumerated() {
            let start = k * fanout
            out += try PageTableFormat.decodeLeaf(try XCTUnwrap(store[leaf]), expectedCount: min(start + fanout, root.pageCount) - start)
        }
        out = Array(out.prefix(pageCount))
        if out.count < pageCount { out += repeatElement(BlobID.zero, count: pageCount - out.count) }
        if case .delta(_, let entries) = plan {
            XCTAssertEqual(entries.map(\.page), entries.map(\.page).sorted(), "delta entries in page order")
            for e in entries { out[Int(e.page)] = e.id }
        }
        return out
    }

    func check(_ pages: [BlobID], parent: PageTableFormat.Root?, newBase: Bool, deltaCount: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> PageTableFormat.Root? {
        let (plan, digest, root) = try build(pages, parent: parent)
        XCTAssertEqual(plan.isNewBase, newBase, file: file, line: line)
        if let deltaCount { XCTAssertEqual(plan.deltaCount, deltaCount, file: file, line: line) }
        XCTAssertEqual(try table(plan, root: try XCTUnwrap(root), pageCount: pages.count), pages, file: file, line: line)
        XCTAssertEqual(digest, pages.withUnsafeBytes { hasher.mac(Array($0)) }, "image digest", file: file, line: line)
        return root
    }

    func testFirstTableIsANewBaseOfEveryLeaf() throws {
        let root = try check(ids(1000, seed: 1), parent: nil, newBase: true)
        XCTAssertEqual(root?.leaves.count, 63)
    }

    func testSmallChangesGrowthAndShrinkingAreDeltas() throws {
        let base = ids(1000, seed: 1)
        let parent = try XCTUnwrap(try check(base, parent: nil, newBase: true))
        _ = try check(base, parent: parent, newBase: false, deltaCount: 0)
        var changed = base
        changed[0] = BlobID(2, 0)
        changed[517] = BlobID(2, 517)
        changed[999] = BlobID(2, 999)
        _ = try check(changed, parent: parent, newBase: false, deltaCount: 3)
        // Grown past the parent's last (half-full) leaf, and shrunk into the middle of a leaf.
        _ = try check(changed + ids(10, seed: 3), parent: parent, newBase: false, deltaCount: 13)
        _ = try check(Array(changed.prefix(990)), parent: parent, newBase: false, deltaCount: 2)
    }

    func testADeltaPastAnEighthBecomesANewBaseMidwayAndAtTheEnd() throws {
        let base = ids(1000, seed: 1)
        let parent = try XCTUnwrap(try check(base, parent: nil, newBase: true))
        // Every page from 400 on changes: the limit (125) is passed at about page 525.
        var changed = base
        for p in 400..<1000 { changed[p] = BlobID(4, UInt64(p)) }
        _ = try check(changed, parent: parent, newBase: true)
        // Growth alone passes it only at the end, through the parent's last, half-full leaf.
        _ = try check(base + ids(300, seed: 5), parent: parent, newBase: true)
        // A new base shares the leaves nothing changed in.
        let before = store.count
        var one = base
        one[3] = BlobID(6, 3)
        for p in 600..<800 { one[p] = BlobID(6, UInt64(p)) }
        _ = try check(one, parent: parent, newBase: true)
        XCTAssertEqual(store.count - before, 1 + 13, "the changed leaves only")
    }
}
