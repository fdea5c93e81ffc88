import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Issue 16 (2, 6, 7, 8): a garbled pack repaired from a replica over real S3, a killed
/// restore's temporary file cleaned up, a hot journal explained, check on a read-only repository.
final class RecoveryTests: XCTestCase {
    struct Regions {
        let sb: Sandbox
        let a: S3TestServer.Info
        let repoA: String
        let repoB: String
        let env: [String: String]

        func lifeboat(_ args: [String], repos: [String]) throws -> CLIResult {
            try CLI.run(args + repos.flatMap { ["--repo", $0] }, env: sb.env(env))
        }

        func backend(_ location: String) throws -> any Backend {
            try openBackend(location: location, options: BackendOptions(caCertPath: a.caCert, environment: S3TestServer.dummyEnvironment))
        }
    }

    /// The two "regions" of ReplicationTests (same servers, same ports), a fresh prefix each.
    func regions(_ name: String = #function) throws -> Regions {
        let s = try ReplicationTests.twoRegions(name)
        return Regions(sb: s.sb, a: s.a, repoA: s.repoA, repoB: s.repoB, env: s.env)
    }

    /// Failure 2: `sync` never overwrites, so it cannot mend a garbled (present) object. The
    /// restore that falls back to the replica names the command that does, and it works.
    func testGarbledPackInThePrimaryIsRepairedFromTheReplica() throws {
        let s = try regions()
        let both = [s.repoA, s.repoB]
        let db = s.sb.path("p.db")
        try TestDB.createMixed(db, megabytes: 6, journal: "delete")
        XCTAssertEqual(try s.lifeboat(["init"], repos: both).status, 0)
        let snap = try s.lifeboat(["snapshot", db], repos: both)
        XCTAssertEqual(snap.status, 0, snap.stderr)
        let original = try FileIO.readFile(db)

        // Garbled in place in the primary: same size, 64 bytes inverted.
        let primary = try s.backend(s.repoA)
        let packs = try primary.list(.data).sorted { $0.size > $1.size }
        let victim = try XCTUnwrap(packs.first).key
        var bytes = try primary.get(victim)
        for i in (bytes.count / 2)..<(bytes.count / 2 + 64) { bytes[i] ^= 0xff }
        try primary.delete(victim)
        try primary.put(victim, bytes)

        let alone = try s.lifeboat(["restore", "latest", "--to", s.sb.path("alone.db")], repos: [s.repoA])
        XCTAssertEqual(alone.status, 13, alone.stderr)
        XCTAssertTrue(alone.stderr.contains("lifeboat repair"), alone.stderr)
        let fallback = try s.lifeboat(["restore", "latest", "--to", s.sb.path("both.db")], repos: both)
        XCTAssertEqual(fallback.status, 0, fallback.stderr)
        let advice = "lifeboat repair --repo \(s.repoA) --from \(s.repoB) --read-data"
        XCTAssertTrue(fallback.stderr.contains(advice), fallback.stderr)
        XCTAssertFalse(fallback.stderr.contains("'lifeboat sync'"), "sync cannot mend a damaged object: \(fallback.stderr)")

        // The advice, word for word.
        let repair = try CLI.run(["repair", "--repo", s.repoA, "--from", s.repoB, "--read-data", "--json"], env: s.sb.env(s.env))
        XCTAssertEqual(repair.status, 0, repair.stderr)
        XCTAssertEqual((try repair.json()["from_copies"] as? [String: Any])?["replaced"] as? [String], [victim.path])
        let out = s.sb.path("repaired.db")
        let restored = try s.lifeboat(["restore", "latest", "--to", out], repos: [s.repoA])
        XCTAssertEqual(restored.status, 0, restored.stderr)
        XCTAssertEqual(try FileIO.readFile(out), original)
        XCTAssertEqual(try s.lifeboat(["check", "--read-data"], repos: [s.repoA]).status, 0)
        XCTAssertEqual(try s.lifeboat(["check", "--read-data"], repos: [s.repoB]).status, 0)

        // sync --repair, without a passphrase: a truncated pack is found by its size alone.
        let second = try XCTUnwrap(packs.dropFirst().first).key
        let whole = try primary.get(second)
        try primary.delete(second)
        try primary.put(second, Array(whole.prefix(whole.count / 2)))
        var env = s.env
        env["LIFEBOAT_PASSWORD_FILE"] = "/nonexistent"
        let sync = try CLI.run(["sync", "--from", s.repoB, "--to", s.repoA, "--repair", "--json"], env: s.sb.env(env))
        XCTAssertEqual(sync.status, 0, sync.stderr)
        XCTAssertEqual((try sync.json()["repair"] as? [String: Any])?["replaced"] as? [String], [second.path])
        XCTAssertEqual(try primary.get(second), whole)
        let again = s.sb.path("again.db")
        XCTAssertEqual(try s.lifeboat(["restore", "latest", "--to", again], repos: [s.repoA]).status, 0)
        XCTAssertEqual(try FileIO.readFile(again), original)
    }

    /// Failure 6: a restore killed with SIGKILL leaves its full-size temporary file beside the
    /// target; the next restore of that target removes it (its writer is dead), and leaves
    /// alone one whose writer still holds it.
    func testKilledRestoresTemporaryFileIsRemovedByTheNextRestore() throws {
        let sb = try Sandbox()
        let db = sb.path("r.db")
        try TestDB.createMixed(db, megabytes: 48, journal: "delete")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let dir = sb.path("out")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let target = dir + "/target.db"
        func temporaries() -> [String] { ((try? FileIO.listDirectory(dir)) ?? []).filter { $0.hasPrefix(".target.db.lifeboat-restore-") } }

        let (p, _, _) = try CLI.start(["restore", "latest", "--to", target], env: sb.env())
        let deadline = Date().addingTimeInterval(20)
        while temporaries().isEmpty && p.isRunning && Date() < deadline { usleep(2000) }
        let running = p.isRunning
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(running, "the restore finished before it could be killed; the test proves nothing")
        let left = temporaries()
        XCTAssertEqual(left.count, 1, "a killed restore leaves its temporary file: \(left)")
        XCTAssertTrue(left.first?.contains("-\(p.processIdentifier)-") ?? false, "the name carries the writer's pid: \(left)")
        XCTAssertFalse(FileIO.fileExists(target))

        // A temporary file some live process holds (this test, standing for a concurrent restore).
        let live = dir + "/.target.db.lifeboat-restore-1-feedface"
        let fd = open(live, O_RDWR | O_CREAT, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)

        let again = try sb.lifeboat("restore", "latest", "--to", target)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("removed 1 temporary file"), again.stderr)
        XCTAssertEqual(try FileIO.readFile(target), try FileIO.readFile(db))
        XCTAssertEqual(temporaries(), [".target.db.lifeboat-restore-1-feedface"], "only the dead writer's file goes")

        close(fd)  // its writer gone
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", target, "--force").status, 0)
        XCTAssertEqual(temporaries(), [])
    }

    /// Failure 7: a writer in rollback-journal mode killed in the middle of a transaction
    /// leaves a hot journal; the snapshot says so and what to do, and after the remedy works.
    func testHotJournalOfACrashedWriterIsNamedWithItsRemedy() throws {
        let sb = try Sandbox()
        let db = sb.path("hot.db")
        try TestDB.create(db, journal: "delete", rows: 3000)
        try sb.lifeboat("init")
        // A real writer, in another process: a small page cache makes SQLite journal the old
        // pages and write changed ones into the database file before the commit.
        let script = """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("PRAGMA cache_size=2")
            c.execute("BEGIN")
            c.execute("UPDATE items SET body = 'half-done ' || body")
            print("ready", flush=True)
            time.sleep(120)
            """
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        writer.arguments = ["-c", script, db]
        let out = Pipe()
        writer.standardOutput = out
        try writer.run()
        let ready = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertTrue(ready.contains("ready"), "the writer did not start its transaction: \(ready)")
        kill(writer.processIdentifier, SIGKILL)
        writer.waitUntilExit()
        XCTAssertGreaterThan(try FileIO.status(db + "-journal")?.size ?? 0, 0, "no hot journal was left; the test proves nothing")

        let r = try sb.lifeboat("snapshot", db)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("hot journal") && r.stderr.contains(db + "-journal"), r.stderr)
        XCTAssertTrue(r.stderr.contains("crashed") && r.stderr.contains("roll") && r.stderr.contains("then run the snapshot again"), r.stderr)
        XCTAssertFalse(r.stderr.contains("readonly database"), r.stderr)
        XCTAssertGreaterThan(try FileIO.status(db + "-journal")?.size ?? 0, 0, "the snapshot must not have touched the journal")

        // The remedy: open it once with write access; SQLite rolls the half transaction back.
        _ = try SQLiteConnection(path: db).scalar("SELECT count(*) FROM sqlite_master")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let restored = sb.path("restored.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", restored).status, 0)
        XCTAssertEqual(try SQLiteConnection(path: restored, mode: .readOnly).scalar("SELECT count(*) FROM items WHERE body LIKE 'half-done%'")?.integer, 0)
    }

    /// Failure 8: after a disaster the backup disk is often mounted read-only. The tests run as
    /// root, which ignores permission bits, so `chmod -R a-w` would prove nothing; a read-only
    /// bind mount refuses every write with EROFS, root's included, as the real mount does.
    func testCheckRunsOnAReadOnlyRepository() throws {
        let sb = try Sandbox()
        let db = sb.path("ro.db")
        try TestDB.createMixed(db, megabytes: 4, journal: "delete")
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let ro = sb.path("ro-repo")
        guard let unmount = try mountReadOnlyBind(sb.repo, at: ro) else { return }
        defer { unmount() }
        XCTAssertEqual(creat(ro + "/probe", 0o600), -1, "the bind mount is not read-only")
        XCTAssertEqual(errno, EROFS)
        let before = try repositoryFiles(sb.repo)

        let r = try sb.lifeboat("check", "--read-data", env: ["LIFEBOAT_REPOSITORY": ro])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("read-only") && r.stderr.contains("without a lock"), r.stderr)
        XCTAssertTrue(r.stdout.contains("no errors"), r.stdout)

        // Damage (made beside the mount) is still found and reported, with nothing written.
        let pack = try XCTUnwrap(try LocalBackend(path: sb.repo).list(.data).max { $0.size < $1.size })
        XCTAssertEqual(truncate(sb.repo + "/" + pack.key.path, 100), 0)
        let damaged = try sb.lifeboat("check", "--json", env: ["LIFEBOAT_REPOSITORY": ro])
        XCTAssertEqual(damaged.status, 13, damaged.stderr)
        XCTAssertEqual(try damaged.json()["damaged_packs"] as? [String], [pack.key.name])
        XCTAssertEqual(try damaged.json()["damage_recorded"] as? Bool, false)
        XCTAssertEqual(try repositoryFiles(sb.repo), before, "check wrote to a read-only repository")
        XCTAssertTrue(try FileIO.readFile(sb.path("audit-log") + "/" + (try sb.openRepository().config.id) + ".jsonl").contains("\"check\""),
                      "the audit record goes to the local log")
    }

    /// Every file under a repository, for comparing before and after.
    func repositoryFiles(_ root: String) throws -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted()
    }
}

/// Bind-mounts `source` read-only at `path`; returns how to unmount it, or nil (with a failure
/// recorded) when not root.
func mountReadOnlyBind(_ source: String, at path: String, file: StaticString = #filePath, line: UInt = #line) throws -> (() -> Void)? {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    func run(_ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
    let unmount = { _ = try? run(["/bin/umount", path]) }
    guard try run(["/bin/mount", "--bind", source, path]) == 0 else {
        XCTFail("this test needs root to bind-mount a directory (CI runs as root)", file: file, line: line)
        return nil
    }
    guard try run(["/bin/mount", "-o", "remount,bind,ro", path]) == 0 else {
        unmount()
        XCTFail("cannot remount \(path) read-only", file: file, line: line)
        return nil
    }
    return unmount
}
