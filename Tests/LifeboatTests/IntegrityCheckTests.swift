import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// The restore's integrity check, split over cores, must find what one full
/// PRAGMA integrity_check finds: damage only a whole-file check sees (the freelist) and damage
/// only the index cross-check sees (a UNIQUE index holding duplicates).
final class IntegrityCheckTests: XCTestCase {
    func makeDatabase(_ path: String) throws {
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try db.execute("""
            PRAGMA journal_mode=DELETE;
            CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER);
            CREATE INDEX t_a ON t(a);
            CREATE TABLE u(x TEXT);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
            INSERT INTO t(a, b) SELECT 'row ' || (i % 500), i FROM n;
            INSERT INTO u SELECT a FROM t;
            DELETE FROM u WHERE rowid % 2 = 0;
            """)
    }

    func testHealthyDatabaseIsOK() throws {
        let sb = try Sandbox()
        let path = sb.path("ok.db")
        try makeDatabase(path)
        XCTAssertEqual(try IntegrityCheck.run(path: path, workers: 2), ["ok"])
        XCTAssertEqual(try IntegrityCheck.run(path: path, workers: 1), ["ok"])
    }

    func testFreelistDamageIsFound() throws {
        let sb = try Sandbox()
        let path = sb.path("freelist.db")
        try makeDatabase(path)
        // The header's count of freelist pages (offset 36, big-endian) made wrong.
        var bytes = try FileIO.readFile(path)
        let count = Int(bytes[36]) << 24 | Int(bytes[37]) << 16 | Int(bytes[38]) << 8 | Int(bytes[39])
        XCTAssertGreaterThan(count, 0, "the deletes must leave free pages")
        bytes[39] &+= 3
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let full = try SQLiteConnection(path: path, immutable: true).integrityCheck()
        XCTAssertNotEqual(full, ["ok"])
        let split = try IntegrityCheck.run(path: path, workers: 2)
        XCTAssertNotEqual(split, ["ok"])
        XCTAssertTrue(split.contains { $0.contains("reelist") }, "\(split)")
    }

    func testDuplicatesInAUniqueIndexAreFound() throws {
        let sb = try Sandbox()
        let path = sb.path("unique.db")
        try makeDatabase(path)
        // The index is declared UNIQUE behind SQLite's back; its entries hold duplicates.
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql = 'CREATE UNIQUE INDEX t_a ON t(a)' WHERE name = 't_a';")
        let quick = try SQLiteConnection(path: path, immutable: true).query("PRAGMA quick_check").compactMap { $0.first?.text }
        XCTAssertEqual(quick, ["ok"], "quick_check alone does not see it")
        let split = try IntegrityCheck.run(path: path, workers: 2)
        XCTAssertNotEqual(split, ["ok"])
        XCTAssertTrue(split.contains { $0.contains("non-unique entry in index t_a") }, "\(split)")
    }
}
