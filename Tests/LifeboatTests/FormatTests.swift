import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

final class FormatTests: XCTestCase {
    func testByteReaderNeverReadsPastTheEnd() {
        var r = ByteReader([1, 2, 3], what: "test")
        XCTAssertThrowsError(try r.u32())
        var r2 = ByteReader([0xff, 0xff, 0xff, 0x7f], what: "test")
        XCTAssertThrowsError(try r2.count(elementSize: 16), "a forged count larger than the data must be refused")
    }

    func testIndexFileRoundTripAndTruncation() throws {
        let e = PackEntry(type: .page, id: BlobID(1, 2), offset: 10, length: 20, rawLength: 4096)
        let framed = PackEntry(type: .framedPage, id: BlobID(3, 4), offset: 30, length: 900, rawLength: 4096, slot: 9)
        let f = IndexFile(packs: [.init(name: String(repeating: "ab", count: 32), size: 1234, entries: [e, e, framed])])
        let bytes = f.encode()
        let back = try IndexFile.decode(bytes, name: "x")
        XCTAssertEqual(back.packs.first?.entries, [e, e, framed])
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

    /// Index files and pack headers of format 1 (before frames: no slot byte) still read.
    func testFormatOneIndexAndPackHeaderStillRead() throws {
        let e = PackEntry(type: .page, id: BlobID(1, 2), offset: 10, length: 20, rawLength: 4096)
        var w = ByteWriter()
        w.raw(IndexFile.magic)
        w.u32(1)
        w.u32(1)
        w.raw([UInt8](repeating: 0xab, count: 32))
        w.u64(1234)
        w.u32(1)
        w.u8(e.type.rawValue); w.id(e.id); w.u32(e.offset); w.u32(e.length); w.u32(e.rawLength)
        XCTAssertEqual(try IndexFile.decode(w.bytes, name: "v1").packs.first?.entries, [e])

        let aead = try AEADContext(key: try SecretBytes.random(count: 32))
        var h = ByteWriter()
        h.raw(PackFormat.headerMagic)
        h.u32(1)
        h.u32(1)
        h.u8(e.type.rawValue); h.id(e.id); h.u32(0); h.u32(20); h.u32(e.rawLength)
        let sealed = try aead.seal(h.bytes, aad: PackFormat.headerAAD)
        var t = ByteWriter()
        t.raw(sealed)
        t.u32(UInt32(sealed.count))
        let pack = [UInt8](repeating: 7, count: 20) + t.bytes
        XCTAssertEqual(try PackFormat.decodeHeader(pack: pack, aead: aead, name: "v1").first?.length, 20)
    }

    /// A frame of several pages: every page opens from its slot and checks against its own id;
    /// a wrong slot, a wrong id, a flipped bit or a forged page count is refused.
    func testFrameRoundTripAndEveryPageIsCheckedAgainstItsID() throws {
        let keys = try MasterKeys.generate()
        let codec = try BlobCodec(keys: keys)
        let pageSize = 4096
        var pages: [[UInt8]] = (0..<5).map { i in Array(String(repeating: "page \(i) text of a workflow comment ", count: 200).utf8.prefix(pageSize)) }
        pages[3] = (0..<pageSize).map { _ in UInt8.random(in: 0...255) }
        XCTAssertTrue(pages.allSatisfy { $0.count == pageSize })
        let ids = pages.map { codec.hasher.id($0) }
        let all = pages.flatMap { $0 }
        var sealed = [UInt8](repeating: 0, count: BlobCodec.frameBound(pages: 5, pageSize: pageSize))
        let n = try all.withUnsafeBytes { p in try sealed.withUnsafeMutableBytes { try codec.sealFrame(p, ids: ids, count: 5, into: $0) } }
        sealed.removeSubrange(n...)
        XCTAssertLessThan(n, all.count, "the text pages compress")
        let reader = try BlobCodec(keys: keys)
        for k in [4, 0, 2, 1, 3] {
            XCTAssertEqual(try reader.open(sealed, type: .framedPage, slot: UInt8(k), id: ids[k], rawLength: pageSize, frameKey: 7), pages[k])
        }
        XCTAssertThrowsError(try reader.open(sealed, type: .framedPage, slot: 1, id: ids[2], rawLength: pageSize, frameKey: 7), "page of another slot")
        XCTAssertThrowsError(try reader.open(sealed, type: .framedPage, slot: 5, id: ids[0], rawLength: pageSize), "slot past the frame")
        XCTAssertThrowsError(try reader.open(sealed, type: .page, id: ids[0], rawLength: pageSize), "a frame is no single page")
        var flipped = sealed
        flipped[n / 2] ^= 0x10
        XCTAssertThrowsError(try reader.open(flipped, type: .framedPage, slot: 0, id: ids[0], rawLength: pageSize, frameKey: 8))
        // After a failure the cached frame is not trusted: the good frame under the same key opens.
        XCTAssertEqual(try reader.open(sealed, type: .framedPage, slot: 0, id: ids[0], rawLength: pageSize, frameKey: 8), pages[0])
        XCTAssertEqual(try reader.plaintext(of: sealed, entry: PackEntry(type: .framedPage, id: ids[2], offset: 0, length: UInt32(n), rawLength: UInt32(pageSize), slot: 2)), all)
    }
}

/// RFC 3339 is written and read without ISO8601DateFormatter; Foundation's formatter is the oracle.
final class RFC3339Tests: XCTestCase {
    func testFormatAndParseAgreeWithFoundation() throws {
        let oracle = ISO8601DateFormatter()
        oracle.timeZone = TimeZone(identifier: "UTC")
        oracle.formatOptions = [.withInternetDateTime]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let ms = Int64.random(in: 0...4_102_444_800_000, using: &rng)  // 1970 to 2100
            let d = Date(unixMilliseconds: ms)
            XCTAssertEqual(RFC3339.format(d), oracle.string(from: d))
            let text = RFC3339.format(d, fractional: true)
            XCTAssertTrue(text.hasSuffix(String(format: ".%03dZ", Int(ms % 1000))), text)
            XCTAssertEqual(try XCTUnwrap(RFC3339.parse(text)).unixMilliseconds, ms, text)
        }
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 951_782_400)), "2000-02-29T00:00:00Z")
    }

    func testParseAcceptsOffsetsAndRefusesNonsense() throws {
        let utc = try XCTUnwrap(RFC3339.parse("2026-12-01T22:15:16Z"))
        XCTAssertEqual(RFC3339.parse("2026-12-01T23:15:16+01:00"), utc)
        XCTAssertEqual(RFC3339.parse("2026-12-01T17:45:16-04:30"), utc)
        XCTAssertEqual(RFC3339.parse("2026-12-01t22:15:16z"), utc)
        XCTAssertEqual(try XCTUnwrap(RFC3339.parse("2026-12-01T22:15:16.5Z")).timeIntervalSince(utc), 0.5, accuracy: 1e-6)
        for bad in ["", "2026-12-01", "2026-12-01T22:15:16", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                    "2026-12-01T24:00:00Z", "2026-12-01T22:15:16.Z", "2026-12-01T22:15:16Z trailing", "yesterday",
                    "2026-12-01T22:15:16+0100", "２０２６-12-01T22:15:16Z"] {
            XCTAssertNil(RFC3339.parse(bad), bad)
        }
    }

    /// A frame stores its pages' ids inside what it authenticates: a restore compares the id the
    /// index expects with the frame's own, without hashing the page. A frame in the place of
    /// another (ids swapped between frames) is caught that way; a frame whose own ids lie (only
    /// a holder of the key could seal one) is caught by `recomputeIDs`, as check --read-data does.
    func testFrameIDsProveEachPageAndRecomputingCatchesALyingFrame() throws {
        let keys = try MasterKeys.generate()
        let codec = try BlobCodec(keys: keys)
        let pageSize = 4096
        let pages: [[UInt8]] = (0..<4).map { i in Array(String(repeating: "task \(i) assigned to the approver ", count: 150).utf8.prefix(pageSize)) }
        let ids = pages.map { codec.hasher.id($0) }
        func frame(_ pages: [[UInt8]], ids: [BlobID]) throws -> [UInt8] {
            let all = pages.flatMap { $0 }
            var sealed = [UInt8](repeating: 0, count: BlobCodec.frameBound(pages: pages.count, pageSize: pageSize))
            let n = try all.withUnsafeBytes { p in try sealed.withUnsafeMutableBytes { try codec.sealFrame(p, ids: ids, count: pages.count, into: $0) } }
            return Array(sealed[0..<n])
        }
        let first = try frame(Array(pages[0..<2]), ids: Array(ids[0..<2]))
        let second = try frame(Array(pages[2..<4]), ids: Array(ids[2..<4]))
        let reader = try BlobCodec(keys: keys)
        XCTAssertEqual(try reader.open(second, type: .framedPage, slot: 1, id: ids[3], rawLength: pageSize), pages[3])
        XCTAssertThrowsError(try reader.open(second, type: .framedPage, slot: 0, id: ids[0], rawLength: pageSize), "a frame in another's place")
        XCTAssertThrowsError(try reader.open(first, type: .framedPage, slot: 1, id: ids[3], rawLength: pageSize), "a frame in another's place")

        // Sealed with its two ids swapped: the ids agree with the index, the pages do not.
        let lying = try frame(Array(pages[0..<2]), ids: [ids[1], ids[0]])
        XCTAssertEqual(try reader.open(lying, type: .framedPage, slot: 0, id: ids[1], rawLength: pageSize), pages[0], "the fast path trusts the frame's word")
        let checker = try BlobCodec(keys: keys)
        checker.recomputeIDs = true
        XCTAssertThrowsError(try checker.open(lying, type: .framedPage, slot: 0, id: ids[1], rawLength: pageSize))
        XCTAssertEqual(try checker.open(first, type: .framedPage, slot: 1, id: ids[1], rawLength: pageSize), pages[1])
    }

    /// Frames written before frames held their ids (no id list, flag without `flagWithIDs`)
    /// still open, and each page is hashed and checked as it always was.
    func testFramesWithoutIDsStillOpenAndAreHashed() throws {
        let keys = try MasterKeys.generate()
        let pageSize = 4096
        let pages: [[UInt8]] = (0..<3).map { i in Array(String(repeating: "comment \(i) on request 42 ", count: 200).utf8.prefix(pageSize)) }
        let codec = try BlobCodec(keys: keys)
        let ids = pages.map { codec.hasher.id($0) }
        // The old layout, sealed by hand: flag ‖ count ‖ zstd(pages), type framedPage and a zero id as AAD.
        let body = try ZstdCompressor(level: 1).compress(pages.flatMap { $0 })
        let aad = [BlobType.framedPage.rawValue] + [UInt8](repeating: 0, count: 16)
        let old = try AEADContext(key: keys.encryption).seal([BlobCodec.flagZstd, 3] + body, aad: aad)
        for k in 0..<3 {
            XCTAssertEqual(try codec.open(old, type: .framedPage, slot: UInt8(k), id: ids[k], rawLength: pageSize, frameKey: 1), pages[k])
        }
        XCTAssertThrowsError(try codec.open(old, type: .framedPage, slot: 0, id: ids[1], rawLength: pageSize, frameKey: 1), "hashed: the wrong page is caught")
    }
}
