import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations

/// `restore --resume`: a restore killed (or cut off from its repository) continues from the
/// temporary file it left, keeping only pages whose keyed id is the one the snapshot names.
final class RestoreResumeTests: XCTestCase {
    /// A half-written temporary file of a dead restore, with torn pages in it: the resumed
    /// restore keeps exactly the good pages, fetches the rest, and the result is the image.
    func testResumeKeepsOnlyPagesThatMatchTheirIDs() throws {
        let sb = try Sandbox()
        let db = sb.path("a.db")
        try TestDB.createMixed(db, megabytes: 6, journal: "wal")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "a").status, 0)
        let full = sb.path("full.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", full).status, 0)
        let image = try FileIO.readFile(full)
        let pageSize = 4096, pages = image.count / pageSize
        XCTAssertGreaterThan(pages, 100)

        // What a restore killed halfway leaves: the first half written, two of those pages torn.
        var partial = [UInt8](repeating: 0, count: image.count)
        let half = pages / 2
        partial.replaceSubrange(0..<(half * pageSize), with: image[0..<(half * pageSize)])
        for torn in [3, half - 2] { partial[torn * pageSize + 100] ^= 0xFF }
        let target = sb.path("restored.db")
        let leftover = sb.path(".restored.db.lifeboat-restore-999999-0badf00d")
        try Data(partial).write(to: URL(fileURLWithPath: leftover))

        let r = try sb.lifeboat("restore", "latest", "--to", target, "--resume", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try r.json()
        XCTAssertEqual(json["resumed"] as? Bool, true)
        // Zero pages of the image that lie in the unwritten half also match (a zero page is what
        // it is): count them to know the exact figure.
        let zero = [UInt8](repeating: 0, count: pageSize)
        let zerosInSecondHalf = (half..<pages).filter { Array(image[($0 * pageSize)..<(($0 + 1) * pageSize)]) == zero }.count
        XCTAssertEqual(json["reusedPages"] as? Int, half - 2 + zerosInSecondHalf)
        XCTAssertEqual(try FileIO.readFile(target), image)
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover), "the adopted file became the target")

        // Without a leftover, --resume restores from the start and says so.
        let again = try sb.lifeboat("restore", "latest", "--to", sb.path("again.db"), "--resume")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("no interrupted restore"), again.stderr)
        XCTAssertEqual(try FileIO.readFile(sb.path("again.db")), image)
    }

    /// kill -9 at several moments of a restore, then --resume: the file is the image every time.
    func testKilledRestoresResumeToTheImage() throws {
        let sb = try Sandbox()
        let db = sb.path("b.db")
        try TestDB.createMixed(db, megabytes: 40, journal: "wal")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "b").status, 0)
        let image = sb.path("image.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", image).status, 0)
        let expected = try FileIO.readFile(image)
        var killed = 0, reusedSome = 0
        var generator = SystemRandomNumberGenerator()
        for round in 0..<5 {
            let target = sb.path("r\(round).db")
            let (p, _, _) = try CLI.start(["restore", "latest", "--to", target], env: sb.env())
            // Killed once some pages are written (a sample of them is no longer zero), after a
            // random further moment: early, mid-write or late in the restore.
            let deadline = Date().addingTimeInterval(20)
            while p.isRunning && Date() < deadline && !Self.somePageWritten(beside: target, pageCount: expected.count / 4096) { usleep(2_000) }
            usleep(UInt32.random(in: 0...40_000, using: &generator))
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                killed += 1
            }
            p.waitUntilExit()
            let r = try sb.lifeboat("restore", "latest", "--to", target, "--resume", "--force", "--json")
            XCTAssertEqual(r.status, 0, "round \(round): \(r.stderr)")
            if (try r.json()["reusedPages"] as? Int ?? 0) > 0 { reusedSome += 1 }
            XCTAssertEqual(try FileIO.readFile(target), expected, "round \(round)")
            let left = try FileManager.default.contentsOfDirectory(atPath: sb.root).filter { $0.contains("lifeboat-restore") }
            XCTAssertEqual(left, [], "round \(round): temporary files left")
        }
        print("RestoreResumeTests: \(killed) of 5 restores killed midway, \(reusedSome) resumed with pages in place")
        XCTAssertGreaterThanOrEqual(killed, 3, "the restores finished before they could be killed; the test proves little")
        XCTAssertGreaterThanOrEqual(reusedSome, 1, "no resumed restore kept any page")
    }

    /// Whether the temporary file of a restore of `target` holds a written page: one of every
    /// 64 pages is sampled.
    static func somePageWritten(beside target: String, pageCount: Int) -> Bool {
        let dir = (target as NSString).deletingLastPathComponent
        let prefix = "." + (target as NSString).lastPathComponent + ".lifeboat-restore-"
        guard let name = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.first(where: { $0.hasPrefix(prefix) }),
              let h = FileHandle(forReadingAtPath: dir + "/" + name) else { return false }
        defer { try? h.close() }
        for page in stride(from: 0, to: pageCount, by: 64) {
            try? h.seek(toOffset: UInt64(page * 4096))
            if let d = try? h.read(upToCount: 4096), d.contains(where: { $0 != 0 }) { return true }
        }
        return false
    }
}
