import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// A copy that never answers, as an endpoint that is down.
private struct UnreachableBackend: Backend {
    let location: String

    private func down() -> LifeboatError { LifeboatError(.network, "\(location) is unreachable (test)") }
    func create() throws { throw down() }
    func put(_ key: ObjectKey, _ bytes: [UInt8]) throws { throw down() }
    func get(_ key: ObjectKey) throws -> [UInt8] { throw down() }
    func getRange(_ key: ObjectKey, offset: Int, length: Int) throws -> [UInt8] { throw down() }
    func stat(_ key: ObjectKey) throws -> Int? { throw down() }
    func list(_ kind: ObjectKind) throws -> [ObjectInfo] { throw down() }
    func delete(_ key: ObjectKey) throws { throw down() }
}

/// The shared backend contract (BackendContract) against `ReplicatedBackend`: two local copies
/// in step, and a local copy beside one that is down from the start. Then what the contract
/// does not cover: reads falling back, writes leaving a failing copy behind, capabilities.
final class ReplicatedBackendContractTests: XCTestCase {
    private var dirs: [String] = []

    override func tearDownWithError() throws {
        for dir in dirs { try? FileManager.default.removeItem(atPath: dir) }
    }

    private func directory() -> String {
        let dir = NSTemporaryDirectory() + "lifeboat-replicated-" + UUID().uuidString
        dirs.append(dir)
        return dir
    }

    /// Runs a contract check against both kinds of replicated backend, then checks the copies:
    /// in step, every copy holds what the wrapper lists; with one copy down, only that copy is
    /// behind and the run went on without it.
    private func check(_ contract: (any Backend) throws -> Void) throws {
        let copies = [LocalBackend(path: directory()), LocalBackend(path: directory())]
        let inStep = ReplicatedBackend(copies)
        try inStep.create()
        try contract(inStep)
        XCTAssertTrue(inStep.behind.isEmpty, "\(inStep.behind)")
        for kind in ObjectKind.allCases {
            let listed = Set(try inStep.list(kind).map(\.key))
            for copy in copies {
                XCTAssertEqual(Set(try copy.list(kind).map(\.key)), listed, "\(kind) in \(copy.location)")
            }
        }

        let down = UnreachableBackend(location: "down-copy")
        let oneDown = ReplicatedBackend([LocalBackend(path: directory()), down])
        try oneDown.create()
        try contract(oneDown)
        XCTAssertEqual(oneDown.behind.map(\.location), [down.location])
        XCTAssertEqual(oneDown.behind.first?.error.kind, .network)
    }

    func testPutGetStat() throws { try check(BackendContract.putGetStat) }
    func testEmptyObject() throws { try check(BackendContract.emptyObject) }
    func testNeverOverwrites() throws { try check(BackendContract.neverOverwrites) }
    func testMissingObjects() throws { try check(BackendContract.missingObjects) }
    func testRanges() throws { try check(BackendContract.ranges) }
    func testListsEverything() throws { try check { try BackendContract.listsEverything($0, count: 300) } }
    func testLargeObject() throws { try check(BackendContract.largeObject) }
    func testDeletes() throws { try check(BackendContract.deletes) }
    func testPutIsAtomic() throws { try check(BackendContract.putIsAtomic) }

    /// The contract's "exactly one of racing writers wins" holds per copy, not across copies:
    /// one writer can win the first copy and another the second, and both are told their
    /// object is stored. The repository never races on one name (its names are content hashes,
    /// and each run's lock object has a name of its own), so what is checked here is what a
    /// race does leave: every copy holds one writer's whole object, and nobody saw an error
    /// other than `.exists`. With one copy down only one copy is written, and the contract
    /// holds as it stands.
    func testConcurrentPutsOfOneKey() throws {
        let copies = [LocalBackend(path: directory()), LocalBackend(path: directory())]
        let b = ReplicatedBackend(copies)
        try b.create()
        for round in 0..<5 {
            let key = ObjectKey(.locks, "race-\(round)")
            let all = BackendContract.race(b, key)
            XCTAssertTrue((1...2).contains(all.filter { $0 == "ok" }.count), "round \(round): \(all)")
            XCTAssertEqual(all.filter { $0 == "ok" || $0 == "exists" }.count, 4, "round \(round): \(all)")
            for copy in copies {
                let text = String(decoding: try copy.get(key), as: UTF8.self)
                XCTAssertTrue((0..<4).map { "writer \($0)" }.contains(text), "round \(round): \(copy.location) holds '\(text)'")
            }
        }
        XCTAssertTrue(b.behind.isEmpty)
        let oneDown = ReplicatedBackend([LocalBackend(path: directory()), UnreachableBackend(location: "down-copy")])
        try oneDown.create()
        try BackendContract.concurrentPutsOfOneKey(oneDown)
    }

    /// The first copy loses an object, then has it damaged: reads come from the second copy and
    /// say why. Then the first copy's directory is gone: a write lands in the second, the first
    /// is behind with the reason and is not written again in this run.
    func testReadsFallBackAndAFailingCopyFallsBehind() throws {
        let first = directory(), second = directory()
        let b = ReplicatedBackend([LocalBackend(path: first), LocalBackend(path: second)])
        try b.create()
        let data = BackendContract.bytes(5000, seed: 7)
        let key = BackendContract.dataKey(data)
        try b.put(key, data)

        XCTAssertEqual(unlink(first + "/" + key.path), 0)
        XCTAssertEqual(try b.get(key), data)
        XCTAssertEqual(try b.getRange(key, offset: 10, length: 20), Array(data[10..<30]))
        XCTAssertEqual(b.fallbackNotes, Array(repeating: "\(key.path) read from \(second) (missing in \(first))", count: 2))

        var damaged = data
        damaged[100] ^= 0xff
        XCTAssertTrue(FileManager.default.createFile(atPath: first + "/" + key.path, contents: Data(damaged)))
        XCTAssertEqual(try b.get(key), data, "a whole object is checked against its name")
        XCTAssertEqual(b.fallbackNotes.last, "\(key.path) read from \(second) (damaged in \(first))")
        // A range has no name to be checked against: the caller says what is good, as restore
        // does by authenticating the blobs in it.
        XCTAssertEqual(try b.getRange(key, offset: 0, length: data.count), damaged)
        let checked = try b.firstGood({ try $0.getRange(key, offset: 0, length: data.count) }, validate: { bytes in
            guard SHA256.hex(bytes) == key.name else { throw LifeboatError(.corrupt, "fails authentication") }
            return bytes
        }, note: { location, failures in "range from \(location) after \(failures.map(\.summary))" })
        XCTAssertEqual(checked, data)
        XCTAssertEqual(b.fallbackNotes.last, "range from \(second) after [\"damaged in \(first)\"]")

        XCTAssertTrue(FileManager.default.createFile(atPath: second + "/" + key.path, contents: Data(damaged)))
        BackendContract.expectError(.corrupt, "damaged in every copy") { _ = try b.get(key) }
        do {
            _ = try b.get(key)
        } catch let e as LifeboatError {
            XCTAssertEqual(e.message, "\(key.path) is unavailable in every repository: damaged in \(first); damaged in \(second)")
        }
        XCTAssertTrue(b.behind.isEmpty, "reads never put a copy behind")

        try FileManager.default.removeItem(atPath: first)
        let more = BackendContract.bytes(3000, seed: 8)
        try b.put(BackendContract.dataKey(more), more)
        XCTAssertEqual(b.behind.map(\.location), [first])
        XCTAssertEqual(try LocalBackend(path: second).get(BackendContract.dataKey(more)), more)
        // Behind for the rest of the run: not written to even when it is back.
        try LocalBackend(path: first).create()
        let last = BackendContract.bytes(2000, seed: 9)
        let index = ObjectKey(.index, SHA256.hex(last))
        try b.put(index, last)
        XCTAssertNil(try LocalBackend(path: first).stat(index))
        XCTAssertEqual(try LocalBackend(path: second).stat(index), last.count)
        XCTAssertEqual(Sync.lagging(b).map(\.location), [first], "the copy that missed writes lags the others")
    }

    /// The one fallback loop: copies in order, a failure the caller does not fall back on is
    /// thrown at once, and a single copy fails exactly as that backend does, with nothing noted.
    func testFirstGoodStopsWhereTheCallerSaysAndOneCopyFailsAsItself() throws {
        let dir = directory()
        let local = LocalBackend(path: dir)
        try local.create()
        let data = BackendContract.bytes(100, seed: 10)
        let key = BackendContract.dataKey(data)
        try local.put(key, data)
        let b = ReplicatedBackend([UnreachableBackend(location: "down-copy"), local])

        let tried = Locked<[String]>([])
        XCTAssertThrowsError(try b.firstGood({ copy -> [UInt8] in
            tried.mutate { $0.append(copy.location) }
            return try copy.get(key)
        }, fallsBack: { ($0 as? LifeboatError)?.kind != .network }, note: { location, _ in location })) {
            XCTAssertEqual(($0 as? LifeboatError)?.kind, .network)
        }
        XCTAssertEqual(tried.value, ["down-copy"], "a failure that does not fall back stops the search")
        XCTAssertEqual(try b.firstGood({ try $0.get(key) }, note: { location, failures in "\(location) after \(failures.map(\.summary))" }), data)
        XCTAssertEqual(b.fallbackNotes, ["\(dir) after [\"down-copy: down-copy is unreachable (test)\"]"])

        let missing = ObjectKey(.data, String(repeating: "cd", count: 32))
        var direct: LifeboatError?
        do { _ = try local.get(missing) } catch let e as LifeboatError { direct = e }
        do {
            _ = try local.firstGood({ try $0.get(missing) }, note: { _, _ in "never" })
            XCTFail("a missing object was found")
        } catch let e as LifeboatError {
            XCTAssertEqual(e.kind, direct?.kind)
            XCTAssertEqual(e.message, direct?.message)
        }
        XCTAssertEqual(local.fallbackNotes, [])
        XCTAssertEqual(local.replicas.map(\.location), [dir], "a plain backend is a set of one")
    }

    /// Every capability is answered for the copies: range reads into a buffer, prune's
    /// maintenance, Object Lock (none here, as for any local directory).
    func testCapabilitiesAreAnsweredForTheCopies() throws {
        let dirs = [directory(), directory()]
        let b = ReplicatedBackend(dirs.map { LocalBackend(path: $0) })
        try b.create()
        XCTAssertTrue(b.readsIntoBuffer)
        XCTAssertFalse(ReplicatedBackend([LocalBackend(path: dirs[0]), UnreachableBackend(location: "s3-like")]).readsIntoBuffer,
                       "one copy read through arrays makes the whole set so")
        let data = BackendContract.bytes(10_000, seed: 11)
        let key = BackendContract.dataKey(data)
        try b.put(key, data)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FileIO.directReadBound(data.count), alignment: 4096)
        defer { buffer.deallocate() }
        XCTAssertEqual(Array(try b.readRange(key, offset: 123, length: 4567, into: buffer)), Array(data[123..<4690]))
        XCTAssertEqual(unlink(dirs[0] + "/" + key.path), 0)
        XCTAssertEqual(Array(try b.readRange(key, offset: 0, length: data.count, into: buffer)), data, "falls back like every read")

        let stored = try XCTUnwrap(try b.modificationTime(key))
        XCTAssertLessThan(abs(stored.timeIntervalSinceNow), 60)
        var old = 0
        for dir in dirs {
            let tmp = dir + "/tmp/left-over.tmp"
            XCTAssertTrue(FileManager.default.createFile(atPath: tmp, contents: Data(count: 700)))
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: tmp)
            old += 700
        }
        XCTAssertEqual(try b.removeTemporaryFiles(olderThan: 60), old, "every copy's leftovers")

        b.setObjectLock(ObjectLockRuntime(policy: try ObjectLockPolicy(mode: .governance, retainDays: 1)))
        XCTAssertEqual(try b.objectLockStatus(), [])
        XCTAssertEqual(b.readsBehindDeleteMarkers, [:])
    }
}
