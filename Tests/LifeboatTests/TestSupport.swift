import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// A scratch directory with a passphrase file, removed at the end of the test.
final class Sandbox {
    let root: String
    let passwordFile: String
    static let passphrase = "test-passphrase-\u{1F6DF}-not-secret-anywhere-else"

    init(_ name: String = #function) throws {
        let clean = name.filter { $0.isLetter || $0.isNumber }
        root = NSTemporaryDirectory() + "lifeboat-test-\(clean)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        passwordFile = root + "/passphrase"
        try Data((Self.passphrase + "\n").utf8).write(to: URL(fileURLWithPath: passwordFile))
        chmod(passwordFile, 0o600)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func path(_ p: String) -> String { root + "/" + p }
    var repo: String { path("repo") }

    /// Environment for the CLI: repository and passphrase file, nothing inherited that could interfere.
    func env(_ extra: [String: String] = [:]) -> [String: String] {
        var e = ProcessInfo.processInfo.environment
        for k in e.keys where k.hasPrefix("LIFEBOAT_") { e[k] = nil }
        e["LIFEBOAT_REPOSITORY"] = repo
        e["LIFEBOAT_PASSWORD_FILE"] = passwordFile
        // Audit logs of test runs stay in the sandbox, never in the user's ~/.local/state.
        e["LIFEBOAT_AUDIT_DIR"] = root + "/audit-log"
        e["LIFEBOAT_DRILL_ANCHOR"] = root + "/drill-anchors.jsonl"
        for (k, v) in extra { e[k] = v }
        return e
    }

    @discardableResult
    func lifeboat(_ args: String..., env extra: [String: String] = [:]) throws -> CLIResult {
        try CLI.run(args, env: env(extra))
    }

    @discardableResult
    func lifeboat(_ args: [String], env extra: [String: String] = [:]) throws -> CLIResult {
        try CLI.run(args, env: env(extra))
    }

    func openRepository() throws -> Repository {
        var pw = Array(Self.passphrase.utf8)
        return try Repository.open(backend: LocalBackend(path: repo), passphrase: SecretBytes(consuming: &pw))
    }
}

struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String

    func json() throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
            throw LifeboatError(.internalError, "stdout is not a JSON object: \(stdout)")
        }
        return o
    }

    func jsonArray() throws -> [[String: Any]] {
        guard let o = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]] else {
            throw LifeboatError(.internalError, "stdout is not a JSON array: \(stdout)")
        }
        return o
    }
}

enum CLI {
    /// The lifeboat binary built next to the test bundle.
    static var binary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidate = dir.appendingPathComponent("lifeboat").path
        if !FileManager.default.fileExists(atPath: candidate) {
            // xctest may be launched from inside the .xctest bundle directory.
            candidate = dir.deletingLastPathComponent().appendingPathComponent("lifeboat").path
        }
        return candidate
    }

    static func start(_ args: [String], env: [String: String]) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }

    static func run(_ args: [String], env: [String: String]) throws -> CLIResult {
        let (p, out, err) = try start(args, env: env)
        // Read both pipes concurrently so a full stderr cannot block the child.
        let errData = Locked(Data())
        let t = Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
        t.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !t.isFinished { usleep(1000) }
        let r = CLIResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: errData.current, as: UTF8.self))
        TestLog.record(args: args, result: r)
        return r
    }
}

/// Every CLI output of the suite is appended here so a test can grep the whole run for secrets.
enum TestLog {
    static let path = NSTemporaryDirectory() + "lifeboat-test-output-\(getpid()).log"
    static func record(args: [String], result: CLIResult) {
        let text = "$ lifeboat \(args.joined(separator: " "))\n[\(result.status)]\n\(result.stdout)\(result.stderr)\n"
        if let h = FileHandle(forWritingAtPath: path) {
            h.seekToEndOfFile()
            h.write(Data(text.utf8))
            h.closeFile()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        }
    }
}

/// Builds small real SQLite databases for tests.
enum TestDB {
    static func create(_ path: String, journal: String = "wal", rows: Int = 2000, marker: String = "PLAINTEXT-MARKER") throws {
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode=\(journal)")
        try db.execute("CREATE TABLE items(id INTEGER PRIMARY KEY, body TEXT, n INTEGER)")
        try db.execute("BEGIN")
        let ins = try db.prepare("INSERT INTO items(body, n) VALUES (?, ?)")
        for i in 0..<rows {
            try ins.run([.text("\(marker) row \(i) " + String(repeating: "lorem ipsum dolor sit amet ", count: 4) + "\(i * 7919 % 104729)"), .integer(Int64(i))])
        }
        try db.execute("COMMIT")
    }

    /// Pages of a database file as a list of byte arrays.
    static func pages(_ path: String, pageSize: Int = 4096) throws -> [[UInt8]] {
        let bytes = try FileIO.readFile(path)
        return stride(from: 0, to: bytes.count, by: pageSize).map { Array(bytes[$0..<min($0 + pageSize, bytes.count)]) }
    }

    static func checkpoint(_ path: String) throws {
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}

extension TestDB {
    /// A database with mixed compressible rows and incompressible blobs, about `megabytes` MiB.
    static func createMixed(_ path: String, megabytes: Int, journal: String = "wal") throws {
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode=\(journal)")
        try db.execute("CREATE TABLE requests(id INTEGER PRIMARY KEY, status TEXT, data TEXT, updated INTEGER)")
        try db.execute("CREATE TABLE attachments(id INTEGER PRIMARY KEY, request_id INTEGER, content BLOB)")
        let rows = megabytes * 1024 * 1024 / 1500
        try db.execute("BEGIN")
        try db.execute("""
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < \(rows))
            INSERT INTO requests(status, data, updated)
            SELECT 'open', '{"customer":"ACME-' || i || '","amount":' || (i * 37 % 10000) || ',"notes":"' || hex(randomblob(40)) || ' approval pending for purchase order"}', i FROM c
            """)
        try db.execute("""
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < \(rows / 3))
            INSERT INTO attachments(request_id, content) SELECT i, randomblob(1200) FROM c
            """)
        try db.execute("COMMIT")
    }
}

/// Sums the sizes of every regular file below a directory.
func directorySize(_ path: String) -> Int {
    guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
    var total = 0
    while let f = e.nextObject() as? String {
        if let st = try? FileIO.status(path + "/" + f), st.isRegularFile { total += st.size }
    }
    return total
}

/// Mounts a tmpfs of `size` ("4m") at `path`, for disk-full tests; returns how to unmount it,
/// or nil (with a failure recorded) when not root.
func mountSmallTmpfs(_ path: String, size: String, file: StaticString = #filePath, line: UInt = #line) throws -> (() -> Void)? {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let mount = Process()
    mount.executableURL = URL(fileURLWithPath: "/bin/mount")
    mount.arguments = ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path]
    try mount.run()
    mount.waitUntilExit()
    XCTAssertEqual(mount.terminationStatus, 0, "this test needs root to mount a small tmpfs (CI runs as root)", file: file, line: line)
    guard mount.terminationStatus == 0 else { return nil }
    return {
        let u = Process()
        u.executableURL = URL(fileURLWithPath: "/bin/umount")
        u.arguments = [path]
        try? u.run()
        u.waitUntilExit()
    }
}

/// A wall clock that moves only when the test moves it.
final class TestClock: Sendable {
    private let time: Locked<Date>

    init(_ start: Date = Date()) { time = Locked(start) }

    var clock: WallClock { WallClock { [time] in time.current } }
    var now: Date { time.current }
    func advance(_ seconds: TimeInterval) { time.withLock { $0 += seconds } }
}

/// Checks `condition` every few milliseconds until it holds (true) or `timeout` seconds have
/// passed (false): for tests that wait on something, never for a fixed time.
func waitUntil(timeout: TimeInterval = 60, every interval: TimeInterval = 0.005, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: interval)
    }
}
