import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Repository locks: two processes contending, stale locks after kill -9, unlock, refresh,
/// and many threads racing for the exclusive lock.
final class LockTests: XCTestCase {
    /// A rollback-journal database whose EXCLUSIVE lock the test holds: a snapshot of it
    /// takes its repository lock and then waits (SQLite busy timeout, 10 s) until released,
    /// which gives the test a run that is reliably in progress.
    final class BlockedDatabase {
        let path: String
        let connection: SQLiteConnection
        init(_ path: String) throws {
            self.path = path
            try TestDB.create(path, journal: "delete", rows: 500)
            connection = try SQLiteConnection(path: path)
            try connection.execute("BEGIN EXCLUSIVE")
        }
        func release() throws { try connection.execute("COMMIT") }
    }

    func lockObjects(_ sb: Sandbox) throws -> [String] {
        try FileIO.listDirectory(sb.repo + "/locks")
    }

    func waitForLock(_ sb: Sandbox, count: Int = 1, file: StaticString = #filePath, line: UInt = #line) throws {
        for _ in 0..<500 {
            if try lockObjects(sb).count >= count { return }
            usleep(10_000)
        }
        XCTFail("no lock object appeared", file: file, line: line)
    }

    func testTwoSnapshotsOfOneSourceNeverInterleaveAndOtherSourcesRunAlongside() throws {
        let sb = try Sandbox()
        try sb.lifeboat("init")
        let blocked = try BlockedDatabase(sb.path("busy.db"))
        let (first, _, firstErr) = try CLI.start(["snapshot", blocked.path, "--source", "shared", "--json"], env: sb.env())
        try waitForLock(sb)

        // Same source while the first holds its lock: refused at once with exit code 11.
        let second = try sb.lifeboat("snapshot", blocked.path, "--source", "shared")
        XCTAssertEqual(second.status, 11, second.stderr)
        XCTAssertTrue(second.stderr.contains("locked by snapshot of 'shared'") && second.stderr.contains("pid \(first.processIdentifier)"), second.stderr)
        // --lock-wait: waits, then gives up with the same code.
        let started = Date()
        XCTAssertEqual(try sb.lifeboat("snapshot", blocked.path, "--source", "shared", "--lock-wait", "1s").status, 11)
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.5)

        // A different source runs while the first is still in progress.
        let other = sb.path("other.db")
        try TestDB.create(other, rows: 300)
        let third = try sb.lifeboat("snapshot", other, "--source", "other")
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertTrue(first.isRunning, "the first snapshot should still be waiting for its database")
        // Prune needs the whole repository: refused while a snapshot runs.
        XCTAssertEqual(try sb.lifeboat("prune").status, 11)

        try blocked.release()
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0, String(decoding: firstErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        XCTAssertEqual(try lockObjects(sb), [], "every run removes its lock")
        let sources = try sb.lifeboat("snapshots", "--json").jsonArray().compactMap { $0["source"] as? String }
        XCTAssertEqual(sources.sorted(), ["other", "shared"])
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
    }

    func testStaleLockOfKilledRunIsTakenOver() throws {
        let sb = try Sandbox()
        try sb.lifeboat("init")
        let blocked = try BlockedDatabase(sb.path("busy.db"))
        let (victim, _, _) = try CLI.start(["snapshot", blocked.path, "--source", "s"], env: sb.env())
        try waitForLock(sb)
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        try blocked.release()
        XCTAssertEqual(try lockObjects(sb).count, 1, "a killed run leaves its lock behind")
        let entries = try Locks.list(try sb.openRepository(), staleAfter: 1800)
        XCTAssertEqual(entries.first?.stale, true)
        XCTAssertTrue(entries.first?.staleReason?.contains("is gone") ?? false)

        let next = try sb.lifeboat("snapshot", blocked.path, "--source", "s")
        XCTAssertEqual(next.status, 0, next.stderr)
        XCTAssertTrue(next.stderr.contains("took over a stale lock"), next.stderr)
        XCTAssertEqual(try lockObjects(sb), [], "the stale lock was removed")
        XCTAssertEqual(try sb.lifeboat("check").status, 0)
    }

    func writeForeignLock(_ sb: Sandbox, ageSeconds: Double, exclusive: Bool = false, source: String? = "s") throws {
        let t = Date().addingTimeInterval(-ageSeconds).unixMilliseconds
        _ = try Locks.write(try sb.openRepository(), LockRecord(host: "another-host.example", pid: 4242, pidStart: nil, timeMs: t, startedMs: t,
                                                              operation: exclusive ? "prune" : "snapshot", source: source, exclusive: exclusive))
    }

    func testLiveLockOfAnotherHostNeedsUnlockRemoveAll() throws {
        let sb = try Sandbox()
        let db = sb.path("s.db")
        try TestDB.create(db, rows: 300)
        try sb.lifeboat("init")
        try writeForeignLock(sb, ageSeconds: 60)
        let r = try sb.lifeboat("snapshot", db, "--source", "s")
        XCTAssertEqual(r.status, 11)
        XCTAssertTrue(r.stderr.contains("another-host.example") && r.stderr.contains("lifeboat unlock"), r.stderr)
        // Other sources and repository-wide shared runs are not blocked by it.
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "t").status, 0)
        XCTAssertEqual(try sb.lifeboat("forget", "--keep-last", "5").status, 0)
        XCTAssertEqual(try sb.lifeboat("prune").status, 11)

        // Plain unlock keeps a lock that may be live; --remove-all removes it.
        let u = try sb.lifeboat("unlock")
        XCTAssertEqual(u.status, 0)
        XCTAssertTrue(u.stdout.contains("0 lock(s) removed, 1 left"), u.stdout)
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "s").status, 11)
        XCTAssertTrue(try sb.lifeboat("unlock", "--remove-all").stdout.contains("1 lock(s) removed, 0 left"))
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "s").status, 0)
    }

    func testOldLockIsStaleAndUnlockRemovesIt() throws {
        let sb = try Sandbox()
        let db = sb.path("s.db")
        try TestDB.create(db, rows: 300)
        try sb.lifeboat("init")
        try writeForeignLock(sb, ageSeconds: 3 * 3600, exclusive: true, source: nil)
        let u = try sb.lifeboat("unlock", "--json")
        XCTAssertEqual(try u.jsonArray().first?["removed"] as? Bool, true)
        XCTAssertEqual(try lockObjects(sb), [])
        // And a run meeting one takes it over by itself.
        try writeForeignLock(sb, ageSeconds: 3 * 3600, exclusive: true, source: nil)
        let r = try sb.lifeboat("snapshot", db)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("not refreshed"), r.stderr)
        // The config's stale_after applies: 10 minutes makes a 20-minute-old lock stale.
        try writeForeignLock(sb, ageSeconds: 1200)
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "s").status, 11)
        let config = sb.path("lifeboat.yml")
        try Data("lock: { stale_after: 10m }\n".utf8).write(to: URL(fileURLWithPath: config))
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--source", "s", "--config", config).status, 0)
    }

    func testHolderRefreshesItsLockAndReleaseRemovesIt() throws {
        let sb = try Sandbox()
        try sb.lifeboat("init")
        let repo = try sb.openRepository()
        let time = TestClock()
        var options = RepositoryLock.Options(staleAfter: 0.6)
        options.clock = time.clock
        let lock = try RepositoryLock.acquire(repo, operation: "test", exclusive: true, options: options)
        let firstKey = lock.key, firstRecord = lock.record
        // A second later on the lock's clock its first object is stale...
        time.advance(1.0)
        XCTAssertNotNil(Locks.staleReason(firstRecord, host: HostIdentity.hostName, staleAfter: 0.6, now: time.now))
        // ...but the holder refreshes it every 0.2 s: a new object, still exactly one, and not
        // stale at 0.6 s.
        var entries: [LockEntry] = []
        XCTAssertTrue(try waitUntil {
            entries = try Locks.list(repo, staleAfter: 0.6, now: time.now)
            return lock.record.timeMs == time.now.unixMilliseconds && entries.count == 1
        }, "not refreshed into exactly one lock object: \(entries.count)")
        XCTAssertNotEqual(lock.key, firstKey)
        XCTAssertEqual(entries.count, 1)
        XCTAssertEqual(entries.first?.stale, false)
        XCTAssertNoThrow(try lock.verifyHeld())
        lock.release()
        // At once: release waits for the refresher, so no copy it was writing is left behind.
        XCTAssertEqual(try lockObjects(sb), [])
    }

    func testLockRemovedBehindTheHoldersBackStaysRemoved() throws {
        let sb = try Sandbox()
        try sb.lifeboat("init")
        let repo = try sb.openRepository()
        // Refreshed every 20 s: the refreshes here are the test's own calls.
        let lock = try RepositoryLock.acquire(repo, operation: "test", exclusive: true, options: .init(staleAfter: 60))
        XCTAssertNoThrow(try lock.verifyHeld())
        // Removed behind its back: the holder notices before committing anything...
        try Locks.remove(repo, all: true, staleAfter: 60)
        XCTAssertThrowsError(try lock.verifyHeld()) { XCTAssertEqual(($0 as? LifeboatError)?.kind, .locked) }
        // ...and a refresh does not bring the lock back, which would hide the removal.
        lock.refresh()
        XCTAssertEqual(try lockObjects(sb), [])
        XCTAssertThrowsError(try lock.verifyHeld()) { XCTAssertEqual(($0 as? LifeboatError)?.kind, .locked) }
        lock.release()
        XCTAssertEqual(try lockObjects(sb), [])
    }

    func testRacingForTheExclusiveLockAdmitsOneAtATime() throws {
        let sb = try Sandbox()
        try sb.lifeboat("init")
        let repo = try sb.openRepository()
        let holders = Locked(0), maxHolders = Locked(0), wins = Locked(0)
        try Parallel.run(workers: 6) { _ in
            for _ in 0..<3 {
                do {
                    try RepositoryLock.with(repo, operation: "race", exclusive: true, options: .init(staleAfter: 60, wait: 20)) { _ in
                        let n = holders.withLock { $0 += 1; return $0 }
                        maxHolders.withLock { $0 = max($0, n) }
                        usleep(30_000)
                        holders.withLock { $0 -= 1 }
                        wins.withLock { $0 += 1 }
                    }
                } catch let e as LifeboatError where e.kind == .locked {
                    continue
                }
            }
        }
        XCTAssertEqual(maxHolders.current, 1, "two runs held the exclusive lock at once")
        XCTAssertGreaterThan(wins.current, 6)
        XCTAssertEqual(try lockObjects(sb), [])
    }
}
