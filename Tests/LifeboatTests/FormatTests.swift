import XCTest
@testable import Lifeboat

final class FormatTests: XCTestCase {
    func testByteReaderNeverReadsPastTheEnd() {
        var r = ByteReader([1, 2, 3], what: "test")
        XCTAssertThrowsError(try r.u32())
        var r2 = ByteReader([0xff, 0xff, 0xff, 0x7f], what: "test")
        XCTAssertThrowsError(try r2.count(elementSize: 16), "a forged count larger than the data must be refused")
    }

    func testIndexFileRoundTripAndTruncation() throws {
        let e = PackEntry(type: .page, id: BlobID(1, 2), offset: 10, length: 20, rawLength: 4096)
        let f = IndexFile(packs: [.init(name: String(repeating: "ab", count: 32), size: 1234, entries: [e, e])])
        let bytes = f.encode()
        let back = try IndexFile.decode(bytes, name: "x")
        XCTAssertEqual(back.packs.first?.entries, [e, e])
        XCTAssertEqual(back.packs.first?.size, 1234)
        for cut in [0, 4, 11, bytes.count - 1] {
            XCTAssertThrowsError(try IndexFile.decode(Array(bytes.prefix(cut)), name: "x"), "truncated at \(cut)")
        }
    }

    func testPageTableRootAndDeltaRoundTrip() throws {
        let root = PageTableFormat.Root(pageCount: 2500, pageSize: 4096, fanout: 1024, leaves: [BlobID(1, 1), BlobID(2, 2), BlobID(3, 3)])
        XCTAssertEqual(try PageTableFormat.decodeRoot(PageTableFormat.encodeRoot(root)), root)
        var bad = root
        bad.leaves.removeLast()
        XCTAssertThrowsError(try PageTableFormat.decodeRoot(PageTableFormat.encodeRoot(bad)), "leaf count must match page count")
        let delta: [(page: UInt32, id: BlobID)] = [(3, BlobID(9, 9)), (70, BlobID(8, 8))]
        let d = try PageTableFormat.decodeDelta(PageTableFormat.encodeDelta(delta), pageCount: 100)
        XCTAssertEqual(d.map(\.page), [3, 70])
        XCTAssertThrowsError(try PageTableFormat.decodeDelta(PageTableFormat.encodeDelta(delta), pageCount: 50), "out of range page")
        XCTAssertThrowsError(try PageTableFormat.decodeDelta(PageTableFormat.encodeDelta(delta.reversed()), pageCount: 100), "out of order")
    }

    func testPackHeaderRoundTripAndTamper() throws {
        let aead = try AEADContext(key: try SecretBytes.random(count: 32))
        let entries = [PackEntry(type: .page, id: BlobID(5, 6), offset: 0, length: 100, rawLength: 4096)]
        let pack = [UInt8](repeating: 7, count: 100) + (try PackFormat.encodeHeader(entries, aead: aead))
        XCTAssertEqual(try PackFormat.decodeHeader(pack: pack, aead: aead, name: "p"), entries)
        var t = pack
        t[t.count - 10] ^= 1
        XCTAssertThrowsError(try PackFormat.decodeHeader(pack: t, aead: aead, name: "p"))
        XCTAssertThrowsError(try PackFormat.decodeHeader(pack: Array(pack.suffix(3)), aead: aead, name: "p"))
        XCTAssertThrowsError(try PackFormat.decodeHeader(pack: Array(pack.dropFirst(50)), aead: aead, name: "p"), "entries beyond the blob area")
    }

    func testBlobIndexGrowsAndFindsEverything() {
        var index = BlobIndex(capacity: 4)
        let p = index.addPack("aa", size: 1)
        for i in 0..<50_000 {
            index.insert(BlobID(UInt64(i) &* 0x9E3779B97F4A7C15, UInt64(i) &* 0xC2B2AE3D27D4EB4F), BlobLocation(pack: p, offset: UInt32(i), length: 1, rawLength: 1, type: .page))
        }
        XCTAssertEqual(index.count, 50_000)
        for i in stride(from: 0, to: 50_000, by: 997) {
            XCTAssertEqual(index.location(BlobID(UInt64(i) &* 0x9E3779B97F4A7C15, UInt64(i) &* 0xC2B2AE3D27D4EB4F))?.offset, UInt32(i))
        }
        XCTAssertFalse(index.contains(BlobID(42, 42)))
    }

    func testWALIndexFindsCommittedFramesOnly() throws {
        let sb = try Sandbox()
        let path = sb.path("w.db")
        // A writer that keeps its connection open leaves committed frames in the WAL.
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        try db.execute("INSERT INTO t VALUES (2)")
        let fd = open(path + "-wal", O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let wal = try WALIndex.read(fd: fd, path: path + "-wal", expectedPageSize: 4096)
        XCTAssertGreaterThan(wal.committedFrames, 0)
        XCTAssertEqual(wal.pageCount, 2, "page 1 (schema) and page 2 (table t)")
        XCTAssertNotNil(wal.frames[2])
        // Damaging the last frame's checksum drops that frame and everything after it.
        var bytes = try FileIO.readFile(path + "-wal")
        bytes[bytes.count - 1] ^= 0xff
        let copy = sb.path("copy-wal")
        try Data(bytes).write(to: URL(fileURLWithPath: copy))
        let fd2 = open(copy, O_RDONLY)
        defer { close(fd2) }
        let damaged = try WALIndex.read(fd: fd2, path: copy, expectedPageSize: 4096)
        XCTAssertLessThan(damaged.committedFrames, wal.committedFrames)
    }
}
