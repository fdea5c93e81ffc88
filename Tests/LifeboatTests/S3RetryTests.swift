import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// Retry behaviour against a scripted server on 127.0.0.1 (plain http, allowed for loopback
/// with the explicit flag): each object name carries the statuses the server answers with,
/// one per request, e.g. `plan-503-503-200`.
final class S3RetryTests: XCTestCase {
    private static let script = """
    import http.server, sys
    counts = {}
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def any(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n: self.rfile.read(n)
            name = self.path.split("?")[0].rsplit("/", 1)[-1]
            plan = [int(x) for x in name.split("-")[1:]] if name.startswith("plan-") else [200]
            i = counts.get(self.path, 0); counts[self.path] = i + 1
            st = plan[min(i, len(plan) - 1)]
            body = {200: b"hello", 503: b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                    403: b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                    404: b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"}.get(st, b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>")
            # Logged before answering, so the client never reads the log ahead of it.
            sys.stderr.write("%s %s %d\\n" % (self.command, self.path, st)); sys.stderr.flush()
            self.send_response(st); self.send_header("Content-Length", str(len(body))); self.end_headers()
            if self.command != "HEAD": self.wfile.write(body)
        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = any
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """

    private var pid: pid_t = 0
    private var log = ""
    private let port = S3TestServer.basePort + 6

    override func setUpWithError() throws {
        log = NSTemporaryDirectory() + "fake-s3-\(UUID().uuidString).log"
        pid = try S3TestServer.spawn(["python3", "-c", S3RetryTests.script, String(port)], output: log)
        try S3TestServer.waitForPort(port)
    }

    override func tearDownWithError() throws {
        if pid > 0 {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        unlink(log)
    }

    private func backend(_ retry: RetryPolicy = RetryPolicy(maxAttempts: 4, baseDelay: 0.05, maxDelay: 0.2, maxTotal: 5)) throws -> any Backend {
        try openBackend(location: "s3:http://127.0.0.1:\(port)/bucket/retry",
                        options: BackendOptions(allowInsecureHTTP: true, s3: S3Options(retry: retry), environment: S3TestServer.dummyEnvironment))
    }

    private func requests(_ name: String) throws -> [String] {
        String(decoding: try FileIO.readFile(log), as: UTF8.self).split(separator: "\n").filter { $0.contains(name) }.map(String.init)
    }

    func testSlowDownAndServerErrorsAreRetried() throws {
        XCTAssertEqual(try backend().get(ObjectKey(.index, "plan-503-500-200")), Array("hello".utf8))
        XCTAssertEqual(try requests("plan-503-500-200").count, 3)
    }

    func testPersistentServerErrorGivesUpWithNetworkError() throws {
        let started = Date()
        BackendContract.expectError(.network, "always 503") { _ = try self.backend().get(ObjectKey(.index, "plan-503")) }
        XCTAssertEqual(try requests("plan-503").count, 4, "maxAttempts")
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        do {
            _ = try backend(.once).get(ObjectKey(.index, "plan-500"))
        } catch let e as LifeboatError {
            XCTAssertTrue(e.message.contains("InternalError"), e.message)
            XCTAssertTrue(e.message.contains("try again later"), e.message)
        }
    }

    func testForbiddenAndMissingAreNotRetried() throws {
        BackendContract.expectError(.auth, "403") { _ = try self.backend().get(ObjectKey(.index, "plan-403-200")) }
        XCTAssertEqual(try requests("plan-403-200").count, 1)
        BackendContract.expectError(.notFound, "404") { _ = try self.backend().get(ObjectKey(.index, "plan-404-200")) }
        XCTAssertEqual(try requests("plan-404-200").count, 1)
    }
}
