import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// The shared backend contract (BackendContract) against the drill's `DrillBackend` as a drill
/// uses it for a scratch repository (writable), then what the contract does not cover: the
/// read-only wrapper of an existing repository, a repository lost in the drill, and the
/// capabilities it forwards.
final class DrillBackendContractTests: XCTestCase {
    private var dirs: [String] = []

    override func tearDownWithError() throws {
        for dir in dirs { try? FileManager.default.removeItem(atPath: dir) }
    }

    private func directory() -> String {
        let dir = NSTemporaryDirectory() + "lifeboat-drill-backend-" + UUID().uuidString
        dirs.append(dir)
        return dir
    }

    private func makeBackend() throws -> any Backend {
        let backend = DrillBackend(LocalBackend(path: directory()), readOnly: false)
        try backend.create()
        return backend
    }

    func testPutGetStat() throws { try BackendContract.putGetStat(makeBackend()) }
    func testEmptyObject() throws { try BackendContract.emptyObject(makeBackend()) }
    func testNeverOverwrites() throws { try BackendContract.neverOverwrites(makeBackend()) }
    func testConcurrentPutsOfOneKey() throws { try BackendContract.concurrentPutsOfOneKey(makeBackend()) }
    func testMissingObjects() throws { try BackendContract.missingObjects(makeBackend()) }
    func testRanges() throws { try BackendContract.ranges(makeBackend()) }
    func testListsEverything() throws { try BackendContract.listsEverything(makeBackend(), count: 300) }
    func testLargeObject() throws { try BackendContract.largeObject(makeBackend()) }
    func testDeletes() throws { try BackendContract.deletes(makeBackend()) }
    func testPutIsAtomic() throws { try BackendContract.putIsAtomic(makeBackend()) }

    /// The contract's writes do not apply to the read-only wrapper: refusing them is what it is
    /// for. Its reads are the inner backend's; once lost, nothing answers.
    func testReadOnlyRefusesWritesAndALostRepositoryAnswersNothing() throws {
        let dir = directory()
        let inner = LocalBackend(path: dir)
        try inner.create()
        let data = BackendContract.bytes(8000, seed: 20)
        let key = BackendContract.dataKey(data)
        try inner.put(key, data)
        let b = DrillBackend(inner, readOnly: true)

        XCTAssertEqual(try b.get(key), data)
        XCTAssertEqual(try b.getRange(key, offset: 5, length: 10), Array(data[5..<15]))
        XCTAssertEqual(try b.stat(key), data.count)
        XCTAssertEqual(try b.list(.data).map(\.key), [key])
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FileIO.directReadBound(data.count), alignment: 4096)
        defer { buffer.deallocate() }
        XCTAssertEqual(Array(try b.readRange(key, offset: 0, length: data.count, into: buffer)), data)
        XCTAssertNotNil(try b.modificationTime(key))

        let other = BackendContract.bytes(100, seed: 21)
        BackendContract.expectError(.internalError, "put") { try b.put(BackendContract.dataKey(other), other) }
        BackendContract.expectError(.internalError, "delete") { try b.delete(key) }
        BackendContract.expectError(.internalError, "create") { try b.create() }
        BackendContract.expectError(.internalError, "remove temporary files") { _ = try b.removeTemporaryFiles(olderThan: 0) }
        XCTAssertEqual(try inner.list(.data).map(\.key), [key], "the existing repository is untouched")

        b.markLost()
        BackendContract.expectError(.network, "get") { _ = try b.get(key) }
        BackendContract.expectError(.network, "getRange") { _ = try b.getRange(key, offset: 0, length: 1) }
        BackendContract.expectError(.network, "stat") { _ = try b.stat(key) }
        BackendContract.expectError(.network, "list") { _ = try b.list(.data) }
        BackendContract.expectError(.network, "readRange") { _ = try b.readRange(key, offset: 0, length: 1, into: buffer) }
        BackendContract.expectError(.network, "modificationTime") { _ = try b.modificationTime(key) }
        BackendContract.expectError(.network, "objectLockStatus") { _ = try b.objectLockStatus() }
        // Reads that fall back to another copy go through the same check.
        BackendContract.expectError(.network, "read through the replica set") {
            _ = try b.firstGood({ try $0.get(key) }, note: { _, _ in "never" })
        }
    }

    /// Every capability is forwarded: one copy is the wrapper itself (so fallback reads keep
    /// the drill's checks); the copies of a replicated repository are wrapped alike and share
    /// its loss; behind and fallback notes are the inner backend's.
    func testCapabilitiesAreForwarded() throws {
        let single = DrillBackend(LocalBackend(path: directory()), readOnly: false)
        try single.create()
        XCTAssertTrue(single.readsIntoBuffer)
        XCTAssertEqual(single.replicas.count, 1)
        XCTAssertTrue(single.replicas.first as? DrillBackend === single)

        let dirs = [directory(), directory()]
        let replicated = ReplicatedBackend(dirs.map { LocalBackend(path: $0) })
        let b = DrillBackend(replicated, readOnly: false)
        try b.create()
        let data = BackendContract.bytes(3000, seed: 22)
        let key = BackendContract.dataKey(data)
        try b.put(key, data)
        XCTAssertTrue(b.readsIntoBuffer)
        XCTAssertEqual(b.replicas.map(\.location), dirs)
        XCTAssertTrue(b.replicas.allSatisfy { $0 is DrillBackend })

        XCTAssertEqual(unlink(dirs[0] + "/" + key.path), 0)
        XCTAssertEqual(try b.firstGood({ try $0.get(key) }, note: { location, _ in "from \(location)" }), data)
        XCTAssertEqual(b.fallbackNotes, ["from \(dirs[1])"])
        XCTAssertEqual(replicated.fallbackNotes, b.fallbackNotes)
        b.markBehind(1, LifeboatError(.incomplete, "test"))
        XCTAssertEqual(replicated.behind.map(\.location), [dirs[1]])
        XCTAssertEqual(b.behind.map(\.location), [dirs[1]])

        let copies = b.replicas
        b.markLost()
        for copy in copies {
            BackendContract.expectError(.network, "\(copy.location) after the loss") { _ = try copy.get(key) }
        }
    }
}
