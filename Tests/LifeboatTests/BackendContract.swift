import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// The contract every Backend obeys (see Backend.swift), as checks that take any backend.
/// Each backend's test class runs all of them (LocalBackendContractTests, S3BackendContractTests),
/// and so do the decorators' (ReplicatedBackendContractTests, DrillBackendContractTests).
/// Objects are named as the repository names them, by the SHA-256 of their bytes but for
/// config and locks: a replicated backend checks what it reads against the name.
enum BackendContract {
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func dataKey(_ bytes: [UInt8]) -> ObjectKey { ObjectKey(.data, SHA256.hex(bytes)) }

    static func expectError(_ kind: LifeboatError.Kind, _ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("\(what): expected a \(kind) error, got success", file: file, line: line)
        } catch let e as LifeboatError {
            XCTAssertEqual(e.kind, kind, "\(what): \(e.message)", file: file, line: line)
        } catch {
            XCTFail("\(what): unexpected error \(error)", file: file, line: line)
        }
    }

    static func putGetStat(_ b: any Backend) throws {
        let data = bytes(100_000, seed: 1)
        let key = dataKey(data)
        XCTAssertNil(try b.stat(key))
        XCTAssertFalse(try b.exists(key))
        try b.put(key, data)
        XCTAssertEqual(try b.get(key), data)
        XCTAssertEqual(try b.stat(key), data.count)
        XCTAssertTrue(try b.exists(key))
        for kind in [ObjectKind.keys, .index, .snapshots, .locks, .audit] {
            let content = Array("\(kind)".utf8)
            let k = ObjectKey(kind, kind == .locks ? "0123abcd" : SHA256.hex(content))
            try b.put(k, content)
            XCTAssertEqual(try b.get(k), content)
        }
        try b.put(.config, [1, 2, 3])
        XCTAssertEqual(try b.get(.config), [1, 2, 3])
        XCTAssertEqual(try b.list(.config).map(\.size), [3])
    }

    static func emptyObject(_ b: any Backend) throws {
        let key = ObjectKey(.locks, "empty")
        try b.put(key, [])
        XCTAssertEqual(try b.get(key), [])
        XCTAssertEqual(try b.stat(key), 0)
        XCTAssertEqual(try b.getRange(key, offset: 0, length: 0), [])
    }

    static func neverOverwrites(_ b: any Backend) throws {
        let key = ObjectKey(.snapshots, SHA256.hex(Array("first".utf8)))
        try b.put(key, Array("first".utf8))
        expectError(.exists, "second put") { try b.put(key, Array("second".utf8)) }
        expectError(.exists, "same bytes again") { try b.put(key, Array("first".utf8)) }
        XCTAssertEqual(try b.get(key), Array("first".utf8))
    }

    /// Two writers race for one name: exactly one wins, the other gets `.exists`.
    static func concurrentPutsOfOneKey(_ b: any Backend) throws {
        for round in 0..<5 {
            let all = race(b, ObjectKey(.locks, "race-\(round)"))
            XCTAssertEqual(all.filter { $0 == "ok" }.count, 1, "round \(round): \(all)")
            XCTAssertEqual(all.filter { $0 == "exists" }.count, 3, "round \(round): \(all)")
        }
    }

    /// Four writers put one name at once; what each got: "ok", or the error kind.
    static func race(_ b: any Backend, _ key: ObjectKey) -> [String] {
        let results = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            do {
                try b.put(key, Array("writer \(i)".utf8))
                results.mutate { $0.append("ok") }
            } catch let e as LifeboatError {
                results.mutate { $0.append(e.kind.rawValue) }
            } catch {
                results.mutate { $0.append("\(error)") }
            }
        }
        return results.value
    }

    static func missingObjects(_ b: any Backend) throws {
        let key = ObjectKey(.data, String(repeating: "ab", count: 32))
        XCTAssertNil(try b.stat(key))
        expectError(.notFound, "get") { _ = try b.get(key) }
        expectError(.notFound, "getRange") { _ = try b.getRange(key, offset: 0, length: 10) }
        expectError(.notFound, "delete") { try b.delete(key) }
        expectError(.notFound, "get config") { _ = try b.get(.config) }
        XCTAssertEqual(try b.list(.data).count, 0)
        XCTAssertEqual(try b.list(.config).count, 0)
    }

    static func ranges(_ b: any Backend) throws {
        let data = bytes(70_000, seed: 2)
        let key = dataKey(data)
        try b.put(key, data)
        XCTAssertEqual(try b.getRange(key, offset: 0, length: data.count), data)
        XCTAssertEqual(try b.getRange(key, offset: 1234, length: 5000), Array(data[1234..<6234]))
        XCTAssertEqual(try b.getRange(key, offset: data.count - 1, length: 1), [data[data.count - 1]])
        expectError(.corrupt, "range past the end") { _ = try b.getRange(key, offset: data.count - 10, length: 20) }
        expectError(.corrupt, "range after the end") { _ = try b.getRange(key, offset: data.count + 10, length: 5) }
    }

    /// More objects than one S3 listing page (1000) so pagination is exercised; written by
    /// several threads at once, as snapshots do.
    static func listsEverything(_ b: any Backend, count: Int = 1100) throws {
        let datas = (0..<count).map { bytes(16 + $0 % 50, seed: UInt64(1000 + $0)) }
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in stride(from: worker, to: count, by: 8) {
                do { try b.put(dataKey(datas[i]), datas[i]) } catch { failures.mutate { $0.append("\(error)") } }
            }
        }
        XCTAssertEqual(failures.value, [])
        try b.put(ObjectKey(.index, "i1"), [1])
        try b.put(ObjectKey(.index, "i2"), [1, 2])
        let listed = try b.list(.data)
        XCTAssertEqual(listed.count, count)
        let expected = Dictionary(uniqueKeysWithValues: datas.map { (dataKey($0), $0.count) })
        let got = Dictionary(listed.map { ($0.key, $0.size) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(got, expected)
        XCTAssertEqual(Set(try b.list(.index).map(\.key)), [ObjectKey(.index, "i1"), ObjectKey(.index, "i2")])
        XCTAssertEqual(try b.list(.snapshots).count, 0)
    }

    /// An object larger than the multipart threshold of the S3 tests (several parts).
    static func largeObject(_ b: any Backend) throws {
        let data = bytes(11 * 1024 * 1024 + 12345, seed: 3)
        let key = dataKey(data)
        try b.put(key, data)
        XCTAssertEqual(try b.stat(key), data.count)
        XCTAssertEqual(try b.get(key), data)
        let boundary = 5 * 1024 * 1024
        XCTAssertEqual(try b.getRange(key, offset: boundary - 100, length: 200), Array(data[(boundary - 100)..<(boundary + 100)]))
        expectError(.exists, "overwrite a large object") { try b.put(key, data) }
        XCTAssertEqual(try b.list(.data).map(\.size), [data.count])
    }

    static func deletes(_ b: any Backend) throws {
        let data = bytes(1000, seed: 4)
        let key = dataKey(data)
        try b.put(key, data)
        try b.delete(key)
        XCTAssertNil(try b.stat(key))
        expectError(.notFound, "get after delete") { _ = try b.get(key) }
        expectError(.notFound, "second delete") { try b.delete(key) }
        XCTAssertEqual(try b.list(.data).count, 0)
        // After deletion the name is free again (prune then re-upload).
        try b.put(key, data)
        XCTAssertEqual(try b.get(key), data)
    }

    /// Readers racing a writer see nothing or the whole object, never a part.
    static func putIsAtomic(_ b: any Backend) throws {
        let data = bytes(3 * 1024 * 1024, seed: 5)
        let key = dataKey(data)
        let done = Locked(false)
        let seen = Locked<[String]>([])
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            while !done.value {
                do {
                    let got = try b.get(key)
                    seen.mutate { $0.append(got == data ? "whole" : "PARTIAL \(got.count)") }
                } catch let e as LifeboatError where e.kind == .notFound {
                    seen.mutate { $0.append("none") }
                } catch {
                    seen.mutate { $0.append("error \(error)") }
                }
            }
        }
        Thread.sleep(forTimeInterval: 0.05)
        try b.put(key, data)
        Thread.sleep(forTimeInterval: 0.05)
        done.set(true)
        group.wait()
        let all = seen.value
        XCTAssertTrue(all.allSatisfy { $0 == "whole" || $0 == "none" }, "\(Set(all))")
        XCTAssertEqual(try b.get(key), data)
    }
}

/// The library's `Locked`, with the spelling these tests use.
extension Locked {
    var value: Value { current }
    func set(_ value: Value) { withLock { $0 = value } }
    func mutate(_ body: (inout Value) -> Void) { withLock { body(&$0) } }
}
