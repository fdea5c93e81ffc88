import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// What a backup run needs from S3, read from the server's own request log: only GET, HEAD,
/// PUT and POST (multipart), never DELETE, and never a second PUT to an existing key.
final class S3LeastPrivilegeTests: XCTestCase {
    func testWritesOnlyNewKeysAndNeverDeletes() throws {
        let server = try S3TestServer.start("contract", port: S3TestServer.basePort)
        let prefix = "lp-" + UUID().uuidString.lowercased()
        let options = S3Options(multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024)
        let b = try S3TestServer.backend(server, prefix: prefix, s3: options)
        var keys: [ObjectKey] = []
        for (i, size) in [10, 70_000, 7 * 1024 * 1024].enumerated() {
            let data = BackendContract.bytes(size, seed: UInt64(50 + i))
            let key = BackendContract.dataKey(data)
            try b.put(key, data)
            keys.append(key)
            // A second writer of the same object (a re-run) must not overwrite it.
            BackendContract.expectError(.exists, "re-put") { try b.put(key, data) }
        }
        try b.put(ObjectKey(.snapshots, "s1"), [1, 2, 3])
        _ = try b.list(.data)
        _ = try b.list(.snapshots)
        _ = try b.get(keys[1])
        _ = try b.getRange(keys[2], offset: 100, length: 100)
        _ = try b.stat(ObjectKey(.index, "absent"))

        let logged = try S3TestServer.requests(server, containing: prefix)
        XCTAssertGreaterThan(logged.count, 10)
        let methods = Set(logged.map(\.method))
        XCTAssertTrue(methods.isSubset(of: ["GET", "HEAD", "PUT", "POST"]), "\(methods)")
        XCTAssertFalse(methods.contains("DELETE"))
        // Each object was written once: one plain PUT, or one multipart completion.
        for key in keys + [ObjectKey(.snapshots, "s1")] {
            let path = "/lifeboat-tests/\(prefix)/\(key.path)"
            let writes = logged.filter {
                ($0.method == "PUT" && $0.path == path) || ($0.method == "POST" && $0.path.hasPrefix(path + "?uploadId="))
            }
            XCTAssertEqual(writes.count, 1, "\(key.path): \(writes)")
            XCTAssertTrue(writes.allSatisfy { $0.status == 200 }, "\(writes)")
        }
    }
}
