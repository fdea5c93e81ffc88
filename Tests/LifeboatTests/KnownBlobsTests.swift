import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// The snapshot's dedup set: exact answers whether ids are in memory, spilled to disk, merged,
/// or past the Bloom filter's planned size; and a snapshot that dedups through spilled runs.
final class KnownBlobsTests: XCTestCase {
    private func randomIDs(_ n: Int) -> [BlobID] {
        var g = SystemRandomNumberGenerator()
        return (0..<n).map { _ in BlobID(g.next(), g.next()) }
    }

    func testAnswersExactlyAcrossSpillsMergesAndAnOutgrownBloomFilter() throws {
        let sb = try Sandbox()
        // Planned for 100 (the Bloom filter is rebuilt), holding 50 in memory, at most 3 runs:
        // every path is taken.
        let known = KnownBlobs(expected: 100, inMemory: 50, maxRuns: 3, directory: sb.root)
        let added = randomIDs(5000)
        for (i, id) in added.enumerated() {
            try known.insert(id)
            // Repeats, some still in memory and some spilled, are not added twice.
            if i % 7 == 0 { try known.insert(added[i / 2]) }
        }
        try known.insert(.zero)
        XCTAssertGreaterThan(known.spilled.ids, 4900)
        XCTAssertLessThanOrEqual(known.spilled.runs, 3)
        XCTAssertGreaterThan(known.spilled.runs, 0)
        for id in added { XCTAssertTrue(try known.contains(id)) }
        XCTAssertTrue(try known.contains(.zero))
        var falsePositives = 0
        for id in randomIDs(20000) where try known.contains(id) { falsePositives += 1 }
        XCTAssertEqual(falsePositives, 0, "an id never added must never be reported held")
        // Spill files have no name: nothing is left in the directory, even while in use.
        XCTAssertEqual(try FileIO.listDirectory(sb.root).filter { $0.hasPrefix("lifeboat-dedup") }, [])
    }

    /// Without a cap in reach, runs still stay few: each is over three times the next.
    func testRunsGrowGeometrically() throws {
        let sb = try Sandbox()
        let known = KnownBlobs(expected: 100_000, inMemory: 50, maxRuns: 100, directory: sb.root)
        let added = randomIDs(50 * 300)
        for id in added { try known.insert(id) }
        // 300 spills: log3(300) is about 5.
        XCTAssertLessThanOrEqual(known.spilled.runs, 7)
        XCTAssertEqual(known.spilled.ids, added.count)
        for id in added.prefix(500) { XCTAssertTrue(try known.contains(id)) }
    }

    func testBloomFilterHasNoFalseNegativesAndFewFalsePositivesAtItsPlannedSize() {
        var bloom = BlobBloomFilter(planned: 100_000)
        let added = randomIDs(100_000)
        for id in added { bloom.add(id) }
        XCTAssertTrue(added.allSatisfy { bloom.mayContain($0) })
        let maybes = randomIDs(100_000).filter { bloom.mayContain($0) }.count
        // About 1 % expected (split blocks of 512 bits, 12 bits an id).
        XCTAssertLessThan(maybes, 3000, "\(maybes) false 'maybe's in 100000")
        XCTAssertGreaterThan(maybes, 0)
    }

    func testSortedRunFindsEveryIdAtBlockEdgesAndRefusesDisorder() throws {
        let sb = try Sandbox()
        // Even ids only, 1000 of them: blocks of 256 end inside the list.
        var writer = try SortedIDRun.Writer(directory: sb.root)
        for i in 1...1000 { try writer.append(BlobID(UInt64(i / 100), UInt64(2 * i))) }
        try writer.append(BlobID(10, 2000))  // a repeat of the last: dropped
        let run = try writer.finish()
        XCTAssertEqual(run.count, 1000)
        for i in 1...1000 {
            XCTAssertTrue(try run.contains(BlobID(UInt64(i / 100), UInt64(2 * i))), "id \(i)")
            XCTAssertFalse(try run.contains(BlobID(UInt64(i / 100), UInt64(2 * i + 1))), "odd \(i)")
        }
        XCTAssertFalse(try run.contains(.zero))
        XCTAssertFalse(try run.contains(BlobID(.max, .max)))
        var cursor = try SortedIDRun.Cursor(run)
        var read = 0
        while cursor.current != nil { read += 1; try cursor.advance() }
        XCTAssertEqual(read, 1000)

        var bad = try SortedIDRun.Writer(directory: sb.root)
        try bad.append(BlobID(1, 1))
        XCTAssertThrowsError(try bad.append(BlobID(0, 5)))
        bad.abandon()
    }

    func testASpillDirectoryThatCannotBeWrittenIsAClearError() throws {
        let known = KnownBlobs(expected: 10, inMemory: 16, directory: "/nonexistent-lifeboat-dir")
        XCTAssertThrowsError(try randomIDs(100).forEach { try known.insert($0) }) { error in
            let message = (error as? LifeboatError)?.message ?? ""
            XCTAssertTrue(message.contains("/nonexistent-lifeboat-dir") && message.contains("TMPDIR"), message)
        }
    }

    /// Snapshots whose dedup spills after 64 ids: a copy of a database under another source
    /// stores nothing new (every page found through the runs), a change stores only the changed
    /// pages, and both restore byte for byte.
    func testSnapshotsDedupThroughSpilledIdsAcrossSourcesAndAfterAChange() throws {
        let sb = try Sandbox()
        let db = sb.path("a.db")
        try TestDB.createMixed(db, megabytes: 6)
        try TestDB.checkpoint(db)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let repo = try sb.openRepository()
        func snapshot(_ path: String, source: String) throws -> SnapshotResult {
            var options = Snapshotter.Options(source: source)
            options.dedupInMemory = 64
            return try Snapshotter(repository: repo, options: options).run(databasePath: path)
        }
        let first = try snapshot(db, source: "a")
        XCTAssertEqual(first.pagesNew, first.pages)
        XCTAssertGreaterThan(first.pages, 500)

        let copy = sb.path("copy.db")
        try FileManager.default.copyItem(atPath: db, toPath: copy)
        let copied = try snapshot(copy, source: "copy")
        XCTAssertNil(copied.parent)
        XCTAssertEqual(copied.pagesNew, 0, "every page of the copy is stored already")

        let before = try TestDB.pages(db)
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE requests SET status = 'approved' WHERE id % 97 = 5")
        try TestDB.checkpoint(db)
        let after = try TestDB.pages(db)
        let changed = zip(before, after).filter { $0 != $1 }.count + max(0, after.count - before.count)
        let second = try snapshot(db, source: "a")
        XCTAssertNotNil(second.parent)
        XCTAssertGreaterThan(second.pagesNew, 0)
        XCTAssertLessThanOrEqual(second.pagesNew, changed)

        for (source, expected) in [("a", after), ("copy", before)] {
            let out = sb.path("out-\(source).db")
            let r = try sb.lifeboat("restore", "latest", "--source", source, "--to", out)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try TestDB.pages(out), expected)
        }
    }

    /// An index file lost (the parent's pages no longer listed): an unchanged page is not taken
    /// as stored on the parent's word alone; it is stored again and the new snapshot restores.
    func testPagesTheIndexNoLongerListsAreStoredAgainEvenWhereTheParentHasThem() throws {
        let sb = try Sandbox()
        let db = sb.path("l.db")
        try TestDB.createMixed(db, megabytes: 4)
        try TestDB.checkpoint(db)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        // Keep only the page-table packs in the index.
        let repo = try sb.openRepository()
        let files = try repo.backend.list(.index)
        var tablePacks: [IndexFile.Pack] = []
        for info in files {
            tablePacks += try repo.loadIndexFile(info).packs.filter { $0.entries.allSatisfy { !$0.type.isPage } }
        }
        XCTAssertFalse(tablePacks.isEmpty)
        try repo.storeObject(.index, IndexFile(packs: tablePacks).encode())
        for info in files { try repo.backend.delete(info.key) }

        let again = try sb.lifeboat("snapshot", db, "--json")
        XCTAssertEqual(again.status, 0, again.stderr)
        let j = try again.json()
        XCTAssertNotNil(j["parent"] as? String, "the parent is still read")
        XCTAssertEqual(j["pages_new"] as? Int, j["pages"] as? Int, "every unlisted page is stored again")
        let out = sb.path("out.db")
        let r = try sb.lifeboat("restore", "latest", "--to", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try TestDB.pages(out), try TestDB.pages(db))
    }

    /// The parent's ids, read range by range as a capture asks for them, are its page table.
    func testParentPagesGivesTheParentsIdsRangeByRange() throws {
        let sb = try Sandbox()
        let db = sb.path("p.db")
        try TestDB.create(db, journal: "delete", rows: 1500)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE items SET body = body || '-changed' WHERE id % 40 = 0")
        try w.execute("INSERT INTO items(body, n) SELECT body, n FROM items WHERE id <= 200")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let repo = try sb.openRepository()
        let record = try XCTUnwrap(try repo.listSnapshots(source: "p.db").last)
        XCTAssertNotNil(record.manifest.tableDelta, "the parent must be a delta on a base")
        let index = try repo.loadIndex()
        let codec = try BlobCodec(keys: repo.keys)
        let expected = try PageTableReader(repo: repo, index: index, codec: codec).pageIDs(of: record.manifest)

        let parent = try ParentPages(repo: repo, tables: index, codec: codec, manifest: record.manifest)
        let out = UnsafeMutableBufferPointer<BlobID>.allocate(capacity: 37)
        defer { out.deallocate() }
        var got = [BlobID]()
        var first = 0
        // Ranges of 37 pages, past the parent's end by one range.
        while first < expected.count + 37 {
            let n = try parent.fill(from: first, count: 37, into: out)
            XCTAssertEqual(n, max(0, min(37, expected.count - first)))
            got += Array(out.prefix(n))
            first += 37
        }
        XCTAssertEqual(got, expected)
    }
}

/// A dedup spill directory that fills up: the snapshot stops with one clear error naming the
/// directory, commits nothing, and the next run with room succeeds.
final class DedupSpillDiskFullTests: XCTestCase {
    func testAFullSpillDirectoryStopsTheSnapshotCleanly() throws {
        let sb = try Sandbox()
        let small = sb.path("small")
        guard let unmount = try mountSmallTmpfs(small, size: "256k") else { return }
        defer { unmount() }
        // Leave a few KiB: the first spill fits, a later one does not.
        let free = try XCTUnwrap(FileManager.default.attributesOfFileSystem(forPath: small)[.systemFreeSize] as? Int)
        try Data(count: max(0, free - 8192)).write(to: URL(fileURLWithPath: small + "/filler"))

        let db = sb.path("d.db")
        try TestDB.createMixed(db, megabytes: 6)
        try TestDB.checkpoint(db)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let repo = try sb.openRepository()
        var options = Snapshotter.Options(source: "d")
        options.dedupInMemory = 64
        options.dedupDirectory = small
        XCTAssertThrowsError(try Snapshotter(repository: repo, options: options).run(databasePath: db)) { error in
            let e = error as? LifeboatError
            XCTAssertEqual(e?.kind, .diskFull)
            let message = e?.message ?? "\(error)"
            XCTAssertTrue(message.contains(small) && message.contains("TMPDIR") && message.contains("no space left"), message)
            XCTAssertFalse(message.contains("\n"), "one line: \(message)")
            print("spill disk full: \(message)")
        }
        XCTAssertEqual(try repo.listSnapshots(source: "d").count, 0, "nothing committed")
        XCTAssertEqual(try FileIO.listDirectory(small).filter { $0.hasPrefix("lifeboat-dedup") }, [])

        options.dedupDirectory = sb.root
        XCTAssertGreaterThan(try Snapshotter(repository: repo, options: options).run(databasePath: db).pages, 500)
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
        let out = sb.path("out.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "d", "--to", out).status, 0)
        XCTAssertEqual(try TestDB.pages(out), try TestDB.pages(db))
    }
}
