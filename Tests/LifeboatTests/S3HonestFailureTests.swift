import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository

/// What a command says when S3 fails it for good: not damage when the data is intact (a read
/// that ran out of retries), the whole retry budget and no more (the budget, not an attempt
/// cap, ends the retries; a frozen server does not cost one budget per request left), and a
/// malformed answer on https retried as a network fault, not a usage error.
final class S3HonestFailureTests: XCTestCase {
    /// A small repository behind the fault proxy, with one snapshot stored fault-free.
    private func repository(_ f: S3FaultProxy, _ sb: Sandbox, retrySeconds: Double, timeout: Double = 2) throws -> [String: String] {
        try f.set(rate: 0)
        let env = CleanOutcome.env(sb, repo: f.location(), caCert: f.proxy.caCert, retrySeconds: retrySeconds, timeout: timeout)
        let db = sb.path("p.db")
        try TestDB.createMixed(db, megabytes: 1)
        XCTAssertEqual(try CLI.run(["init"], env: env).status, 0)
        let snap = try CLI.run(["snapshot", db], env: env)
        XCTAssertEqual(snap.status, 0, snap.stderr)
        return env
    }

    /// Issue 16, failure 3: a pack read that ran out of retries (503 SlowDown) is "could not
    /// read, run again", exit 3; it used to be "check found 1 error(s)", exit 13 (damage).
    func testCheckThatCannotReadPacksIsIncompleteNotDamage() throws {
        let f = try S3FaultProxy.start()
        let sb = try Sandbox()
        let env = try repository(f, sb, retrySeconds: 1.5)
        let mark = try f.logMark()
        try f.set(rate: 1, kinds: ["slowdown"], match: "GET .*/data/")
        let r = try CLI.run(["check", "--read-data"], env: env)
        XCTAssertTrue(CleanOutcome.check(r, "check --read-data against 503s", codes: [3]) == false, "packs cannot be read")
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("could not read") && r.stderr.contains("found no damage") && r.stderr.contains("SlowDown"), r.stderr)
        XCTAssertTrue(r.stdout.contains("could not read: pack "), r.stdout)
        XCTAssertFalse(r.stdout.contains("damaged snapshot") || r.stdout.contains("error: "), r.stdout)
        XCTAssertGreaterThan(try f.requests(containing: "fault=slowdown", from: mark).count, 1)

        let json = try CLI.run(["check", "--read-data", "--json"], env: env)
        XCTAssertEqual(json.status, 3, json.stderr)
        let report = try json.json()
        XCTAssertEqual(report["ok"] as? Bool, false)
        XCTAssertEqual((report["errors"] as? [Any])?.count, 0)
        XCTAssertEqual((report["damaged_snapshots"] as? [Any])?.count, 0)
        XCTAssertGreaterThan((report["unreadable"] as? [Any])?.count ?? 0, 0)
        XCTAssertEqual(report["unverified_snapshots"] as? Int, 1)

        // The store answers again: the same check passes; nothing was damaged.
        try f.set(rate: 0)
        let again = try CLI.run(["check", "--read-data"], env: env)
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
    }

    /// Issue 16, failure 4: retries go on until LIFEBOAT_S3_RETRY_SECONDS is spent; a cap of 6
    /// attempts used to end them after at most about 6 s whatever the budget, and the message
    /// says how long it really tried.
    func testRetriesGoOnUntilTheBudgetIsSpent() throws {
        let f = try S3FaultProxy.start()
        let sb = try Sandbox()
        let env = try repository(f, sb, retrySeconds: 8)
        try f.set(rate: 1, kinds: ["slowdown"])
        let mark = try f.logMark()
        let started = Date()
        let r = try CLI.run(["snapshots"], env: env)
        let wall = Date().timeIntervalSince(started)
        CleanOutcome.check(r, "snapshots against 503s")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("SlowDown") && r.stderr.contains("try again later"), r.stderr)
        XCTAssertGreaterThan(wall, 7.5, "the budget ends the retries, not an attempt cap")
        XCTAssertLessThan(wall, 8 + 2 + 4, "within the budget and one request timeout")
        XCTAssertGreaterThan(try f.requests(containing: "fault=slowdown", from: mark).count, 6)
        let reported = try XCTUnwrap(Self.reportedSeconds(r.stderr), r.stderr)
        XCTAssertEqual(reported, wall, accuracy: 1.5, "says how long it tried: \(r.stderr)")
    }

    /// Issue 16, failure 4: a server frozen for good (SIGSTOP) in the middle of a snapshot. The
    /// run gives up within the budget and one request timeout (a lock release and an audit
    /// record used to wait a budget each: 3 × 65 s with the defaults), says so truthfully on one
    /// line with the lock it leaves, and the next run on this host removes that lock.
    func testFrozenServerGivesUpWithinTheBudgetAndTheLockIsRemovedLater() throws {
        let server = try S3TestServer.start("frozen", port: S3TestServer.basePort + 22)
        let pid = try S3TestServer.pid("frozen")
        let sb = try Sandbox()
        let prefix = UUID().uuidString.lowercased()
        let env = CleanOutcome.env(sb, repo: "s3:\(server.endpoint)/frozen/\(prefix)", caCert: server.caCert, retrySeconds: 5, timeout: 2)
        let db = sb.path("p.db")
        try TestDB.createMixed(db, megabytes: 3)
        XCTAssertEqual(try CLI.run(["init"], env: env).status, 0)

        let logStart = try FileIO.readFile(server.log).count
        let (process, out, err) = try CLI.start(["snapshot", db], env: env)
        let stderr = Locked(Data()), stdout = Locked(Data())
        let readers = [Thread { stderr.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } },
                       Thread { stdout.withLock { $0 = out.fileHandleForReading.readDataToEndOfFile() } }]
        readers.forEach { $0.start() }
        // Freeze the server once the snapshot holds its lock and has stored its first pack.
        var frozenAt: Date?
        let deadline = Date().addingTimeInterval(30)
        while frozenAt == nil && process.isRunning && Date() < deadline {
            let log = String(decoding: try FileIO.readFile(server.log).dropFirst(logStart), as: UTF8.self)
            if log.contains("\"PUT /frozen/\(prefix)/data/") {
                kill(pid, SIGSTOP)
                frozenAt = Date()
            } else {
                usleep(5_000)
            }
        }
        defer { kill(pid, SIGCONT) }
        let stopped = try XCTUnwrap(frozenAt, "the snapshot never stored a pack")
        while process.isRunning && Date().timeIntervalSince(stopped) < 60 { usleep(20_000) }
        let gaveUpAfter = Date().timeIntervalSince(stopped)
        if process.isRunning {
            kill(pid, SIGCONT)
            process.waitUntilExit()
        }
        while readers.contains(where: { !$0.isFinished }) { usleep(1000) }
        let r = CLIResult(status: process.terminationStatus, stdout: String(decoding: stdout.current, as: UTF8.self),
                          stderr: String(decoding: stderr.current, as: UTF8.self))
        TestLog.record(args: ["snapshot", db], result: r)
        kill(pid, SIGCONT)

        CleanOutcome.check(r, "snapshot against a frozen server")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertLessThan(gaveUpAfter, 5 + 2 + 3, "within the budget and one request timeout: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("gave up after"), r.stderr)
        let reported = try XCTUnwrap(Self.reportedSeconds(r.stderr), r.stderr)
        XCTAssertLessThanOrEqual(reported, gaveUpAfter + 0.5, "says no more than it tried: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("lifeboat unlock"), "says the lock stays and what to do: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("audit record"), r.stderr)

        // The store is back: the failed run's lock is there until a later run on this host
        // removes it, even one that does not conflict with it (check takes a shared lock).
        let backend = try openBackend(location: "s3:\(server.endpoint)/frozen/\(prefix)",
                                      options: BackendOptions(caCertPath: server.caCert, environment: S3TestServer.dummyEnvironment))
        XCTAssertEqual(try backend.list(.locks).count, 1)
        let check = try CLI.run(["check"], env: env)
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertTrue(check.stderr.contains("removed the lock a failed run left"), check.stderr)
        XCTAssertEqual(try backend.list(.locks).count, 0)
        let again = try CLI.run(["snapshot", db], env: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        try S3TestServer.stop("frozen")
    }

    /// Issue 16, failure 5: an answer that is not HTTP/1.x on an https connection (curl's
    /// "Received HTTP/0.9", CURLE_UNSUPPORTED_PROTOCOL) is a network fault, retried; it used
    /// to be a usage error (exit 64, never retried) saying "use https://" to an https URL.
    func testMalformedResponseOnHTTPSIsARetriedNetworkFault() throws {
        let f = try S3FaultProxy.start()
        try f.set(rate: 0)
        let backend = try openBackend(location: f.location(), options: BackendOptions(
            caCertPath: f.proxy.caCert, s3: S3Options(retry: RetryPolicy(baseDelay: 0.05, maxDelay: 0.2, maxTotal: 3)),
            environment: S3TestServer.dummyEnvironment))
        try backend.create()
        let key = ObjectKey(.index, "malformed")
        try backend.put(key, [1, 2, 3])
        let mark = try f.logMark()
        try f.set(rate: 0, kinds: ["http09"], first: 2)
        XCTAssertEqual(try backend.get(key), [1, 2, 3])
        XCTAssertEqual(try f.requests(containing: "fault=http09", from: mark).count, 2)

        let sb = try Sandbox()
        let env = try repository(f, sb, retrySeconds: 1)
        try f.set(rate: 1, kinds: ["http09"])
        let r = try CLI.run(["snapshots"], env: env)
        CleanOutcome.check(r, "snapshots against malformed answers")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("malformed HTTP response") && r.stderr.contains("gave up after"), r.stderr)
        XCTAssertFalse(r.stderr.contains("use https://"), r.stderr)
    }

    /// The seconds in "… in 8.0 s" of a give-up message.
    static func reportedSeconds(_ message: String) -> Double? {
        guard let range = message.range(of: #" in [0-9]+\.[0-9] s"#, options: .regularExpression) else { return nil }
        return Double(message[range].dropFirst(4).dropLast(2))
    }
}
