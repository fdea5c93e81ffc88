import Foundation
import XCTest

@testable import Lifeboat

/// The shared backend contract (BackendContract) against a local directory.
final class LocalBackendContractTests: XCTestCase {
    private var dirs: [String] = []

    override func tearDownWithError() throws {
        for dir in dirs { try? FileManager.default.removeItem(atPath: dir) }
    }

    private func makeBackend() throws -> any Backend {
        let dir = NSTemporaryDirectory() + "lifeboat-contract-" + UUID().uuidString
        dirs.append(dir)
        let backend = try openBackend(location: dir)
        XCTAssertTrue(backend is LocalBackend)
        try backend.create()
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
