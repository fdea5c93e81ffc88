import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// The shared backend contract (BackendContract) against a real S3-compatible server (moto)
/// over TLS on 127.0.0.1, started by Scripts/s3-server when not already running.
final class S3BackendContractTests: XCTestCase {
    private var server: S3TestServer.Info?

    override func setUpWithError() throws {
        server = try S3TestServer.start("contract", port: S3TestServer.basePort)
    }

    /// Multipart from 6 MiB on, in 5 MiB parts (S3's minimum), so largeObject has 3 parts.
    private func makeBackend() throws -> any Backend {
        let server = try XCTUnwrap(server)
        let options = S3Options(multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024,
                                retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.1, maxDelay: 0.5, maxTotal: 5))
        let backend = try S3TestServer.backend(server, s3: options)
        XCTAssertTrue(backend is S3Backend)
        return backend
    }

    func testPutGetStat() throws { try BackendContract.putGetStat(makeBackend()) }
    func testEmptyObject() throws { try BackendContract.emptyObject(makeBackend()) }
    func testNeverOverwrites() throws { try BackendContract.neverOverwrites(makeBackend()) }
    func testConcurrentPutsOfOneKey() throws { try BackendContract.concurrentPutsOfOneKey(makeBackend()) }
    func testMissingObjects() throws { try BackendContract.missingObjects(makeBackend()) }
    func testRanges() throws { try BackendContract.ranges(makeBackend()) }
    func testListsEverything() throws { try BackendContract.listsEverything(makeBackend()) }
    func testLargeObject() throws { try BackendContract.largeObject(makeBackend()) }
    func testDeletes() throws { try BackendContract.deletes(makeBackend()) }
    func testPutIsAtomic() throws { try BackendContract.putIsAtomic(makeBackend()) }
}
