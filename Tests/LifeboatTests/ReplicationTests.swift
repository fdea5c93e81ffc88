import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Two S3 servers over TLS on 127.0.0.1 stand for two regions: snapshots go to both, a
/// restore survives the loss or damage of the primary's objects, a lagging replica is
/// reported and repaired with sync, and a server dying mid-run loses nothing.
final class ReplicationTests: XCTestCase {
    static let portA = S3TestServer.basePort + 7
    static let portB = S3TestServer.basePort + 8

    struct Setup {
        let sb: Sandbox
        let a: S3TestServer.Info
        let b: S3TestServer.Info
        let repoA: String
        let repoB: String
        let env: [String: String]
    }

    func setUpRegions(_ name: String = #function) throws -> Setup { try Self.twoRegions(name) }

    /// Two moto servers standing for two regions, and a fresh prefix in each (RecoveryTests too).
    static func twoRegions(_ name: String) throws -> Setup {
        let sb = try Sandbox(name)
        let a = try S3TestServer.start("region-a", port: Self.portA)
        let b = try S3TestServer.start("region-b", port: Self.portB)
        let prefix = UUID().uuidString.lowercased()
        var env = S3TestServer.dummyEnvironment
        // Both test servers use certificates from the same throwaway CA.
        env["LIFEBOAT_CACERT"] = a.caCert
        env["LIFEBOAT_S3_RETRY_SECONDS"] = "3"
        env["LIFEBOAT_S3_TIMEOUT"] = "3"
        env["LIFEBOAT_REPOSITORY"] = ""
        return Setup(sb: sb, a: a, b: b, repoA: "s3:\(a.endpoint)/region-a/\(prefix)", repoB: "s3:\(b.endpoint)/region-b/\(prefix)", env: env)
    }

    func lifeboat(_ s: Setup, _ args: [String], repos: [String]) throws -> CLIResult {
        try CLI.run(args + repos.flatMap { ["--repo", $0] }, env: s.sb.env(s.env))
    }

    /// The backend of one region, for the test to damage objects behind Lifeboat's back.
    func backend(_ location: String, _ s: Setup) throws -> any Backend {
        try openBackend(location: location, options: BackendOptions(caCertPath: s.a.caCert, environment: S3TestServer.dummyEnvironment))
    }

    func testSnapshotToTwoRegionsRestoresWhenThePrimaryLosesOrDamagesObjects() throws {
        let s = try setUpRegions()
        let both = [s.repoA, s.repoB]
        let db = s.sb.path("p.db")
        try TestDB.createMixed(db, megabytes: 6)
        XCTAssertEqual(try lifeboat(s, ["init"], repos: both).status, 0)
        let snap = try lifeboat(s, ["snapshot", db, "--json"], repos: both)
        XCTAssertEqual(snap.status, 0, snap.stderr)
        try TestDB.checkpoint(db)
        let original = try FileIO.readFile(db)

        // Each region alone restores the snapshot.
        for repo in both {
            let out = s.sb.path("alone-\(repo.hasSuffix(s.repoA) ? "a" : "b").db")
            let r = try lifeboat(s, ["restore", "latest", "--to", out], repos: [repo])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try FileIO.readFile(out), original)
        }

        // Damage the primary: one pack deleted, another replaced by garbage, an index file deleted.
        let primary = try backend(s.repoA, s)
        let packs = try primary.list(.data).map(\.key)
        XCTAssertGreaterThanOrEqual(packs.count, 1)
        try primary.delete(packs[0])
        if packs.count > 1 {
            let size = try XCTUnwrap(try primary.stat(packs[1]))
            try primary.delete(packs[1])
            try primary.put(packs[1], [UInt8](repeating: 0x5a, count: size))
        }
        for i in try primary.list(.index).prefix(1) { try primary.delete(i.key) }

        let out = s.sb.path("from-replica.db")
        let r = try lifeboat(s, ["restore", "latest", "--to", out], repos: both)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try FileIO.readFile(out), original)
        XCTAssertTrue(r.stderr.contains("read from a replica") && r.stderr.contains("region-b"), "the user is told which copy served: \(r.stderr)")
        XCTAssertNotEqual(try lifeboat(s, ["check", "--read-data"], repos: [s.repoA]).status, 0, "the damaged primary fails its own check")
        XCTAssertEqual(try lifeboat(s, ["check", "--read-data"], repos: [s.repoB]).status, 0)
    }

    func testUnreachableReplicaIsReportedAndSyncRepairsIt() throws {
        let s = try setUpRegions()
        let both = [s.repoA, s.repoB]
        let db = s.sb.path("q.db")
        try TestDB.createMixed(db, megabytes: 3)
        XCTAssertEqual(try lifeboat(s, ["init"], repos: both).status, 0)
        XCTAssertEqual(try lifeboat(s, ["snapshot", db], repos: both).status, 0)

        try S3TestServer.stop("region-b")
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE requests SET status = 'while-b-down' WHERE id % 20 = 0")
        let partial = try lifeboat(s, ["snapshot", db, "--json"], repos: both)
        XCTAssertEqual(partial.status, 3, "incomplete: stored in A, B behind. \(partial.stderr)")
        XCTAssertTrue(partial.stderr.contains("lifeboat sync --from"), partial.stderr)
        XCTAssertEqual(partial.stderr.split(separator: "\n").filter { !$0.contains("warning:") }.count, 1, partial.stderr)
        XCTAssertEqual(try lifeboat(s, ["snapshots", "--json"], repos: [s.repoA]).jsonArray().count, 2)

        // B comes back empty (moto keeps its state in memory): it is reported behind until synced.
        _ = try S3TestServer.start("region-b", port: Self.portB)
        XCTAssertEqual(try lifeboat(s, ["snapshot", db], repos: both).status, 3)
        let sync = try lifeboat(s, ["sync", "--from", s.repoA, "--to", s.repoB, "--json"], repos: [])
        XCTAssertEqual(sync.status, 0, sync.stderr)
        XCTAssertGreaterThan(try sync.json()["bytes"] as? Int ?? 0, 0)
        XCTAssertEqual(try lifeboat(s, ["snapshot", db], repos: both).status, 0, "in step again")
        XCTAssertEqual(try lifeboat(s, ["check", "--read-data"], repos: [s.repoB]).status, 0)
        let out = s.sb.path("b.db")
        XCTAssertEqual(try lifeboat(s, ["restore", "latest", "--to", out], repos: [s.repoB]).status, 0)
        XCTAssertEqual(try SQLiteConnection(path: out, mode: .readOnly).scalar("SELECT count(*) FROM requests WHERE status = 'while-b-down'")?.integer,
                       try w.scalar("SELECT count(*) FROM requests WHERE status = 'while-b-down'")?.integer)
    }

    /// The only server freezes in the middle of a snapshot: the run fails with one line in
    /// bounded time, the earlier snapshot is intact, and the next run (server back) completes.
    func testServerFrozenMidSnapshotFailsCleanlyAndNextRunCompletes() throws {
        let s = try setUpRegions()
        let db = s.sb.path("m.db")
        try TestDB.createMixed(db, megabytes: 3)
        XCTAssertEqual(try lifeboat(s, ["init"], repos: [s.repoA]).status, 0)
        XCTAssertEqual(try lifeboat(s, ["snapshot", db], repos: [s.repoA]).status, 0)
        let first = s.sb.path("first.db")
        XCTAssertEqual(try lifeboat(s, ["restore", "latest", "--to", first], repos: [s.repoA]).status, 0)

        let big = s.sb.path("big.db")
        try TestDB.createMixed(big, megabytes: 40)
        let pidText = try String(contentsOfFile: S3TestServer.stateDir + "/region-a/pid", encoding: .utf8)
        let pid = try XCTUnwrap(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        let packPuts = { try S3TestServer.requests(s.a, containing: "/data/").filter { $0.method == "PUT" }.count }
        let putsBefore = try packPuts()
        let (p, _, errPipe) = try CLI.start(["snapshot", big, "--source", "big", "--repo", s.repoA], env: s.sb.env(s.env))
        // Frozen mid-upload: once the server has stored a first pack of this run.
        XCTAssertTrue(try waitUntil(every: 0.02) { try packPuts() > putsBefore || !p.isRunning })
        XCTAssertTrue(p.isRunning, "the snapshot finished before the server froze; the test proves nothing")
        kill(pid, SIGSTOP)
        let frozenAt = Date()
        p.waitUntilExit()
        kill(pid, SIGCONT)
        let stderr = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertLessThan(Date().timeIntervalSince(frozenAt), 30, "bounded by the timeouts")
        // One line for the failure; warnings (e.g. the audit record that could not be stored
        // while the server was frozen) may stand beside it.
        XCTAssertEqual(stderr.split(separator: "\n").filter { !$0.contains("warning:") }.count, 1, stderr)

        XCTAssertEqual(try lifeboat(s, ["check", "--read-data"], repos: [s.repoA]).status, 0, "nothing half-written is visible")
        let again = try lifeboat(s, ["snapshot", big, "--source", "big"], repos: [s.repoA])
        XCTAssertEqual(again.status, 0, again.stderr)
        let out = s.sb.path("first-again.db")
        XCTAssertEqual(try lifeboat(s, ["restore", "latest", "--source", "m.db", "--to", out], repos: [s.repoA]).status, 0)
        XCTAssertEqual(try FileIO.readFile(out), try FileIO.readFile(first), "the earlier snapshot is unharmed")
    }

    /// A snapshot and a sync need only GET/HEAD/LIST and PUT of new keys (plus removing their
    /// own lock objects): the servers' request logs show no other DELETE and no key written twice.
    func testSnapshotAndSyncNeverDeleteOrOverwrite() throws {
        let s = try setUpRegions()
        let db = s.sb.path("l.db")
        try TestDB.createMixed(db, megabytes: 2)
        XCTAssertEqual(try lifeboat(s, ["init"], repos: [s.repoA]).status, 0)
        for round in 0..<3 {
            let w = try SQLiteConnection(path: db)
            try w.execute("UPDATE requests SET status = 'r\(round)' WHERE id % 7 = \(round)")
            XCTAssertEqual(try lifeboat(s, ["snapshot", db], repos: [s.repoA]).status, 0)
        }
        XCTAssertEqual(try lifeboat(s, ["sync", "--from", s.repoA, "--to", s.repoB], repos: []).status, 0)
        XCTAssertEqual(try lifeboat(s, ["sync", "--from", s.repoA, "--to", s.repoB], repos: []).status, 0, "a second sync copies nothing")
        let prefix = String(s.repoA.split(separator: "/").last ?? "")
        for info in [s.a, s.b] {
            let requests = try S3TestServer.requests(info, containing: prefix)
            XCTAssertGreaterThan(requests.count, 10)
            // A run deletes only its own lock object when it is done.
            let deletes = requests.filter { $0.method == "DELETE" }.map(\.path)
            XCTAssertEqual(deletes.filter { !$0.contains("/locks/") }, [], "no DELETE of data on \(info.name)")
            let puts = requests.filter { $0.method == "PUT" && $0.status < 300 }.map(\.path)
            XCTAssertEqual(puts.count, Set(puts).count, "a key was written twice on \(info.name)")
        }
    }
}
