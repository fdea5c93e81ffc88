import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository

/// The `lifeboat` commands an operator runs against S3, through a front that injects S3's
/// transient faults (503 SlowDown, 500 InternalError, dropped connections, slow and truncated
/// bodies, HTTP/0.9-style answers) into 5 %, 20 % and 50 % of requests. Each run must succeed
/// or fail cleanly (one line, exit 1, or 3 for a check that could not read everything; never
/// 13 when the data is intact), and the repository must stay usable: afterwards a fault-free
/// `check --read-data` passes and a restore is byte-identical. Short retry settings keep it fast.
final class S3FaultSuiteTests: XCTestCase {
    static let commands = ["snapshot", "restore", "check", "sync", "prune"]
    /// Rounds of the five commands per rate: 1 in CI; more (LIFEBOAT_TEST_FAULT_ROUNDS) for figures.
    static let rounds = max(1, ProcessInfo.processInfo.environment["LIFEBOAT_TEST_FAULT_ROUNDS"].flatMap { Int($0) } ?? 1)

    func testFivePercentOfRequestsFail() throws { try run(rate: 0.05, seed: 5) }
    func testTwentyPercentOfRequestsFail() throws { try run(rate: 0.20, seed: 20) }
    func testHalfOfRequestsFail() throws { try run(rate: 0.50, seed: 50) }

    private func run(rate: Double, seed: Int) throws {
        let f = try S3FaultProxy.start()
        try f.set(rate: 0)
        let sb = try Sandbox()
        let repoA = f.location(), repoB = f.location()
        let env = CleanOutcome.env(sb, repo: repoA, caCert: f.proxy.caCert, retrySeconds: 3, timeout: 2)
        let db = sb.path("p.db")
        try TestDB.createMixed(db, megabytes: 1)
        try TestDB.checkpoint(db)
        XCTAssertEqual(try CLI.run(["init"], env: env).status, 0)
        // The database's bytes at each snapshot, by snapshot id; the ids, oldest first.
        var contents: [String: [UInt8]] = [:]
        var known = [try snapshotID(try CLI.run(["snapshot", db, "--json"], env: env))]
        contents[known[0]] = try FileIO.readFile(db)

        var successes: [String: Int] = [:]
        var faults = 0
        let mark = try f.logMark()
        for round in 1...Self.rounds {
            try SQLiteConnection(path: db).execute("UPDATE requests SET status = 'round \(round)', updated = updated + 1 WHERE id % 9 = \(round)")
            try TestDB.checkpoint(db)
            let image = try FileIO.readFile(db)
            var outcomes: [String: Bool] = [:]

            try f.set(rate: rate, seed: seed * 100 + round)
            let snapshot = try CLI.run(["snapshot", db, "--json"], env: env)
            outcomes["snapshot"] = CleanOutcome.check(snapshot, "snapshot at \(rate)")
            try f.set(rate: 0)
            // A failed snapshot may still have committed (its last answer lost): then ask.
            let now = snapshot.status == 0 ? known + [try snapshotID(snapshot)] : try snapshotIDs(env)
            for id in now where !known.contains(id) { contents[id] = image }
            known = now

            try f.set(rate: rate, seed: seed * 100 + round + 10)
            let out = sb.path("restored-\(round).db")
            let restore = try CLI.run(["restore", "latest", "--to", out], env: env)
            outcomes["restore"] = CleanOutcome.check(restore, "restore at \(rate)")
            if restore.status == 0, let latest = known.last {
                XCTAssertEqual(try FileIO.readFile(out), contents[latest], "restore at \(rate) is byte-identical")
            }

            let check = try CLI.run(["check", "--read-data"], env: env)
            outcomes["check"] = CleanOutcome.check(check, "check --read-data at \(rate)", codes: [1, 3])
            XCTAssertFalse(check.stdout.contains("damaged snapshot") || check.stdout.contains("error: "), "no damage reported: \(check.stdout)")
            if check.status == 3 { XCTAssertTrue(check.stdout.contains("could not read"), check.stdout) }

            outcomes["sync"] = CleanOutcome.check(try CLI.run(["sync", "--from", repoA, "--to", repoB], env: env), "sync at \(rate)")

            try f.set(rate: 0)
            XCTAssertEqual(try CLI.run(["forget", "--keep-last", "1"], env: env).status, 0)
            try f.set(rate: rate, seed: seed * 100 + round + 20)
            outcomes["prune"] = CleanOutcome.check(try CLI.run(["prune"], env: env), "prune at \(rate)")
            try f.set(rate: 0)
            known = Array(known.suffix(1))

            for (command, ok) in outcomes where ok { successes[command, default: 0] += 1 }
        }
        faults = try f.requests(containing: "fault=", from: mark).count
        let requests = try f.requests(from: mark).count
        XCTAssertGreaterThan(faults, 0, "faults were injected")

        // Afterwards, without faults: the repository is whole and restores byte for byte.
        try f.set(rate: 0)
        let check = try CLI.run(["check", "--read-data"], env: env)
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        let latest = try XCTUnwrap(known.last)
        let out = sb.path("final.db")
        let restore = try CLI.run(["restore", "latest", "--to", out], env: env)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try FileIO.readFile(out), contents[latest], "final restore is byte-identical")
        // A sync that completed left a copy that checks too.
        let finalSync = try CLI.run(["sync", "--from", repoA, "--to", repoB], env: env)
        XCTAssertEqual(finalSync.status, 0, finalSync.stderr)
        var envB = env
        envB["LIFEBOAT_REPOSITORY"] = repoB
        let checkB = try CLI.run(["check", "--read-data"], env: envB)
        XCTAssertEqual(checkB.status, 0, checkB.stdout + checkB.stderr)

        let figures = Self.commands.map { "\($0) \(successes[$0] ?? 0)/\(Self.rounds)" }.joined(separator: ", ")
        print("fault suite at \(Int(rate * 100)) %: \(faults) faults in \(requests) requests; successes: \(figures)")
    }

    private func snapshotID(_ r: CLIResult) throws -> String {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(try r.json()["id"] as? String)
    }

    private func snapshotIDs(_ env: [String: String]) throws -> [String] {
        let r = try CLI.run(["snapshots", "--json"], env: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try r.jsonArray().sorted { ($0["time"] as? String ?? "") < ($1["time"] as? String ?? "") }.compactMap { $0["id"] as? String }
    }
}
