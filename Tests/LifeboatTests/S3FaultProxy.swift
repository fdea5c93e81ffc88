import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository

/// A moto server behind Scripts/s3-fault-proxy, both on 127.0.0.1 over TLS with the test PKI:
/// the proxy injects S3's transient faults (503 SlowDown, 500 InternalError, dropped
/// connections, slow and truncated bodies, HTTP/0.9-style answers) as a test sets them.
/// Started through Scripts/s3-server, so `Scripts/s3-server stop-all` ends both.
struct S3FaultProxy {
    /// +20 the moto server behind the proxy, +21 the proxy (see S3TestServer.basePort).
    static let upstreamPort = S3TestServer.basePort + 20
    static let proxyPort = S3TestServer.basePort + 21

    let server: S3TestServer.Info
    let proxy: S3TestServer.Info

    static func start() throws -> S3FaultProxy {
        let server = try S3TestServer.start("faults-upstream", port: upstreamPort)
        try S3TestServer.script(["proxy", "faults-proxy", String(proxyPort), String(upstreamPort)])
        let proxy = try S3TestServer.info("faults-proxy")
        let faults = S3FaultProxy(server: server, proxy: proxy)
        try faults.set(rate: 0)
        return faults
    }

    /// Sets what the proxy injects from the next request on (see Scripts/s3-fault-proxy).
    func set(rate: Double, seed: Int = 1, kinds: [String] = [], first: Int = 0, match: String? = nil) throws {
        var plan: [String: Any] = ["rate": rate, "seed": seed, "first": first, "slow_seconds": 0.5]
        if !kinds.isEmpty { plan["kinds"] = kinds }
        if let match { plan["match"] = match }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: plan, options: [.sortedKeys]), as: UTF8.self)
        try S3TestServer.script(["faults", "faults-proxy", json])
    }

    /// The proxy's log lines ("METHOD PATH fault=KIND …" or "METHOD PATH status=CODE") that
    /// mention `needle`, from byte `from` of the log on.
    func requests(containing needle: String = "", from: Int = 0) throws -> [String] {
        let bytes = try FileIO.readFile(proxy.log)
        return String(decoding: bytes.dropFirst(from), as: UTF8.self).split(separator: "\n")
            .filter { needle.isEmpty || $0.contains(needle) }.map(String.init)
    }

    /// Current size of the proxy's log, to read only what a step added.
    func logMark() throws -> Int { try FileIO.readFile(proxy.log).count }

    /// A fresh repository location behind the proxy.
    func location(bucket: String = "faults", prefix: String = UUID().uuidString.lowercased()) -> String {
        "s3:\(proxy.endpoint)/\(bucket)/\(prefix)"
    }
}

extension S3TestServer {
    /// What Scripts/s3-server knows of a running server or proxy.
    static func info(_ name: String) throws -> Info {
        let env = try script(["env", name])
        var values: [String: String] = [:]
        for line in env.split(separator: "\n") {
            if let eq = line.firstIndex(of: "=") { values[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
        }
        guard let endpoint = values["LIFEBOAT_TEST_S3_ENDPOINT"], let ca = values["LIFEBOAT_CACERT"], let log = values["LIFEBOAT_TEST_S3_LOG"],
              let port = endpoint.split(separator: ":").last.flatMap({ Int($0) }) else {
            throw LifeboatError(.internalError, "Scripts/s3-server env \(name) printed no endpoint")
        }
        return Info(name: name, port: port, endpoint: endpoint, caCert: ca, log: log,
                    credentialsFile: values["AWS_SHARED_CREDENTIALS_FILE"], profile: values["AWS_PROFILE"])
    }

    /// The process id of a running server (to freeze it with SIGSTOP).
    static func pid(_ name: String) throws -> pid_t {
        let env = try script(["env", name])
        guard let line = env.split(separator: "\n").first(where: { $0.hasPrefix("LIFEBOAT_TEST_S3_PID=") }),
              let pid = Int32(line.dropFirst("LIFEBOAT_TEST_S3_PID=".count)) else {
            throw LifeboatError(.internalError, "Scripts/s3-server env \(name) printed no pid")
        }
        return pid
    }
}

/// How a command run against a faulty store must end: success, or one line on stderr with an
/// exit code that does not claim damage (13) or a usage error (64) the store did not cause.
enum CleanOutcome {
    /// Warnings a run may print beside its result: a lock a failed run left behind, taken over.
    static let allowedWarnings = ["took over a stale lock", "removed the lock a failed run left"]

    /// The environment of a CLI run against `repo` on a test server, with short retry settings.
    static func env(_ sb: Sandbox, repo: String, caCert: String, retrySeconds: Double, timeout: Double) -> [String: String] {
        var e = S3TestServer.dummyEnvironment
        e["LIFEBOAT_CACERT"] = caCert
        e["LIFEBOAT_S3_RETRY_SECONDS"] = String(retrySeconds)
        e["LIFEBOAT_S3_TIMEOUT"] = String(timeout)
        e["LIFEBOAT_REPOSITORY"] = repo
        return sb.env(e)
    }

    /// The stderr lines that are not allowed warnings.
    static func errorLines(_ r: CLIResult) -> [String] {
        r.stderr.split(separator: "\n").map(String.init).filter { line in
            !(line.hasPrefix("lifeboat: warning: ") && allowedWarnings.contains { line.contains($0) })
        }
    }

    /// Asserts `r` is a success or a clean failure with one of `codes`; returns whether it succeeded.
    @discardableResult
    static func check(_ r: CLIResult, _ what: String, codes: Set<Int32> = [1], file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let errors = errorLines(r)
        XCTAssertFalse((r.stdout + r.stderr).contains(S3TestServer.dummyEnvironment["AWS_SECRET_ACCESS_KEY"] ?? "?"), "\(what): secret printed", file: file, line: line)
        if r.status == 0 {
            XCTAssertEqual(errors, [], "\(what) succeeded with errors on stderr", file: file, line: line)
            return true
        }
        XCTAssertTrue(codes.contains(r.status), "\(what) exited \(r.status): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(errors.count, 1, "\(what): one line on stderr, not: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(errors.allSatisfy { $0.hasPrefix("lifeboat: ") }, "\(what): \(r.stderr)", file: file, line: line)
        return false
    }
}
