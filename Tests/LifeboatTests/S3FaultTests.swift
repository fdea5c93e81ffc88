import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// TLS and network faults against real servers on 127.0.0.1: every bad certificate is
/// refused with a clear `.tls` error (and not retried), plain http is refused, and a server
/// that goes away gives a `.network` error in bounded time.
final class S3FaultTests: XCTestCase {
    private let quickRetry = RetryPolicy(maxAttempts: 4, baseDelay: 0.4, maxDelay: 1, maxTotal: 3)

    private func open(_ endpoint: String, caCert: String?, retry: RetryPolicy? = nil, insecure: Bool = false,
                      bucket: String = "lifeboat-tests") throws -> any Backend {
        let options = BackendOptions(caCertPath: caCert, allowInsecureHTTP: insecure, s3: S3Options(retry: retry ?? quickRetry),
                                     environment: S3TestServer.dummyEnvironment)
        return try openBackend(location: "s3:\(endpoint)/\(bucket)/faults", options: options)
    }

    private func expectTLS(_ backend: any Backend, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) {
        let started = Date()
        do {
            try backend.create()
            XCTFail("connection was accepted", file: file, line: line)
        } catch let e as LifeboatError {
            XCTAssertEqual(e.kind, .tls, e.message, file: file, line: line)
            for word in words { XCTAssertTrue(e.message.contains(word), "'\(word)' not in: \(e.message)", file: file, line: line) }
            XCTAssertFalse(e.message.contains("\n"), "one line: \(e.message)", file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
        // Certificate errors are final: no backoff-and-retry (the first delay alone is 0.2 s).
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.2, "TLS failures must not be retried", file: file, line: line)
    }

    func testCertificateFromUnknownCARefused() throws {
        let server = try S3TestServer.start("contract", port: S3TestServer.basePort)
        expectTLS(try open(server.endpoint, caCert: S3TestServer.pkiDir + "/other-ca.pem"),
                  mentioning: ["TLS certificate of 127.0.0.1:\(server.port) not trusted", "--cacert", "LIFEBOAT_CACERT"])
        // The system store does not know the throwaway CA either.
        expectTLS(try open(server.endpoint, caCert: nil), mentioning: ["not trusted", "--cacert"])
    }

    func testServerCertificateSignedByAnotherCARefused() throws {
        let server = try S3TestServer.start("otherca", port: S3TestServer.basePort + 5, cert: "otherca")
        expectTLS(try open(server.endpoint, caCert: server.caCert), mentioning: ["not trusted", "--cacert"])
    }

    func testWrongHostCertificateRefused() throws {
        let server = try S3TestServer.start("wronghost", port: S3TestServer.basePort + 2, cert: "wronghost")
        expectTLS(try open(server.endpoint, caCert: server.caCert), mentioning: ["127.0.0.1:\(server.port)", "host name"])
    }

    func testExpiredCertificateRefused() throws {
        let server = try S3TestServer.start("expired", port: S3TestServer.basePort + 3, cert: "expired")
        expectTLS(try open(server.endpoint, caCert: server.caCert), mentioning: ["127.0.0.1:\(server.port)", "expired"])
    }

    func testMissingCABundleIsAUsageError() throws {
        BackendContract.expectError(.usage, "missing CA file") {
            _ = try self.open("https://127.0.0.1:\(S3TestServer.basePort)", caCert: "/nonexistent/ca.pem")
        }
    }

    func testPlainHTTPRefused() throws {
        let port = S3TestServer.basePort + 9
        BackendContract.expectError(.usage, "http without the flag") { _ = try self.open("http://127.0.0.1:\(port)", caCert: nil) }
        BackendContract.expectError(.usage, "http to a LAN host") { _ = try self.open("http://10.0.0.7:9000", caCert: nil, insecure: true) }
        BackendContract.expectError(.usage, "http to a public host") { _ = try self.open("http://s3.example.com", caCert: nil, insecure: true) }
        BackendContract.expectError(.usage, "http to 128.0.0.1") { _ = try self.open("http://128.0.0.1", caCert: nil, insecure: true) }
        BackendContract.expectError(.usage, "http endpoint from AWS_ENDPOINT_URL") {
            var env = S3TestServer.dummyEnvironment
            env["AWS_ENDPOINT_URL"] = "http://minio.example.com:9000"
            _ = try openBackend(location: "s3://bucket/prefix", options: BackendOptions(allowInsecureHTTP: true, environment: env))
        }
        // Loopback with the explicit flag is allowed (nothing listens there: a network error).
        for host in ["127.0.0.1", "localhost", "[::1]", "127.1.2.3"] {
            let backend = try open("http://\(host):\(port)", caCert: nil, retry: .once, insecure: true)
            XCTAssertTrue(backend.location.hasPrefix("s3:http://"))
            BackendContract.expectError(.network, "nothing listens on \(host)") { try backend.create() }
        }
    }

    func testUnreachableEndpointFailsInBoundedTime() throws {
        let backend = try open("https://127.0.0.1:\(S3TestServer.basePort + 9)", caCert: nil)
        let started = Date()
        do {
            _ = try backend.get(ObjectKey(.config, "config"))
            XCTFail("nothing listens there")
        } catch let e as LifeboatError {
            XCTAssertEqual(e.kind, .network, e.message)
            XCTAssertTrue(e.message.contains("gave up after"), e.message)
            XCTAssertTrue(e.message.contains("127.0.0.1:\(S3TestServer.basePort + 9)"), e.message)
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(elapsed, 0.2, "it retried")
        XCTAssertLessThan(elapsed, 5, "bounded by RetryPolicy.maxTotal")
    }

    /// The server dies while a run is writing: the run fails with `.network` in bounded
    /// time; what was stored before is intact, and a new run against the restarted server works.
    func testServerStoppedMidway() throws {
        let port = S3TestServer.basePort + 4
        let server = try S3TestServer.start("midway", port: port)
        let backend = try S3TestServer.backend(server, bucket: "midway", s3: S3Options(retry: quickRetry))
        let stored = Locked(0)
        let outcome = Locked<LifeboatError?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let writer = Thread {
            for i in 0..<10_000 {
                do {
                    try backend.put(ObjectKey(.index, "i\(i)"), BackendContract.bytes(20_000, seed: UInt64(i)))
                    stored.mutate { $0 += 1 }
                } catch let e as LifeboatError {
                    outcome.set(e)
                    break
                } catch {
                    outcome.set(LifeboatError(.internalError, "\(error)"))
                    break
                }
            }
            finished.signal()
        }
        writer.start()
        while stored.value < 20 { Thread.sleep(forTimeInterval: 0.01) }
        let stoppedAt = Date()
        try S3TestServer.stop("midway")
        XCTAssertEqual(finished.wait(timeout: .now() + 20), .success, "the writer must give up in bounded time")
        let failedAfter = Date().timeIntervalSince(stoppedAt)
        let error = try XCTUnwrap(outcome.value)
        XCTAssertEqual(error.kind, .network, error.message)
        XCTAssertLessThan(failedAfter, 8)

        // Next run: moto keeps state in memory, so the restarted server is empty; the run
        // recreates the bucket and writes again.
        let restarted = try S3TestServer.start("midway", port: port)
        let again = try S3TestServer.backend(restarted, bucket: "midway", s3: S3Options(retry: quickRetry))
        try again.put(ObjectKey(.index, "after-restart"), [1, 2, 3])
        XCTAssertEqual(try again.get(ObjectKey(.index, "after-restart")), [1, 2, 3])
    }
}
