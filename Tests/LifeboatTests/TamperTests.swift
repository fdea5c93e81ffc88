import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Encryption and authentication: nothing readable is stored, and no damaged byte is ever
/// restored silently.
final class TamperTests: XCTestCase {
    func testNoPlaintextFromTheDatabaseIsFoundInTheRepository() throws {
        let sb = try Sandbox()
        let db = sb.path("secret.db")
        let marker = "CUSTOMER-SSN-078-05-1120"
        try TestDB.create(db, journal: "wal", rows: 3000, marker: marker)
        let w = try SQLiteConnection(path: db)
        try w.execute("CREATE TABLE notes(t TEXT); INSERT INTO notes VALUES ('Dr. Quinzel diagnosis confidential');")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        XCTAssertTrue(try FileIO.readFile(db).contains(marker), "the marker must be in the database for this test to mean anything")
        var files = 0
        for f in try FileManager.default.subpathsOfDirectory(atPath: sb.repo) {
            guard let st = try FileIO.status(sb.repo + "/" + f), st.isRegularFile else { continue }
            files += 1
            let bytes = try FileIO.readFile(sb.repo + "/" + f)
            for needle in [marker, "Quinzel", "lorem ipsum", "CREATE TABLE", "SQLite format 3", "items"] {
                XCTAssertFalse(bytes.contains(needle), "\(needle) found in \(f)")
            }
        }
        XCTAssertGreaterThanOrEqual(files, 5)
    }

    /// Flips bits across every object of a one-snapshot repository: `check --read-data` must
    /// fail every time, and a restore must either fail or produce the exact original bytes.
    func testEveryFlippedBitIsDetectedAndNeverRestoredSilently() throws {
        let sb = try Sandbox()
        let db = sb.path("orig.db")
        try TestDB.create(db, journal: "delete", rows: 1500)
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let original = try FileIO.readFile(db)
        let objects = try FileManager.default.subpathsOfDirectory(atPath: sb.repo).filter {
            (try? FileIO.status(sb.repo + "/" + $0))?.isRegularFile == true
        }.sorted()
        XCTAssertEqual(Set(objects.map { String($0.split(separator: "/")[0]) }), ["config", "keys", "index", "snapshots", "data", "audit"])
        var trials = 0
        for object in objects {
            let size = try XCTUnwrap(try FileIO.status(sb.repo + "/" + object)).size
            let positions = Set([0, 1, size / 3, size / 2, size - 40, size - 5, size - 1].filter { $0 >= 0 && $0 < size })
            for pos in positions.sorted() {
                let copy = sb.path("copy-\(trials)")
                try FileManager.default.copyItem(atPath: sb.repo, toPath: copy)
                defer { try? FileManager.default.removeItem(atPath: copy) }
                let target = copy + "/" + object
                var bytes = try FileIO.readFile(target)
                bytes[pos] ^= 0x10
                chmod(target, 0o600)
                try Data(bytes).write(to: URL(fileURLWithPath: target))
                let env = ["LIFEBOAT_REPOSITORY": copy]
                let check = try sb.lifeboat("check", "--read-data", env: env)
                XCTAssertNotEqual(check.status, 0, "flip at \(object):\(pos) not detected by check")
                let out = sb.path("out-\(trials).db")
                let restore = try sb.lifeboat("restore", "latest", "--to", out, env: env)
                if restore.status == 0 {
                    XCTAssertEqual(try FileIO.readFile(out), original, "flip at \(object):\(pos) silently restored")
                } else {
                    XCTAssertFalse(FileIO.fileExists(out), "a failed restore left a file behind")
                    XCTAssertEqual(restore.stderr.split(separator: "\n").count, 1, "one clear line: \(restore.stderr)")
                }
                trials += 1
            }
        }
        XCTAssertGreaterThan(trials, 20)
    }

    func testCheckNamesExactlyTheSnapshotsAMissingPackDamages() throws {
        let sb = try Sandbox()
        let db = sb.path("m.db")
        try TestDB.create(db, journal: "delete", rows: 2000)
        try sb.lifeboat("init")
        let a = try XCTUnwrap(try sb.lifeboat("snapshot", db, "--json").json()["id"] as? String)
        let packsA = Set(try LocalBackend(path: sb.repo).list(.data).map(\.key.name))
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE items SET body = 'changed' WHERE id % 50 = 0")
        let b = try XCTUnwrap(try sb.lifeboat("snapshot", db, "--json").json()["id"] as? String)
        let packsB = Set(try LocalBackend(path: sb.repo).list(.data).map(\.key.name)).subtracting(packsA)
        // One pack of pages and one of page-table blobs (the delta).
        XCTAssertEqual(packsB.count, 2)
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)

        // Losing either of the second snapshot's packs damages only the second snapshot.
        for newPack in packsB.sorted() {
            let path = sb.repo + "/data/\(newPack.prefix(2))/\(newPack)"
            try FileManager.default.moveItem(atPath: path, toPath: path + ".away")
            let report = try sb.lifeboat("check", "--json")
            XCTAssertEqual(report.status, 13)
            let damaged = (try report.json()["damaged_snapshots"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            XCTAssertEqual(damaged, [b])
            XCTAssertEqual(try sb.lifeboat("restore", a, "--to", sb.path("a.db"), "--force").status, 0, "the older snapshot is unharmed")
            let failed = try sb.lifeboat("restore", b, "--to", sb.path("b.db"))
            XCTAssertNotEqual(failed.status, 0)
            XCTAssertTrue(failed.stderr.contains("missing"), failed.stderr)
            XCTAssertFalse(FileIO.fileExists(sb.path("b.db")))
            try FileManager.default.moveItem(atPath: path + ".away", toPath: path)
        }
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard !n.isEmpty, n.count <= count else { return false }
        var i = 0
        while i <= count - n.count {
            if self[i] == n[0] && Array(self[i..<(i + n.count)]) == n { return true }
            i += 1
        }
        return false
    }
}
