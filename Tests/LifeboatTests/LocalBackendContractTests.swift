import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


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

    /// Packs are written with O_DIRECT in whole blocks and the rest through the page cache, and
    /// read back by range with O_DIRECT widened to whole blocks: every size and range around
    /// the block and bounce-buffer edges reads back exactly.
    func testPacksOfEverySizeAroundTheDirectWriteEdgesReadBackExactly() throws {
        let backend = try makeBackend()
        var rng = SystemRandomNumberGenerator()
        for size in [0, 1, 4095, 4096, 4097, (1 << 20) - 1, 1 << 20, (1 << 20) + 4097, 3 * (1 << 20) + 5] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let key = ObjectKey(.data, SHA256.hex(bytes))
            try backend.put(key, bytes)
            XCTAssertEqual(try backend.get(key), bytes, "size \(size)")
            XCTAssertEqual(try backend.stat(key), size)
            // Restore's direct range reads: unaligned ranges, up to the very end, and past it.
            let local = try XCTUnwrap(backend as? LocalBackend)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FileIO.directReadBound(size), alignment: 4096)
            defer { buffer.deallocate() }
            for (offset, length) in [(0, size), (size / 3, size / 2), (max(0, size - 1), min(1, size)), (size / 2 + 1, size - size / 2 - 1)] where length >= 0 && offset + length <= size {
                XCTAssertEqual(Array(try local.readRange(key, offset: offset, length: length, into: buffer)), Array(bytes[offset..<(offset + length)]), "size \(size) range \(offset)+\(length)")
            }
            if size > 0 {
                XCTAssertThrowsError(try local.readRange(key, offset: size / 2, length: size - size / 2 + 1, into: buffer)) {
                    XCTAssertEqual(($0 as? LifeboatError)?.kind, .corrupt, "a range past the end is a truncated object")
                }
            }
        }
        // On this disk the direct path is really taken (tmpfs would refuse O_DIRECT and fall back).
        let probe = NSTemporaryDirectory() + "lifeboat-direct-" + UUID().uuidString
        defer { unlink(probe) }
        let (fd, direct) = try FileIO.createForDirectWrite(probe)
        defer { close(fd) }
        // The file system of the temporary directory: the longest mount point that holds it.
        let dir = (NSTemporaryDirectory() as NSString).resolvingSymlinksInPath
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let fsType = try XCTUnwrap(mounts.filter { $0.count > 2 && (dir + "/").hasPrefix($0[1] == "/" ? "/" : $0[1] + "/") }
            .max { $0[1].count < $1[1].count }?[2])
        XCTAssertEqual(direct, fsType != "tmpfs", "O_DIRECT is used wherever the file system takes it (\(fsType))")
    }
}
