import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

final class WorkloadTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "lifeboat-workload-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    @discardableResult
    private func generate(_ name: String, size: Int = 4 << 20, seed: UInt64 = 7, journal: JournalMode = .wal,
                          markers: [String] = []) throws -> ProcessDatabaseGenerator.Summary {
        try ProcessDatabaseGenerator(options: .init(targetBytes: size, seed: seed, journalMode: journal, markers: markers))
            .generate(at: path(name))
    }

    private func copy(_ from: String, _ to: String) throws {
        try FileManager.default.copyItem(atPath: path(from), toPath: path(to))
    }

    private func count(_ db: SQLiteConnection, _ table: String) throws -> Int {
        Int(try XCTUnwrap(db.scalar("SELECT count(*) FROM \(table)")?.integer))
    }

    // MARK: generator

    func testGeneratorReachesRequestedSizeInWALModeAndPassesIntegrityCheck() throws {
        let target = 4 << 20
        let summary = try generate("a.db", size: target)
        let size = try XCTUnwrap(FileIO.status(path("a.db"))).size
        XCTAssertEqual(size, summary.fileBytes)
        XCTAssertEqual(Double(size), Double(target), accuracy: Double(target) * 0.1)
        XCTAssertEqual(summary.pageSize, 4096)
        XCTAssertEqual(summary.pages * 4096, size)
        XCTAssertFalse(FileIO.fileExists(path("a.db-wal")), "generation leaves no WAL behind")

        // WAL mode is persistent: header bytes 18 and 19 (write/read version) are 2.
        let header = try FileIO.readFile(path("a.db")).prefix(20)
        XCTAssertEqual(Array(header[18...19]), [2, 2])
        let db = try SQLiteConnection(path: path("a.db"), mode: .readOnly)
        XCTAssertEqual(try db.scalar("PRAGMA journal_mode")?.text, "wal")
        XCTAssertEqual(try db.integrityCheck(), ["ok"])
        XCTAssertEqual(try db.scalar("PRAGMA page_size")?.integer, 4096)

        // Every table is filled and the counts match the summary.
        XCTAssertEqual(try count(db, "requests"), summary.requests)
        XCTAssertEqual(try count(db, "tasks"), summary.tasks)
        XCTAssertEqual(try count(db, "comments"), summary.comments)
        XCTAssertEqual(try count(db, "attachments"), summary.attachments)
        XCTAssertGreaterThan(summary.attachments, 0)
        XCTAssertGreaterThan(summary.tasks, summary.requests)
        XCTAssertEqual(try db.scalar("SELECT count(*) FROM requests WHERE json_valid(data) = 0")?.integer, 0)
        XCTAssertEqual(try db.scalar("SELECT sum(length(content)) FROM attachments")?.integer, Int64(summary.blobBytes))
        let indexes = try db.query("SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")
        XCTAssertGreaterThanOrEqual(indexes.count, 7)

        // Mix by bytes as in the brief: about 1/2 text, 1/4 JSON, 1/4 incompressible attachments.
        let total = Double(summary.textBytes + summary.jsonBytes + summary.blobBytes)
        XCTAssertEqual(Double(summary.textBytes) / total, 0.5, accuracy: 0.07)
        XCTAssertEqual(Double(summary.jsonBytes) / total, 0.25, accuracy: 0.07)
        XCTAssertEqual(Double(summary.blobBytes) / total, 0.25, accuracy: 0.07)
    }

    func testGeneratorIsDeterministicForASeed() throws {
        try generate("a.db", size: 1 << 20, seed: 42)
        try generate("b.db", size: 1 << 20, seed: 42)
        try generate("c.db", size: 1 << 20, seed: 43)
        XCTAssertEqual(try FileIO.readFile(path("a.db")), try FileIO.readFile(path("b.db")))
        let other = try PageDiff.compare(path("a.db"), path("c.db"))
        XCTAssertGreaterThan(other.changedPages, other.pagesA / 2, "another seed gives other data")
    }

    func testGeneratorHonoursJournalModeMarkersAndRefusesToOverwrite() throws {
        try generate("d.db", size: 1 << 20, journal: .delete, markers: ["LB-MARKER-alpha", "LB-MARKER-beta"])
        let bytes = try FileIO.readFile(path("d.db"))
        XCTAssertEqual(Array(bytes[18...19]), [1, 1], "rollback-journal header")
        let db = try SQLiteConnection(path: path("d.db"), mode: .readOnly)
        XCTAssertEqual(try db.scalar("PRAGMA journal_mode")?.text, "delete")
        for marker in ["LB-MARKER-alpha", "LB-MARKER-beta"] {
            XCTAssertEqual(try db.scalar("SELECT count(*) FROM requests WHERE data ->> '$.reference' = ?", [.text(marker)])?.integer, 1)
            XCTAssertEqual(try db.scalar("SELECT count(*) FROM comments WHERE instr(body, ?) > 0", [.text(marker)])?.integer, 1)
        }
        XCTAssertNotNil(Self.find(Array("LB-MARKER-beta".utf8), in: bytes), "markers are stored in plaintext")

        XCTAssertThrowsError(try generate("d.db", size: 1 << 20)) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .exists)
        }
        XCTAssertThrowsError(try generate("e.db", size: 1 << 20, markers: ["with \"quote\""])) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .usage)
        }
        XCTAssertFalse(FileIO.fileExists(path("e.db")))
    }

    // MARK: mutator

    func testMutatorChangesAboutOnePercentOfRowsScatteredOverFewPages() throws {
        let summary = try generate("a.db")
        try copy("a.db", "b.db")
        try copy("a.db", "c.db")
        let rowsBefore = summary.requests + summary.tasks + summary.comments + summary.attachments

        let result = try ProcessDatabaseMutator(percent: 1, seed: 5).mutate(at: path("b.db"))
        XCTAssertEqual(result.rowsBefore, rowsBefore)
        let budget = Int((Double(rowsBefore) / 100).rounded(.up))
        XCTAssertGreaterThanOrEqual(result.rowsChanged, budget)
        XCTAssertLessThanOrEqual(result.rowsChanged, budget + 16, "stops within one request of the budget")
        XCTAssertGreaterThan(result.rowsUpdated, result.rowsChanged / 3, "mostly updates of old rows")
        XCTAssertGreaterThan(result.requestsAdvanced, 0)

        let db = try SQLiteConnection(path: path("b.db"), mode: .readOnly)
        XCTAssertEqual(try db.integrityCheck(), ["ok"])
        let rowsAfter = try ["requests", "tasks", "comments", "attachments"].reduce(0) { $0 + (try count(db, $1)) }
        XCTAssertEqual(rowsAfter - rowsBefore, result.rowsInserted)
        let advanced = try XCTUnwrap(db.scalar("SELECT count(*) FROM requests WHERE data ->> '$.last_action' IS NOT NULL")?.integer)
        XCTAssertGreaterThan(advanced, 0)
        XCTAssertLessThanOrEqual(Int(advanced), result.requestsAdvanced)
        // Updates are scattered: the oldest and the newest half of the history are both touched.
        let maxID = summary.requests
        let oldHalf = try XCTUnwrap(db.scalar("SELECT count(*) FROM requests WHERE id <= ? AND data ->> '$.last_action' IS NOT NULL", [.integer(Int64(maxID / 2))])?.integer)
        XCTAssertGreaterThan(oldHalf, 0)
        XCTAssertLessThan(oldHalf, advanced)

        // The change lands in the main file (checkpointed) and touches few pages.
        XCTAssertEqual(try FileIO.status(path("b.db-wal"))?.size ?? 0, 0)
        let diff = try PageDiff.compare(path("a.db"), path("b.db"))
        XCTAssertGreaterThan(diff.changedPages, result.requestsAdvanced / 2)
        XCTAssertLessThan(diff.changedPages, diff.pagesA / 5, "a 1 % change must not rewrite the file")

        // Deterministic: the same seed changes a copy identically.
        try ProcessDatabaseMutator(percent: 1, seed: 5).mutate(at: path("c.db"))
        XCTAssertEqual(try PageDiff.compare(path("b.db"), path("c.db")).changedPages, 0)
    }

    func testMutatorRejectsBadInput() throws {
        XCTAssertThrowsError(try ProcessDatabaseMutator(percent: 0).mutate(at: path("missing.db"))) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .usage)
        }
        XCTAssertThrowsError(try ProcessDatabaseMutator(percent: 1).mutate(at: path("missing.db"))) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .notFound)
        }
        let other = try SQLiteConnection(path: path("other.db"), mode: .readWriteCreate)
        try other.execute("CREATE TABLE t(x)")
        XCTAssertThrowsError(try ProcessDatabaseMutator(percent: 1).mutate(at: path("other.db"))) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .database)
        }
    }

    // MARK: write load

    private func checkRate(journal: JournalMode) throws {
        try generate("p.db", size: 1 << 20, journal: .wal)
        let load = try WriteLoad(path: path("p.db"), options: .init(commitsPerSecond: 100, duration: 1, journalMode: journal))
        let result = try load.run()
        XCTAssertEqual(result.journalMode, journal.rawValue)
        XCTAssertEqual(result.commits, 100, "one commit per 1/rate seconds for the duration")
        XCTAssertEqual(result.seconds, 1, accuracy: 0.5)
        XCTAssertEqual(result.firstSeq, 1)
        XCTAssertEqual(result.lastSeq, 100)

        let markers = try WriteLoad.inspect(path: path("p.db"))
        XCTAssertEqual(markers.count, 100)
        XCTAssertEqual(markers.lastSeq, 100)
        XCTAssertEqual(markers.gaps, 0)
        XCTAssertEqual(markers.tornTransactions, 0)
        XCTAssertEqual(markers.lastCommittedAtMs, result.lastCommittedAtMs)
        let db = try SQLiteConnection(path: path("p.db"), mode: .readOnly)
        XCTAssertEqual(try db.scalar("PRAGMA journal_mode")?.text, journal.rawValue)
        // Commit times are spaced by the rate: 99 intervals of 10 ms.
        let span = try XCTUnwrap(db.scalar("SELECT max(committed_at_ms) - min(committed_at_ms) FROM lifeboat_markers")?.integer)
        XCTAssertEqual(Double(span), 990, accuracy: 300)
        XCTAssertGreaterThan(try XCTUnwrap(db.scalar("SELECT count(*) FROM requests WHERE updated_at >= ?", [.integer(result.lastCommittedAtMs - 5_000)])?.integer), 0,
                             "process rows are touched in the same transactions")
    }

    func testWriteLoadCommitsAtRequestedRateInWALMode() throws {
        try checkRate(journal: .wal)
    }

    func testWriteLoadCommitsAtRequestedRateInRollbackJournalMode() throws {
        try checkRate(journal: .delete)
    }

    func testWriteLoadStopsOnRequestAndResumesWithoutGaps() throws {
        let load = try WriteLoad(path: path("m.db"), options: .init(commitsPerSecond: 500))
        load.start()
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertGreaterThan(load.progress.commits, 0, "progress is visible while running")
        load.stop()
        let first = try load.wait()
        XCTAssertGreaterThan(first.commits, 20)
        XCTAssertEqual(first.lastSeq, Int64(first.commits))

        let second = try WriteLoad(path: path("m.db"), options: .init(commitsPerSecond: 1000, maxCommits: 10)).run()
        XCTAssertEqual(second.commits, 10)
        XCTAssertEqual(second.firstSeq, first.lastSeq + 1)
        let markers = try WriteLoad.inspect(path: path("m.db"))
        XCTAssertEqual(markers.count, first.commits + 10)
        XCTAssertTrue(markers.isConsistent)
    }

    func testInspectDetectsLostAndTornTransactions() throws {
        try WriteLoad(path: path("t.db"), options: .init(commitsPerSecond: 10_000, maxCommits: 20)).run()
        XCTAssertTrue(try WriteLoad.inspect(path: path("t.db")).isConsistent)
        let db = try SQLiteConnection(path: path("t.db"), mode: .readWrite)
        // A whole transaction lost in the middle: a gap, nothing torn.
        try db.execute("DELETE FROM lifeboat_markers WHERE seq = 10; DELETE FROM lifeboat_marker_log WHERE seq = 10")
        var s = try WriteLoad.inspect(path: path("t.db"))
        XCTAssertEqual(s.gaps, 1)
        XCTAssertEqual(s.tornTransactions, 0)
        XCTAssertFalse(s.isConsistent)
        // Half a transaction: the marker without its log row.
        try db.execute("DELETE FROM lifeboat_marker_log WHERE seq = 5")
        s = try WriteLoad.inspect(path: path("t.db"))
        XCTAssertEqual(s.tornTransactions, 1)
        // The newest transaction's marker gone but its state row kept.
        try db.execute("DELETE FROM lifeboat_markers WHERE seq = 20; DELETE FROM lifeboat_marker_log WHERE seq = 20")
        s = try WriteLoad.inspect(path: path("t.db"))
        XCTAssertEqual(s.lastSeq, 19)
        XCTAssertEqual(s.tornTransactions, 2)
    }

    func testWriteLoadRejectsBadRate() {
        XCTAssertThrowsError(try WriteLoad(path: path("x.db"), options: .init(commitsPerSecond: 0))) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .usage)
        }
    }

    // MARK: page diff

    func testPageDiffCountsChangedAndAddedPages() throws {
        try generate("a.db", size: 256 << 10, journal: .delete)
        try copy("a.db", "b.db")
        XCTAssertEqual(try PageDiff.compare(path("a.db"), path("b.db")).changedPages, 0)

        let fd = open(path("b.db"), O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        // One byte in page 3 and the last byte of page 7 (0-based): two pages.
        try Self.write(fd, [0xAB], at: 3 * 4096 + 100)
        let last = try FileIO.readExactly(fd: fd, offset: 8 * 4096 - 1, count: 1, path: "b.db")
        try Self.write(fd, [last[0] ^ 0xFF], at: 8 * 4096 - 1)
        var diff = try PageDiff.compare(path("a.db"), path("b.db"))
        XCTAssertEqual(diff.changedPages, 2)
        XCTAssertEqual(diff.changedBytes, 2 * 4096)
        XCTAssertEqual(diff.pageSize, 4096)

        // Pages present in one file only count as changed.
        let size = try XCTUnwrap(FileIO.status(path("b.db"))).size
        try Self.write(fd, [UInt8](repeating: 0, count: 4096 * 3), at: size)
        diff = try PageDiff.compare(path("a.db"), path("b.db"))
        XCTAssertEqual(diff.changedPages, 5)
        XCTAssertEqual(diff.pagesB, diff.pagesA + 3)
        XCTAssertEqual(try PageDiff.compare(path("b.db"), path("a.db")).changedPages, 5)
    }

    func testPageDiffRejectsNonDatabases() throws {
        try generate("a.db", size: 256 << 10)
        XCTAssertTrue(FileManager.default.createFile(atPath: path("junk"), contents: Data(repeating: 7, count: 8192)))
        XCTAssertThrowsError(try PageDiff.compare(path("a.db"), path("junk"))) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .database)
        }
        XCTAssertThrowsError(try PageDiff.compare(path("a.db"), path("none"))) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .notFound)
        }
    }

    private static func write(_ fd: Int32, _ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { try FileIO.pwriteAll(fd: fd, $0, offset: offset, path: "b.db") }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count, let first = needle.first else { return nil }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == first && Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
