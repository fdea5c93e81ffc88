import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload

/// `lifeboat replicate` run as its users run it (a separate process following a real WAL-mode
/// database that this test writes to), stopped, killed and restarted; restores compared with
/// the source page for page, and with the marker log at points in time.
final class ContinuousReplicationTests: XCTestCase {
    /// Commits marker rows and remembers when each commit returned.
    final class MarkerWriter: @unchecked Sendable { // used by one thread at a time
        let db: SQLiteConnection
        private(set) var log: [(id: Int64, time: Date)] = []
        private var next: Int64 = 1

        init(_ path: String) throws {
            db = try SQLiteConnection(path: path, mode: .readWrite, busyTimeoutMilliseconds: 10_000)
            try db.execute("CREATE TABLE IF NOT EXISTS markers(id INTEGER PRIMARY KEY, body TEXT)")
            next = (try db.scalar("SELECT coalesce(max(id), 0) + 1 FROM markers")?.integer) ?? 1
        }

        /// `count` commits of one marker each (every 50th also rewrites a spread of rows).
        func commit(_ count: Int, pause: Double = 0.001) throws {
            for _ in 0..<count {
                try db.execute("BEGIN")
                try db.query("INSERT INTO markers(id, body) VALUES (?, ?)", [.integer(next), .text(String(repeating: "m\(next) ", count: 20))])
                if next % 50 == 0 { try db.execute("UPDATE items SET n = n + 1 WHERE id % 37 = \(next % 37)") }
                try db.execute("COMMIT")
                log.append((next, Date()))
                next += 1
                if pause > 0 { Thread.sleep(forTimeInterval: pause) }
            }
        }
    }

    func markers(_ path: String) throws -> Set<Int64> {
        let db = try SQLiteConnection(path: path, mode: .readOnly)
        return Set(try db.query("SELECT id FROM markers").compactMap { $0.first?.integer })
    }

    /// Starts `replicate` and waits until it follows the WAL (its starting snapshot, if it takes one, is stored).
    func startReplicate(_ sb: Sandbox, _ db: String, _ extra: [String] = [], expectSnapshot: Bool = true) throws -> (Process, Pipe) {
        let before = (try? sb.openRepository().listSnapshots().count) ?? 0
        let (p, out, err) = try CLI.start(["replicate", db, "--interval", "200ms"] + extra, env: sb.env())
        // stdout stays empty; drain it so the child never blocks.
        Thread { _ = out.fileHandleForReading.readDataToEndOfFile() }.start()
        if expectSnapshot {
            XCTAssertTrue(waitUntil(timeout: 30, every: 0.05) { ((try? sb.openRepository().listSnapshots().count) ?? 0) > before || !p.isRunning })
        } else {
            Thread.sleep(forTimeInterval: 0.5)
        }
        return (p, err)
    }

    /// A database, a local repository and one on a moto S3 server over TLS (a fresh prefix),
    /// initialised as copies of one repository; `env` for the CLI.
    func localAndS3(_ name: String, port: Int, env extra: [String: String] = [:]) throws -> (Sandbox, [String: String], String, String) {
        let sb = try Sandbox(name)
        let server = try S3TestServer.start(name, port: port)
        var env = S3TestServer.dummyEnvironment
        env["LIFEBOAT_CACERT"] = server.caCert
        env["LIFEBOAT_REPOSITORY"] = ""
        for (k, v) in extra { env[k] = v }
        let s3 = "s3:\(server.endpoint)/\(name)/\(UUID().uuidString.lowercased())"
        let db = sb.path("bpm.db")
        try TestDB.create(db, rows: 300)
        XCTAssertEqual(try CLI.run(["init", "--repo", sb.repo, "--repo", s3], env: sb.env(env)).status, 0)
        return (sb, env, s3, db)
    }

    /// Starts `replicate` on explicit repositories, without waiting for anything.
    func startReplicate(_ sb: Sandbox, _ db: String, env: [String: String], repos: [String]) throws -> (Process, Pipe) {
        let (p, out, err) = try CLI.start(["replicate", db, "--interval", "200ms"] + repos.flatMap { ["--repo", $0] }, env: sb.env(env))
        Thread { _ = out.fileHandleForReading.readDataToEndOfFile() }.start()
        return (p, err)
    }

    /// Stops with SIGTERM; returns exit status and stderr.
    @discardableResult
    func stop(_ p: Process, _ err: Pipe) -> (Int32, String) {
        p.terminate()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    func kill9(_ p: Process) {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Restores `--at` `count` random times between the log's first and last commit. Each state
    /// must hold every marker a running replicate read (`seen`: when it could first read a
    /// commit) more than `slack` before T (0.6 s by default: a loaded machine), and none
    /// begun after T; `check` gets each restored file, T and its markers.
    func checkRestoresAt(_ sb: Sandbox, _ log: [(id: Int64, time: Date)], count: Int, rng: inout SeededGenerator,
                         seen: (Date) -> Date = { $0 }, slack: Double = 0.6, _ check: (String, Date, Set<Int64>) throws -> Void) throws {
        let span = log[log.count - 1].time.timeIntervalSince(log[0].time)
        for i in 0..<count {
            let at = log[0].time.addingTimeInterval(span * Double(rng.below(1000)) / 1000)
            let target = sb.path("at-\(i).db")
            let res = try sb.lifeboat("restore", "--at", RFC3339.format(at, fractional: true), "--to", target)
            XCTAssertEqual(res.status, 0, res.stderr)
            let have = try markers(target)
            for m in log where seen(m.time).addingTimeInterval(slack) < at { XCTAssertTrue(have.contains(m.id), "marker \(m.id) committed before \(at) is missing") }
            // Marker j began after marker j-1's commit returned (one writer thread); its commit
            // becomes visible before its own return, so that return cannot bound it. (1 ms: T is
            // given to the millisecond.)
            for j in 1..<log.count where log[j - 1].time > at.addingTimeInterval(0.001) {
                XCTAssertFalse(have.contains(log[j].id), "marker \(log[j].id), begun after \(at), is present")
            }
            try check(target, at, have)
        }
    }

    /// The source with its WAL folded in, for a page-for-page comparison.
    func foldedSource(_ db: String) throws -> [UInt8] {
        try TestDB.checkpoint(db)
        return try FileIO.readFile(db)
    }

    func setUpSource(_ name: String = #function) throws -> (Sandbox, String) {
        let sb = try Sandbox(name)
        let db = sb.path("bpm.db")
        try TestDB.create(db, rows: 300)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        return (sb, db)
    }

    func testEveryCommittedTransactionIsRestoredAndEachPointInTimeMatchesTheMarkerLog() throws {
        let (sb, db) = try setUpSource()
        let (p, err) = try startReplicate(sb, db, ["--snapshot-interval", "2s", "--wal-limit-mib", "1"])
        let writer = try MarkerWriter(db)
        try writer.commit(600)
        // The application checkpoints and vacuums under replication: no gap may follow.
        try writer.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try writer.commit(600)
        try writer.db.execute("VACUUM")
        try writer.commit(300)
        Thread.sleep(forTimeInterval: 0.6)
        let (status, text) = stop(p, err)
        XCTAssertEqual(status, 0, text)
        XCTAssertFalse(text.contains("break"), text)
        // The log names sequences and sizes: no row content, no secret.
        XCTAssertFalse(text.contains("m1 m1") || text.contains("PLAINTEXT-MARKER") || text.contains(Sandbox.passphrase), text)
        XCTAssertTrue(text.contains("snapshot") && text.contains("stopped"), text)

        let out = sb.path("latest.db")
        let r = try sb.lifeboat("restore", "latest", "--to", out, "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try FileIO.readFile(out), try foldedSource(db), "latest restore differs from the source")

        var rng = SeededGenerator(seed: 7)
        try checkRestoresAt(sb, writer.log, count: 6, rng: &rng) { target, _, _ in
            XCTAssertEqual(try SQLiteConnection(path: target, mode: .readOnly).integrityCheck(), ["ok"])
        }
        let timeline = try sb.lifeboat("timeline", "--json")
        XCTAssertEqual(timeline.status, 0, timeline.stdout + timeline.stderr)
        XCTAssertFalse(timeline.stdout.contains("missingFrom"))
    }

    /// Transactions are dated by the commit clock (the -shm's header, every 10 ms), not by the
    /// WAL read that found them (every 100 ms at `--interval 1s`): `restore --at` 60 ms after a
    /// commit returned holds it, and never a commit begun after T. Dated at the read, about
    /// half of these points would miss their marker. (At niceness 0: the clock's thread must
    /// not wait behind the rest of a loaded CI machine.)
    func testRestoreAtSeparatesCommitsTensOfMillisecondsApart() throws {
        let (sb, db) = try setUpSource()
        let (p, out, err) = try CLI.start(["replicate", db, "--interval", "1s", "--nice", "0"], env: sb.env())
        Thread { _ = out.fileHandleForReading.readDataToEndOfFile() }.start()
        XCTAssertTrue(waitUntil(timeout: 30, every: 0.05) { ((try? sb.openRepository().listSnapshots().count) ?? 0) > 0 || !p.isRunning })
        let writer = try MarkerWriter(db)
        try writer.commit(400, pause: 0.007)
        Thread.sleep(forTimeInterval: 1.2)
        let (status, text) = stop(p, err)
        XCTAssertEqual(status, 0, text)

        var rng = SeededGenerator(seed: 23)
        let log = writer.log
        for i in 0..<12 {
            let k = 1 + rng.below(log.count - 2)
            let at = log[k].time.addingTimeInterval(0.06)
            let target = sb.path("at-\(i).db")
            let res = try sb.lifeboat("restore", "--at", RFC3339.format(at, fractional: true), "--to", target)
            XCTAssertEqual(res.status, 0, res.stderr)
            let have = try markers(target)
            for m in log where m.time <= log[k].time { XCTAssertTrue(have.contains(m.id), "marker \(m.id), committed 60 ms or more before \(RFC3339.format(at, fractional: true)), is missing") }
            // Marker j began after marker j-1's commit returned.
            for j in 1..<log.count where log[j - 1].time > at.addingTimeInterval(0.001) { XCTAssertFalse(have.contains(log[j].id), "marker \(log[j].id), begun after \(RFC3339.format(at, fractional: true)), is present") }
        }
    }

    /// replicate copies the frames it has shipped into the database file itself, right after
    /// moving its mark, so that checkpoint (and its fsyncs) is not paid inside an application's
    /// COMMIT: an application that never checkpoints (wal_autocheckpoint=0) still finds its
    /// database file kept up to date. Without it, nothing would be copied before the log
    /// reached --wal-limit-mib.
    func testReplicateCheckpointsWhatItShippedSoCommitsDoNotPayForIt() throws {
        let (sb, db) = try setUpSource()
        let (p, err) = try startReplicate(sb, db)
        let writer = try MarkerWriter(db)
        try writer.db.execute("PRAGMA wal_autocheckpoint=0")
        try writer.commit(200, pause: 0.002)
        let shm = db + "-shm"
        // nBackfill (the frames copied into the database) is the first field of the checkpoint
        // info after the two wal-index headers; mxFrame the fifth of the header.
        func field(_ offset: Int) -> UInt32 {
            guard let b = try? FileIO.readFile(shm), b.count >= offset + 4 else { return 0 }
            return b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        }
        XCTAssertTrue(waitUntil(timeout: 10, every: 0.1) { field(96) > 0 && field(96) + 50 >= field(16) },
                      "frames copied \(field(96)) of \(field(16))")
        let (status, text) = stop(p, err)
        XCTAssertEqual(status, 0, text)
        let out = sb.path("latest.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try markers(out), Set(writer.log.map(\.id)))
    }

    /// The gap check at a log restart: a new generation continues the position only when the
    /// old one was read as far as the -shm showed it committed. Here the follower has read one
    /// transaction of fifty when the application restarts the log: the next read is a break,
    /// never the new log's frames shipped as if they came next.
    func testALogRestartedBeforeItWasReadToItsEndIsABreak() throws {
        let (sb, db) = try setUpSource()
        defer { withExtendedLifetime(sb) {} }
        let writer = try MarkerWriter(db)
        try writer.db.execute("PRAGMA wal_autocheckpoint=0")
        try writer.commit(1, pause: 0)
        let pageSize = Int(try XCTUnwrap(try writer.db.scalar("PRAGMA page_size")?.integer))
        let follower = WALFollower(databasePath: db, pageSize: pageSize)
        let start = try follower.currentEnd(inode: try XCTUnwrap(WALFollower.databaseInode(db)))
        XCTAssertGreaterThan(start.frames, 0)
        try writer.commit(50, pause: 0)
        guard case .transactions(let first) = try follower.read(after: start, maxBytes: 1) else { return XCTFail("the log is whole") }
        XCTAssertEqual(first.count, 1, "one transaction read of fifty")
        let behind = try XCTUnwrap(first.last).end
        try writer.db.execute("PRAGMA wal_checkpoint(RESTART)")
        try writer.commit(1, pause: 0)
        guard case .broken(let why) = try follower.read(after: behind, maxBytes: 1 << 20) else {
            return XCTFail("a restarted log was taken to continue a position 49 transactions short of its end")
        }
        XCTAssertTrue(why.contains("before replicate had read all of its frames"), why)
        // Read to its end first, the same restart continues the position.
        let again = WALFollower(databasePath: db, pageSize: pageSize)
        let end = try again.currentEnd(inode: try XCTUnwrap(WALFollower.databaseInode(db)))
        try writer.db.execute("PRAGMA wal_checkpoint(RESTART)")
        try writer.commit(1, pause: 0)
        guard case .transactions(let next) = try again.read(after: end, maxBytes: 1 << 20) else { return XCTFail("a log read to its end and restarted once is no break") }
        XCTAssertEqual(next.count, 1)
        XCTAssertEqual(next.first?.end.checkpointSequence, end.checkpointSequence &+ 1)
    }

    /// kill -9 at 20 random moments under load, each restart resuming (some kills land while it
    /// starts, resumes or restarts the WAL): the end state equals the source page for page, and
    /// every restore `--at` a random time holds the state the marker log says the source had.
    func testKillNineAtRandomMomentsLosesNoCommittedTransaction() throws {
        let (sb, db) = try setUpSource()
        let writer = try MarkerWriter(db)
        let done = Locked(false)
        let failure = Locked<String?>(nil)
        let t = Thread {
            do { while !done.current { try writer.commit(20, pause: 0.002) } } catch { failure.withLock { $0 = "\(error)" } }
        }
        t.start()
        var rng = SeededGenerator(seed: 11)
        // When replicate was running: a commit is dated when a running replicate reads it.
        var up: [(from: Date, to: Date)] = []
        for i in 0..<20 {
            let from = Date()
            let p: Process
            if i == 0 {
                p = try startReplicate(sb, db, ["--wal-limit-mib", "1"]).0
            } else {
                let (started, out, _) = try CLI.start(["replicate", db, "--interval", "200ms", "--wal-limit-mib", "1"], env: sb.env())
                Thread { _ = out.fileHandleForReading.readDataToEndOfFile() }.start()
                p = started
            }
            Thread.sleep(forTimeInterval: 0.05 + Double(rng.below(1200)) / 1000)
            kill9(p)
            up.append((from, Date()))
        }
        let from = Date()
        let (p, err) = try startReplicate(sb, db, expectSnapshot: false)
        Thread.sleep(forTimeInterval: 1)
        done.withLock { $0 = true }
        while !t.isFinished { usleep(1000) }
        XCTAssertNil(failure.current)
        Thread.sleep(forTimeInterval: 0.6)
        let (status, text) = stop(p, err)
        up.append((from, Date()))
        XCTAssertEqual(status, 0, text)
        let out = sb.path("after-kills.db")
        let r = try sb.lifeboat("restore", "latest", "--to", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try markers(out).count, writer.log.count)
        XCTAssertEqual(try FileIO.readFile(out), try foldedSource(db))
        XCTAssertEqual(try sb.lifeboat("timeline").status, 0, "a gap after kill -9")

        // A commit is read (and dated) for good by the first replicate that runs on long enough
        // after it to start up and ship it (1.5 s): one killed sooner loses what it read, and
        // the next dates it again when it reads it, or at the snapshot of a new lineage. On a
        // loaded CI machine that start can take about a second, hence the slack.
        let seen = { (c: Date) -> Date in
            for u in up where u.to > c && u.to.timeIntervalSince(max(u.from, c)) >= 1.5 { return max(u.from, c) }
            return max(up.last?.from ?? c, c)
        }
        try checkRestoresAt(sb, writer.log, count: 8, rng: &rng, seen: seen, slack: 1.5) { _, at, have in
            // The state of one moment: markers 1...n, none missing in between.
            XCTAssertEqual(have.count, Int(have.max() ?? 0), "restore --at \(at) holds markers out of order")
        }
    }

    /// replicate yields the CPU to the application: its threads run at niceness 10 (`--nice`),
    /// at this process's own with `--nice 0`; a niceness out of range is a usage error.
    func testReplicateRunsBelowTheApplicationsPriority() throws {
        let (sb, db) = try setUpSource()
        /// Niceness of each thread of `pid` (field 19 of /proc/PID/task/TID/stat), by thread id.
        func niceness(_ pid: Int32) -> [Int32: Int] {
            var out: [Int32: Int] = [:]
            for tid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")"), let id = Int32(tid) else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 16, let n = Int(fields[16]) { out[id] = n }
            }
            return out
        }
        errno = 0
        let own = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        XCTAssertEqual(errno, 0)
        for (flag, expected) in [(nil, max(own, 10)), ("0", own)] {
            let (p, err) = try startReplicate(sb, db, flag.map { ["--nice", $0] } ?? [], expectSnapshot: flag == nil)
            let threads = niceness(p.processIdentifier)
            XCTAssertEqual(threads[p.processIdentifier], expected, "main thread, --nice \(flag ?? "default")")
            // The source's reader and the replica's shipper are threads started after it.
            XCTAssertGreaterThanOrEqual(threads.values.filter { $0 == expected }.count, 3, "\(threads)")
            let (status, text) = stop(p, err)
            XCTAssertEqual(status, 0, text)
        }
        let bad = try sb.lifeboat("replicate", db, "--nice", "20")
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("--nice"), bad.stderr)
    }

    func testALogRestartedWhileReplicateWasDownStartsANewLineageAtASnapshot() throws {
        let (sb, db) = try setUpSource()
        let writer = try MarkerWriter(db)
        var (p, err) = try startReplicate(sb, db)
        try writer.commit(200)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(stop(p, err).0, 0)
        // While it is down: more commits, and the log folded in and started over.
        try writer.commit(100, pause: 0)
        try writer.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try writer.commit(100, pause: 0)
        (p, err) = try startReplicate(sb, db)
        try writer.commit(100)
        Thread.sleep(forTimeInterval: 0.5)
        let (status, text) = stop(p, err)
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("break") && text.contains("no longer holds"), text)
        let out = sb.path("restored.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try FileIO.readFile(out), try foldedSource(db))
        let repo = try sb.openRepository()
        let lineages = Set(try repo.listSegments(source: "bpm.db").map(\.lineage))
        XCTAssertEqual(lineages.count, 2)
        XCTAssertEqual(Set(try repo.listSnapshots().compactMap(\.manifest.replication?.lineage)), lineages)
    }

    func testARollbackJournalDatabaseIsRefusedWithOneLine() throws {
        let sb = try Sandbox()
        let db = sb.path("old.db")
        try TestDB.create(db, journal: "delete", rows: 10)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let r = try sb.lifeboat("replicate", db)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("rollback journal") && r.stderr.contains("journal_mode=WAL"), r.stderr)
    }

    func testADeletedDatabaseStopsReplicationAfterShippingWhatWasCommitted() throws {
        let (sb, db) = try setUpSource()
        let (p, err) = try startReplicate(sb, db)
        let writer = try MarkerWriter(db)
        try writer.commit(150)
        Thread.sleep(forTimeInterval: 0.5)
        for suffix in ["", "-wal", "-shm"] { unlink(db + suffix) }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("was deleted"), text)
        let out = sb.path("back.db")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--to", out).status, 0)
        XCTAssertEqual(try markers(out).count, 150)
    }

    func testAMissingSegmentIsAGapThatTimelineAndRestoreName() throws {
        let (sb, db) = try setUpSource()
        let (p, err) = try startReplicate(sb, db)
        let writer = try MarkerWriter(db)
        for _ in 0..<5 { try writer.commit(40); Thread.sleep(forTimeInterval: 0.25) }
        Thread.sleep(forTimeInterval: 0.4)
        XCTAssertEqual(stop(p, err).0, 0)
        let repo = try sb.openRepository()
        let names = try repo.listSegments(source: "bpm.db")
        XCTAssertGreaterThanOrEqual(names.count, 3)
        let lost = names[names.count / 2]
        try repo.backend.delete(lost.key)
        let timeline = try sb.lifeboat("timeline")
        XCTAssertEqual(timeline.status, 3)
        XCTAssertTrue(timeline.stdout.contains("GAP: transactions \(lost.firstSeq)–\(lost.lastSeq)"), timeline.stdout)
        let r = try sb.lifeboat("restore", "latest", "--to", sb.path("x.db"))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("missing"), r.stderr)
        let check = try sb.lifeboat("check")
        XCTAssertNotEqual(check.status, 0)
        XCTAssertTrue((check.stdout + check.stderr).contains("transactions \(lost.firstSeq)–\(lost.lastSeq)"), check.stdout + check.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sb.path("x.db")))
        // Before the gap the state is restorable.
        let before = Date(unixMilliseconds: names[names.count / 2 - 1].lastTimeMs)
        let ok = try sb.lifeboat("restore", "--at", RFC3339.format(before, fractional: true), "--to", sb.path("before.db"))
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    func testARenamedOrAlteredSegmentIsRefused() throws {
        let (sb, db) = try setUpSource()
        let (p, err) = try startReplicate(sb, db)
        let writer = try MarkerWriter(db)
        try writer.commit(100)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(stop(p, err).0, 0)
        let repo = try sb.openRepository()
        let name = try XCTUnwrap(try repo.listSegments(source: "bpm.db").last)
        let bytes = try repo.backend.get(name.key)
        // Renamed: claims a later time, but its sealed header names the real one.
        let forged = SegmentName(sourceTag: name.sourceTag, lineage: name.lineage, firstSeq: name.firstSeq, lastSeq: name.lastSeq,
                                 firstTimeMs: name.firstTimeMs, lastTimeMs: name.lastTimeMs + 60_000, digest: name.digest)
        try repo.backend.delete(name.key)
        try repo.backend.put(forged.key, bytes)
        var r = try sb.lifeboat("restore", "latest", "--to", sb.path("a.db"))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("tampered"), r.stderr)
        // Altered: one byte changed under its name.
        try repo.backend.delete(forged.key)
        var altered = bytes
        altered[altered.count / 2] ^= 1
        try repo.backend.put(name.key, altered)
        r = try sb.lifeboat("restore", "latest", "--to", sb.path("b.db"))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("damaged"), r.stderr)
        XCTAssertEqual(try sb.lifeboat("check").status, 0, "names alone look whole")
        let deep = try sb.lifeboat("check", "--read-data", "--json")
        XCTAssertNotEqual(deep.status, 0)
        XCTAssertTrue(deep.stdout.contains(name.key.path), deep.stdout)
    }

    func testReplicationToALocalAndAnS3ReplicaOverTLSRestoresFromEither() throws {
        let (sb, env, s3, db) = try localAndS3("replicate", port: S3TestServer.basePort + 23)
        let (p, err) = try startReplicate(sb, db, env: env, repos: [sb.repo, s3])
        let writer = try MarkerWriter(db)
        try writer.commit(300)
        Thread.sleep(forTimeInterval: 0.6)
        let (status, text) = stop(p, err)
        XCTAssertEqual(status, 0, text)
        let source = try foldedSource(db)
        for (i, repos) in [[sb.repo], [s3], [sb.repo, s3]].enumerated() {
            let target = sb.path("from-\(i).db")
            let r = try CLI.run(["restore", "latest", "--to", target] + repos.flatMap { ["--repo", $0] }, env: sb.env(env))
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try FileIO.readFile(target), source, "restore from \(repos) differs")
        }
        // Both replicas given, as a restarted service passes them: it resumes where it stopped.
        let (p2, err2) = try startReplicate(sb, db, env: env, repos: [sb.repo, s3])
        try writer.commit(50)
        Thread.sleep(forTimeInterval: 0.6)
        let (status2, text2) = stop(p2, err2)
        XCTAssertEqual(status2, 0, text2)
        // (The comparison above folded the WAL in, so this run starts a new lineage at a snapshot.)
        XCTAssertTrue(text2.contains("no longer holds"), text2)
        let again = sb.path("again.db")
        let r = try CLI.run(["restore", "latest", "--to", again, "--repo", sb.repo, "--repo", s3], env: sb.env(env))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try FileIO.readFile(again), try foldedSource(db))
        XCTAssertFalse(text.contains(Sandbox.passphrase))
    }

    func testStatusJudgesTheRPOOnTheReplicationLag() throws {
        let (sb, db) = try setUpSource()
        var config = LifeboatConfig(path: sb.path("lifeboat.yml"))
        config.sources = [LifeboatConfig.Source(name: "bpm.db", path: db, rpo: 1, rto: nil, verifyWithin: nil, retention: nil, line: 1)]
        let writer = try MarkerWriter(db)
        var (p, err) = try startReplicate(sb, db, ["--snapshot-interval", "0"])
        try writer.commit(100)
        Thread.sleep(forTimeInterval: 0.6)
        XCTAssertEqual(stop(p, err).0, 0)
        var report = try StatusReport.build(primary: try sb.openRepository(), replicas: [], config: config)
        XCTAssertEqual(report.sources.first?.replication?.lagBytes, 0)
        XCTAssertFalse(report.rpoBreached, "nothing waits, whatever the snapshot's age")
        // Commits replicate has not shipped (it is stopped): bytes wait, and after the target the RPO is breached.
        try writer.commit(30, pause: 0)
        Thread.sleep(forTimeInterval: 1.2)
        report = try StatusReport.build(primary: try sb.openRepository(), replicas: [], config: config)
        let rep = try XCTUnwrap(report.sources.first?.replication)
        XCTAssertGreaterThan(rep.lagBytes ?? 0, 0)
        XCTAssertGreaterThan(rep.lagSeconds ?? 0, 1)
        XCTAssertTrue(report.rpoBreached)
        XCTAssertTrue(MetricsFile.status(report).contains { $0.name == "lifeboat_replication_lag_bytes" && $0.value > 0 })
        // Running again, it catches up.
        (p, err) = try startReplicate(sb, db, ["--snapshot-interval", "0"], expectSnapshot: false)
        XCTAssertTrue(waitUntil(timeout: 20, every: 0.1) {
            (try? StatusReport.build(primary: try sb.openRepository(), replicas: [], config: config).sources.first?.replication?.lagBytes) == 0
        })
        XCTAssertEqual(stop(p, err).0, 0)
        // The fleet view names the newest shipped transaction too.
        let fleet = try sb.lifeboat("status", "--all", "--json")
        XCTAssertTrue(fleet.stdout.contains("last_shipped_at\":\"20"), fleet.stdout)
    }

    func testPruneCompactsOldSegmentsAndDeletesThoseNoKeptSnapshotReplays() throws {
        let (sb, db) = try setUpSource()
        let writer = try MarkerWriter(db)
        let (p, err) = try startReplicate(sb, db, ["--snapshot-interval", "0"])
        for _ in 0..<6 { try writer.commit(60); Thread.sleep(forTimeInterval: 0.25) }
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(stop(p, err).0, 0)
        let repo = try sb.openRepository()
        let before = try repo.backend.list(.segments)
        XCTAssertGreaterThanOrEqual(before.count, 4)
        let source = try foldedSource(db)
        // The pages these transactions changed, once each: what compaction may keep at most twice.
        var changed = Set<UInt32>()
        for n in try repo.listSegments(source: "bpm.db") {
            for t in try repo.loadSegment(n, source: "bpm.db").transactions { changed.formUnion(t.pages) }
        }

        // Compaction: the day's segments become one.
        let r = try sb.lifeboat("prune", "--compact-segments-after", "0s", "--compact-window", "24h", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try r.json()["segments_compacted"] as? Int, before.count)
        let after = try repo.backend.list(.segments)
        XCTAssertLessThanOrEqual(after.count, 2) // two only if the run crossed midnight UTC
        XCTAssertLessThan(after.reduce(0) { $0 + $1.size }, before.reduce(0) { $0 + $1.size })
        XCTAssertLessThanOrEqual(after.reduce(0) { $0 + $1.size }, 2 * changed.count * 4096)
        let out = sb.path("compacted.db")
        let restored = try sb.lifeboat("restore", "latest", "--to", out)
        XCTAssertEqual(restored.status, 0, restored.stderr)
        XCTAssertEqual(try FileIO.readFile(out), source)
        XCTAssertEqual(try sb.lifeboat("timeline").status, 0)

        // A plain snapshot later, and only it kept: nothing can replay the lineage's segments.
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let forget = try sb.lifeboat("forget", "--keep-last", "1", "--prune")
        XCTAssertEqual(forget.status, 0, forget.stderr)
        XCTAssertEqual(try repo.backend.list(.segments).count, 0)
    }

    func testAFrozenS3ReplicaFallsBehindAndCatchesUpWhileTheLocalOneStaysCurrent() throws {
        let (sb, env, s3, db) = try localAndS3("replicate-frozen", port: S3TestServer.basePort + 24,
                                               env: ["LIFEBOAT_S3_TIMEOUT": "2", "LIFEBOAT_S3_RETRY_SECONDS": "2"])
        let (p, err) = try startReplicate(sb, db, env: env, repos: [sb.repo, s3])
        let writer = try MarkerWriter(db)
        try writer.commit(100)
        let local0 = try sb.openRepository()
        XCTAssertTrue(try waitUntil(timeout: 30, every: 0.1) {
            try writer.commit(5)
            return (try? local0.backend.list(.segments).count) ?? 0 > 0
        }, "replicate never shipped")
        let pid = try XCTUnwrap(Int32(try String(contentsOfFile: S3TestServer.stateDir + "/replicate-frozen/pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let local = try sb.openRepository()
        func newest(_ backend: any Backend) throws -> Int64 {
            try backend.list(.segments).compactMap { SegmentName($0.key.name)?.lastTimeMs }.max() ?? 0
        }
        kill(-pid, SIGSTOP)
        var worstLocalLag = 0.0
        let frozenAt = Date()
        while Date().timeIntervalSince(frozenAt) < 8 {
            try writer.commit(10)
            let committed = writer.log[writer.log.count - 1].time
            Thread.sleep(forTimeInterval: 0.6)
            // Everything committed 0.6 s ago is in the local replica by now (interval 200 ms).
            worstLocalLag = max(worstLocalLag, committed.timeIntervalSince(Date(unixMilliseconds: try newest(local.backend))))
        }
        kill(-pid, SIGCONT)
        XCTAssertLessThan(worstLocalLag, 1.0, "the local replica fell behind while the S3 one was frozen")
        try writer.commit(50)
        Thread.sleep(forTimeInterval: 0.5)
        let (status, text) = stop(p, err)
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("replica-failing"), text)
        XCTAssertTrue(text.contains("replica-recovered"), text)
        let source = try foldedSource(db)
        for (i, repo) in [sb.repo, s3].enumerated() {
            let target = sb.path("thawed-\(i).db")
            let r = try CLI.run(["restore", "latest", "--to", target, "--repo", repo], env: sb.env(env))
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try FileIO.readFile(target), source, "restore from \(repo) differs")
        }
    }

    func testSegmentsAndTheirNamesSurviveFuzzing() throws {
        let seg = Segment(source: "bpm.db", lineage: "0123456789abcdef", pageSize: 512, follows: 41,
                          transactions: [.init(seq: 42, timeMs: 1_700_000_000_000, databasePages: 3, pages: [1, 3], data: [UInt8](repeating: 7, count: 1024)),
                                         .init(seq: 43, span: 5, timeMs: 1_700_000_000_100, databasePages: 2, pages: [2], data: [UInt8](repeating: 9, count: 512))],
                          walEnd: WALPosition(salt1: 1, salt2: 2, checkpointSequence: 3, frames: 4, checksum0: 5, checksum1: 6, inode: 7))
        let seed = seg.encode()
        XCTAssertEqual(try Segment.decode(seed, what: "seed"), seg)
        XCTAssertEqual(seg.lastSeq, 47)
        var f = Fuzzer("segment", seed: 21)
        f.run(seeds: [seed]) { _ = try Segment.decode($0, what: "fuzz") }
        let name = SegmentName(sourceTag: "00112233aabbccdd", lineage: "0123456789abcdef", firstSeq: 42, lastSeq: 43,
                               firstTimeMs: 1_700_000_000_000, lastTimeMs: 1_700_000_000_100, digest: String(repeating: "e", count: 64))
        XCTAssertEqual(SegmentName(name.name), name)
        var g = Fuzzer("segment-name", seed: 22)
        g.run(seeds: [Array(name.name.utf8)]) { _ = SegmentName(String(decoding: $0, as: UTF8.self)) }
        XCTAssertNil(SegmentName(name.name.uppercased()))
    }

    /// The commit clock reads SQLite's real -shm: the header it parses is the one a live
    /// database has (salts as in the WAL's header, mxFrame its frame count); a torn header (the
    /// two copies differ) or garbage is no reading, never a crash; and a transaction is dated by
    /// the first note that covers its commit frame.
    func testTheCommitClockReadsTheWalIndexHeaderAndDatesByTheFirstNoteCoveringACommit() throws {
        let (sb, db) = try setUpSource()
        let writer = try MarkerWriter(db)
        try writer.commit(5, pause: 0)
        let fd = open(db + "-shm", O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 96)
        let h = try XCTUnwrap(WALIndexHeader.read(fd: fd, into: &buffer))
        let wal = try FileIO.readFile(db + "-wal")
        XCTAssertEqual(h.salt1, WALIndex.be32(wal, 16))
        XCTAssertEqual(h.salt2, WALIndex.be32(wal, 20))
        let frameSize = 24 + Int(WALIndex.be32(wal, 8))
        XCTAssertEqual(Int(h.mxFrame), (wal.count - 32) / frameSize, "mxFrame is the WAL's frame count after a commit")

        var torn = buffer
        torn[16] ^= 1
        let tornPath = sb.path("torn-shm")
        var f = Fuzzer("wal-index-header", seed: 31)
        func readFile(_ bytes: [UInt8]) throws -> WALIndexHeader? {
            try Data(bytes).write(to: URL(fileURLWithPath: tornPath))
            let t = open(tornPath, O_RDONLY)
            defer { close(t) }
            var b = [UInt8](repeating: 0, count: 96)
            return WALIndexHeader.read(fd: t, into: &b)
        }
        XCTAssertNil(try readFile(torn), "the two copies differ: a writer was between them")
        XCTAssertNotNil(try readFile(buffer))
        f.run(seeds: [buffer, torn]) { bytes in
            if let r = try readFile(bytes) { XCTAssertEqual(Array(bytes[0..<48]), Array(bytes[48..<96]), "read \(r) from a torn header") }
        }

        let clock = CommitClock(databasePath: db, period: 0.005)
        clock.start()
        XCTAssertTrue(waitUntil(timeout: 5, every: 0.01) { clock.noteCount > 0 })
        let before = Date().unixMilliseconds
        try writer.commit(1, pause: 0)
        XCTAssertTrue(waitUntil(timeout: 5, every: 0.01) { clock.noteCount > 1 })
        clock.stop()
        let after = try XCTUnwrap(WALIndexHeader.read(fd: fd, into: &buffer))
        let dated = try XCTUnwrap(clock.time(salt1: after.salt1, salt2: after.salt2, frames: after.mxFrame))
        XCTAssertGreaterThanOrEqual(dated, before)
        XCTAssertLessThan(dated - before, 1000)
        XCTAssertNil(clock.time(salt1: after.salt1, salt2: after.salt2, frames: after.mxFrame + 1), "no note covers a commit not yet made")
        XCTAssertNil(clock.time(salt1: after.salt1 &+ 1, salt2: after.salt2, frames: 1), "another WAL generation")
        clock.reset()
        XCTAssertNil(clock.time(salt1: after.salt1, salt2: after.salt2, frames: after.mxFrame), "notes forgotten for a new lineage")
    }
}
