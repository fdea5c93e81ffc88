import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Bad input gets one clear line, a non-zero exit code, and nothing is lost or half-written.
final class BadInputTests: XCTestCase {
    func assertOneLine(_ r: CLIResult, status: Int32, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n").filter { !$0.contains("warning:") }
        XCTAssertEqual(lines.count, 1, "expected one line, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(contains), "'\(contains)' not in: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains(Sandbox.passphrase) || r.stdout.contains(Sandbox.passphrase), "passphrase leaked", file: file, line: line)
    }

    func testWrongPassphrase() throws {
        let sb = try Sandbox()
        try sb.lifeboat("init")
        let wrong = sb.path("wrong")
        try Data("not the passphrase".utf8).write(to: URL(fileURLWithPath: wrong))
        chmod(wrong, 0o600)
        assertOneLine(try sb.lifeboat("snapshots", env: ["LIFEBOAT_PASSWORD_FILE": wrong]), status: 12, contains: "wrong passphrase")
    }

    func testPassphraseFromCommandAndFromEnvironment() throws {
        let sb = try Sandbox()
        let viaCommand = ["LIFEBOAT_PASSWORD_FILE": "", "LIFEBOAT_PASSWORD_COMMAND": "cat '\(sb.passwordFile)'"]
        XCTAssertEqual(try sb.lifeboat("init", env: viaCommand).status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshots", env: ["LIFEBOAT_PASSWORD_FILE": "", "LIFEBOAT_PASSWORD": Sandbox.passphrase]).status, 0)
        assertOneLine(try sb.lifeboat("snapshots", env: ["LIFEBOAT_PASSWORD_FILE": "", "LIFEBOAT_PASSWORD_COMMAND": "exit 3"]), status: 64, contains: "exited with status 3")
        assertOneLine(try sb.lifeboat("snapshots", env: ["LIFEBOAT_PASSWORD_FILE": ""]), status: 64, contains: "LIFEBOAT_PASSWORD_FILE")
    }

    func testWorldReadablePassphraseFileIsWarnedAbout() throws {
        let sb = try Sandbox()
        chmod(sb.passwordFile, 0o644)
        let r = try sb.lifeboat("init")
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("readable by other users"), r.stderr)
    }

    func testMissingRepositoryAndNotARepository() throws {
        let sb = try Sandbox()
        assertOneLine(try sb.lifeboat("snapshots"), status: 10, contains: "no Lifeboat repository")
        try FileManager.default.createDirectory(atPath: sb.repo, withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: URL(fileURLWithPath: sb.repo + "/unrelated.txt"))
        assertOneLine(try sb.lifeboat("snapshots"), status: 10, contains: "lifeboat init")
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        assertOneLine(try sb.lifeboat("init"), status: 1, contains: "already holds a Lifeboat repository")
    }

    func testDatabaseMissingOrNotSQLite() throws {
        let sb = try Sandbox()
        try sb.lifeboat("init")
        assertOneLine(try sb.lifeboat("snapshot", sb.path("nope.db")), status: 1, contains: "does not exist")
        let text = sb.path("notes.db")
        try Data(String(repeating: "just some text\n", count: 100).utf8).write(to: URL(fileURLWithPath: text))
        assertOneLine(try sb.lifeboat("snapshot", text), status: 1, contains: "not an SQLite database")
        let tiny = sb.path("tiny.db")
        try Data("x".utf8).write(to: URL(fileURLWithPath: tiny))
        assertOneLine(try sb.lifeboat("snapshot", tiny), status: 1, contains: "not an SQLite database")
        XCTAssertEqual(try sb.lifeboat("snapshots", "--json").jsonArray().count, 0, "failed runs leave no snapshot")
    }

    func testUnknownSnapshotAndAmbiguousSource() throws {
        let sb = try Sandbox()
        try sb.lifeboat("init")
        for name in ["a.db", "b.db"] {
            try TestDB.create(sb.path(name), journal: "delete", rows: 10)
            try sb.lifeboat("snapshot", sb.path(name))
        }
        assertOneLine(try sb.lifeboat("restore", "deadbeef", "--to", sb.path("x.db")), status: 1, contains: "no snapshot with id deadbeef")
        assertOneLine(try sb.lifeboat("restore", "latest", "--to", sb.path("x.db")), status: 64, contains: "pass --source")
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "b.db", "--to", sb.path("x.db")).status, 0)
    }

    /// A repository and a restore target on a 4 MiB file system: both runs fail cleanly with
    /// "no space left", nothing partial remains, and the repository keeps working.
    func testDiskFullDuringSnapshotAndRestore() throws {
        let sb = try Sandbox()
        let small = sb.path("small")
        guard let unmount = try mountSmallTmpfs(small, size: "4m") else { return }
        defer { unmount() }
        let repo = small + "/repo"
        let env = ["LIFEBOAT_REPOSITORY": repo]
        XCTAssertEqual(try sb.lifeboat("init", env: env).status, 0)
        let little = sb.path("little.db")
        try TestDB.create(little, journal: "delete", rows: 200)
        XCTAssertEqual(try sb.lifeboat("snapshot", little, "--source", "little", env: env).status, 0)
        let big = sb.path("big.db")
        try TestDB.createMixed(big, megabytes: 16, journal: "delete")
        assertOneLine(try sb.lifeboat("snapshot", big, "--source", "big", env: env), status: 1, contains: "no space left")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: repo + "/tmp"), [], "temporary files left in the repository")
        XCTAssertEqual(try sb.lifeboat("snapshots", "--json", env: env).jsonArray().count, 1)
        XCTAssertEqual(try sb.lifeboat("check", "--read-data", env: env).status, 0, "the repository stays consistent")

        // Restore onto the full file system: refused up front, no partial file.
        let filler = small + "/filler"
        let free = try XCTUnwrap(FileManager.default.attributesOfFileSystem(forPath: small)[.systemFreeSize] as? Int)
        try Data(count: max(0, free - 8192)).write(to: URL(fileURLWithPath: filler))
        assertOneLine(try sb.lifeboat("restore", "latest", "--source", "little", "--to", small + "/restored.db", env: env), status: 1, contains: "no space left")
        let left = try FileManager.default.contentsOfDirectory(atPath: small).filter { $0.contains("restore") }
        XCTAssertEqual(left, [])
        try FileManager.default.removeItem(atPath: filler)
        XCTAssertEqual(try sb.lifeboat("restore", "latest", "--source", "little", "--to", small + "/restored.db", env: env).status, 0)
    }
}
