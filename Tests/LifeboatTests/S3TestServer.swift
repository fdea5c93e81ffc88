import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// Starts and stops the moto test servers through Scripts/s3-server. A server that cannot
/// start makes the test fail (never skip): the S3 tests must really run.
enum S3TestServer {
    struct Info {
        let name: String
        let port: Int
        let endpoint: String
        let caCert: String
        let log: String
        let credentialsFile: String?
        let profile: String?
    }

    static let repoRoot: String = {
        // Tests/LifeboatTests/S3TestServer.swift -> repository root
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// First port of the block the tests use (LIFEBOAT_TEST_S3_PORT, default 19400):
    /// +0 contract server, +1 auth, +2 wrong host, +3 expired, +4 stopped mid-way, +5 other CA,
    /// +6 retry stub, +7/+8 the two "regions" of ReplicationTests, +9 nothing.
    static let basePort: Int = ProcessInfo.processInfo.environment["LIFEBOAT_TEST_S3_PORT"].flatMap { Int($0) } ?? 19400

    static var pkiDir: String { stateDir + "/pki" }
    static var stateDir: String { ProcessInfo.processInfo.environment["LIFEBOAT_S3_DIR"] ?? repoRoot + "/.test-s3" }

    private static let lock = NSLock()

    @discardableResult
    static func start(_ name: String, port: Int, cert: String = "server", auth: Bool = false) throws -> Info {
        lock.lock()
        defer { lock.unlock() }
        var args = ["start", name, String(port), cert]
        if auth { args.append("auth") }
        try script(args)
        let env = try script(["env", name])
        var values: [String: String] = [:]
        for line in env.split(separator: "\n") {
            if let eq = line.firstIndex(of: "=") { values[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
        }
        guard let endpoint = values["LIFEBOAT_TEST_S3_ENDPOINT"], let ca = values["LIFEBOAT_CACERT"], let log = values["LIFEBOAT_TEST_S3_LOG"] else {
            throw LifeboatError(.internalError, "Scripts/s3-server env \(name) printed no endpoint")
        }
        return Info(name: name, port: port, endpoint: endpoint, caCert: ca, log: log,
                    credentialsFile: values["AWS_SHARED_CREDENTIALS_FILE"], profile: values["AWS_PROFILE"])
    }

    static func stop(_ name: String) throws {
        lock.lock()
        defer { lock.unlock() }
        try script(["stop", name])
    }

    /// Runs Scripts/s3-server with posix_spawn and waitpid. (Foundation's Process can miss
    /// the exit of a script whose background child lives on, and then waits forever.)
    @discardableResult
    static func script(_ args: [String]) throws -> String {
        let outPath = NSTemporaryDirectory() + "s3-server-\(UUID().uuidString).out"
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([repoRoot + "/Scripts/s3-server"] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, repoRoot + "/Scripts/s3-server", &actions, nil, argv, environ)
        guard rc == 0 else { throw LifeboatError(.internalError, "cannot run Scripts/s3-server: \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = String(decoding: (try? FileIO.readFile(outPath)) ?? [], as: UTF8.self)
        // WIFEXITED && WEXITSTATUS == 0, spelled out (the macros are not imported).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw LifeboatError(.internalError, "Scripts/s3-server \(args.joined(separator: " ")) failed: \(output)")
        }
        return output
    }

    /// Starts a background process (argv[0] looked up in PATH) with stdout and stderr
    /// appended to `output`; the caller ends it by pid.
    static func spawn(_ args: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, args[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw LifeboatError(.internalError, "cannot run \(args[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:port.
    static func waitForPort(_ port: Int, timeout: Double = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if ok { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw LifeboatError(.internalError, "nothing answered on 127.0.0.1:\(port) within \(Int(timeout)) s")
    }

    /// Environment for servers that accept any key: fixed dummy credentials, nothing from
    /// the developer's own AWS setup.
    static let dummyEnvironment: [String: String] = [
        "AWS_ACCESS_KEY_ID": "lifeboat-test-key",
        "AWS_SECRET_ACCESS_KEY": "lifeboat-test-secret-DO-NOT-PRINT",
        "AWS_REGION": "us-east-1",
        "HOME": "/nonexistent",
    ]

    /// A backend on a fresh prefix of `bucket` (created if needed) on the given server.
    static func backend(_ info: Info, bucket: String = "lifeboat-tests", prefix: String = UUID().uuidString.lowercased(),
                        s3: S3Options = S3Options(retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.1, maxDelay: 0.5, maxTotal: 5)),
                        environment: [String: String] = dummyEnvironment, caCert: String? = nil) throws -> any Backend {
        let location = "s3:\(info.endpoint)/\(bucket)/\(prefix)"
        let backend = try openBackend(location: location, options: BackendOptions(caCertPath: caCert ?? info.caCert, s3: s3, environment: environment))
        try backend.create()
        return backend
    }

    /// Request lines ("PUT /bucket/key HTTP/1.1" 200) the server logged that mention `needle`.
    static func requests(_ info: Info, containing needle: String) throws -> [(method: String, path: String, status: Int)] {
        let text = String(decoding: try FileIO.readFile(info.log), as: UTF8.self)
        var out: [(String, String, Int)] = []
        for line in text.split(separator: "\n") where line.contains(needle) {
            guard let q1 = line.firstIndex(of: "\""), let q2 = line[line.index(after: q1)...].firstIndex(of: "\"") else { continue }
            let parts = line[line.index(after: q1)..<q2].split(separator: " ")
            let status = line[line.index(after: q2)...].split(separator: " ").first.flatMap { Int($0) } ?? 0
            if parts.count >= 2 { out.append((String(parts[0]), String(parts[1]), status)) }
        }
        return out
    }
}
