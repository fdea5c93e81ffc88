import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// kill -9 at any moment of a snapshot: the repository stays consistent, earlier snapshots
/// are unharmed, and the next snapshot succeeds.
final class CrashTests: XCTestCase {
    func testKillDuringSnapshotLeavesRepositoryConsistent() throws {
        let sb = try Sandbox()
        let db = sb.path("crash.db")
        try TestDB.createMixed(db, megabytes: 8, journal: "wal")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "c").status, 0)
        let firstImage = sb.path("first.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "c", "--to", firstImage).status, 0)

        // Change most of the database so each interrupted run has plenty to write.
        let big = sb.path("big.db")
        try TestDB.createMixed(big, megabytes: 24, journal: "wal")
        var killedMidway = 0
        for delayMs in [5, 20, 60, 120, 250, 400] {
            let (p, _, _) = try CLI.start(["snapshot", big, "--source", "big"], env: sb.env())
            usleep(UInt32(delayMs * 1000))
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                killedMidway += 1
            }
            p.waitUntilExit()
            let check = try sb.lifeboat("check", "--read-data")
            XCTAssertEqual(check.status, 0, "after kill at \(delayMs) ms: \(check.stdout) \(check.stderr)")
        }
        XCTAssertGreaterThan(killedMidway, 2, "the snapshot finished too fast to be interrupted; the test proves nothing")
        let out = sb.path("again.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "c", "--to", out).status, 0)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(firstImage), "an earlier snapshot was harmed")
        let s = try sb.lifeboat("snapshot", big, "--source", "big", "--json")
        XCTAssertEqual(s.status, 0, s.stderr)
        let restored = sb.path("big-restored.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "big", "--to", restored).status, 0)
        try TestDB.checkpoint(big)
        XCTAssertEqual(try FileIO.readFile(restored), try FileIO.readFile(big))
    }

    func testKillDuringRestoreLeavesNoTargetFile() throws {
        let sb = try Sandbox()
        let db = sb.path("r.db")
        try TestDB.createMixed(db, megabytes: 24, journal: "delete")
        try sb.lifeboat("init")
        try sb.lifeboat("snapshot", db)
        let target = sb.path("target.db")
        let (p, _, _) = try CLI.start(["restore", "latest", "--to", target], env: sb.env())
        // Killed while it writes: once its temporary sibling of the target exists.
        let writing = {
            ((try? FileManager.default.contentsOfDirectory(atPath: sb.root)) ?? []).contains { $0.hasPrefix(".target.db.lifeboat-restore-") }
        }
        XCTAssertTrue(waitUntil(every: 0.001) { writing() || !p.isRunning })
        let interrupted = p.isRunning
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(interrupted, "the restore finished before it was killed; the test proves nothing")
        XCTAssertFalse(FileIO.fileExists(target), "a killed restore must not leave a file under the target name")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", target).status, 0)
        XCTAssertEqual(try FileIO.readFile(target), try FileIO.readFile(db))
    }
}
