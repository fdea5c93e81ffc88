import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Stored objects and printed JSON keep their exact keys with the one shared coder, which
/// derives snake_case keys from property names where types used to spell them in CodingKeys.
/// Each type is encoded with every optional filled, and its keys compared with the literal
/// list its CodingKeys (or, for the types that had none, its old output) held.
final class JSONCodingTests: XCTestCase {
    /// The keys of an encoded object, sorted.
    func keys(_ bytes: [UInt8], _ path: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        var node: Any = try JSONSerialization.jsonObject(with: Data(bytes))
        for step in path {
            if let array = node as? [Any], let last = array.last { node = last }
            node = try XCTUnwrap((node as? [String: Any])?[step], "no \(step) in \(path)", file: file, line: line)
        }
        if let array = node as? [Any], let last = array.last { node = last }
        return try XCTUnwrap(node as? [String: Any], file: file, line: line).keys.sorted()
    }

    /// Encodes with the shared coder, checks the keys, decodes again and checks nothing was lost
    /// (a key whose snake case does not convert back, like an acronym's, would fail here).
    func check<T: Codable>(_ value: T, _ expected: [String], at path: [String] = [], keys style: JSONCoding.Keys = .snakeCase,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let bytes = try JSONCoding.encode(value, keys: style)
        XCTAssertEqual(try keys(bytes, path), expected.sorted(), "\(T.self) \(path)", file: file, line: line)
        let again = try JSONCoding.encode(try JSONCoding.decode(T.self, from: bytes, keys: style), keys: style)
        XCTAssertEqual(String(decoding: again, as: UTF8.self), String(decoding: bytes, as: UTF8.self), "\(T.self) round trip", file: file, line: line)
    }

    func testStoredObjectsKeepTheirKeys() throws {
        let manifest = Manifest(version: 1, source: "bpm.db", timeMs: 1_700_000_000_000, host: "h", database: "/srv/bpm.db",
                                pageSize: 4096, pageCount: 513, journalMode: "wal", tableRoot: "ab", tableDelta: "cd", deltaCount: 3,
                                parent: "p", imageDigest: "00", pagesNew: 4, bytesAdded: 99, toolVersion: "0.1.0", keyGeneration: 2, sourceKey: "sk")
        try check(manifest, ["version", "source", "host", "database", "parent", "time_ms", "page_size", "page_count", "journal_mode",
                             "table_root", "table_delta", "delta_count", "image_digest", "pages_new", "bytes_added", "tool_version",
                             "key_generation", "source_key"])
        try check(LockRecord(host: "h", pid: 42, pidStart: 7, timeMs: 1, startedMs: 2, operation: "prune", source: "s", exclusive: true),
                  ["host", "pid", "operation", "source", "exclusive", "pid_start", "time_ms", "started_ms"])
        try check(ShredRecord(source: "s", timeMs: 1, sourceKeys: ["ab"], packs: ["cd"]), ["source", "packs", "time_ms", "source_keys"])
        let keyFile = KeyFile(version: 2, created: "2026-01-01T00:00:00Z", kdf: "scrypt", scrypt: ScryptParameters(n: 1024, r: 8, p: 1),
                              salt: "c2FsdA==", wrapped: "d3JhcHBlZA==", host: "h", user: "u")
        try check(keyFile, ["version", "created", "kdf", "scrypt", "salt", "wrapped", "host", "user"])
        try check(keyFile, ["n", "r", "p"], at: ["scrypt"])
        // The repository config keeps its CodingKeys: ObjectLockPolicy (a floor below) spells
        // its own, which decode only as written.
        var config = try RepositoryConfig.fresh()
        config.objectLock = try ObjectLockPolicy(mode: .governance, retainDays: 30)
        try check(config, ["version", "id", "created", "object_lock", "table_fanout", "pack_size"], keys: .asWritten)
        try check(config, ["mode", "retain_days"], at: ["object_lock"], keys: .asWritten)
    }

    /// An audit line is hashed into its chain: the shared coder must give the very bytes the
    /// audit trail's own encoder gave, detail keys (never converted) included.
    func testAuditLinesAreByteForByteTheSame() throws {
        let record = AuditRecord(chain: "c", seq: 3, prev: AuditRecord.genesis, time: "2026-01-01T00:00:00Z", operation: "forget",
                                 source: "s", result: .incomplete, error: "x/y", host: "h", user: "u", repository: "/srv/repo",
                                 details: ["removed_snapshots": .string("a,b"), "snapshot_source": .string("s"), "pages": .int(4)])
        let old = JSONEncoder()
        old.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        XCTAssertEqual(try record.encodedLine(), [UInt8](try old.encode(record)))
        try check(record, ["chain", "seq", "prev", "time", "operation", "source", "result", "error", "host", "user", "repository", "details"])
        try check(record, ["pages", "removed_snapshots", "snapshot_source"], at: ["details"])
        XCTAssertEqual(try AuditRecord.decode(line: try record.encodedLine()).details[AuditDetail.removedSnapshots], .string("a,b"))
    }

    /// Objects written before the shared coder escaped slashes ("\/"): they read the same.
    func testObjectsWithEscapedSlashesStillRead() throws {
        let old = #"{"bytes_added":99,"database":"\/srv\/bpm.db","delta_count":0,"host":"h","image_digest":"00","journal_mode":"wal","page_count":1,"page_size":4096,"pages_new":1,"source":"bpm.db","table_root":"ab","time_ms":1,"tool_version":"0.1.0","version":1}"#
        let m = try Manifest.decode(Array(old.utf8), id: "x")
        XCTAssertEqual(m.database, "/srv/bpm.db")
        XCTAssertEqual(m.bytesAdded, 99)
        XCTAssertNil(m.tableDelta)
        XCTAssertTrue(String(decoding: try JSONCoding.encode(m), as: UTF8.self).contains(#""database":"/srv/bpm.db""#))
    }

    func testPrintedReportsKeepTheirKeys() throws {
        let source = StatusReport.SourceStatus(source: "s", configured: true, snapshots: 1, lastSnapshot: "id", lastTime: "t",
                                               ageSeconds: 1, rpoSeconds: 2, rpoBreached: false, lastBytesAdded: 3)
        let repository = StatusReport.RepositoryStatus(location: "l", primary: true, reachable: true, inStep: true, snapshots: 1,
                                                       behind: ["s"], problem: "p")
        let status = StatusReport(time: "t", sources: [source], repositories: [repository], rpoBreached: false, replicasBehind: false)
        // Keys added since (verification, damage, resume) come after the old ones in each list.
        try check(status, ["time", "sources", "repositories", "rpo_breached", "replicas_behind",
                           "verification_failed", "verify_overdue"])
        try check(status, ["source", "configured", "snapshots", "last_snapshot", "last_time", "age_seconds", "rpo_seconds",
                           "rpo_breached", "last_bytes_added", "verify_overdue"], at: ["sources"])
        try check(status, ["location", "primary", "reachable", "snapshots", "behind", "problem", "in_step"], at: ["repositories"])

        let lock = ObjectLockStatus(location: "l", enabled: true, versioned: true, locked: 1, unlocked: 2, hiddenByDeleteMarker: 3,
                                    modes: ["GOVERNANCE"], earliestRetainUntil: "a", latestRetainUntil: "b")
        let check1 = CheckReport(ok: false, readData: true, snapshots: 1, packs: 2, blobs: 3, bytesRead: 4, errors: ["e"],
                                 damagedSnapshots: [.init(id: "i", source: "s", time: "t", problem: "p")], shreddedPacks: 5, objectLock: [lock])
        let checkBytes = try JSONCoding.encode(check1)
        XCTAssertEqual(try keys(checkBytes), ["blobs", "bytes_read", "damaged_objects", "damaged_packs", "damaged_snapshots", "errors",
                                             "object_lock", "ok", "packs", "read_data", "read_only", "shredded_packs", "snapshots",
                                             "unreadable", "unverified_snapshots"])
        XCTAssertEqual(try keys(checkBytes, ["damaged_snapshots"]), ["id", "problem", "source", "time"])
        XCTAssertEqual(try keys(checkBytes, ["object_lock"]), ["earliest_retain_until", "enabled", "hidden_by_delete_marker",
                                                               "latest_retain_until", "location", "locked", "modes", "unlocked", "versioned"])

        try check(ShredReport(source: "s", keysDestroyed: ["k"], snapshotsForgotten: ["f"], masterKeySnapshots: 1, packs: 2,
                              packBytes: 3, dryRun: true),
                  ["source", "packs", "keys_destroyed", "snapshots_forgotten", "master_key_snapshots", "pack_bytes", "dry_run"])
        let prune = PruneReport(dryRun: true, snapshots: 1, blobsReferenced: 2, packsBefore: 3, packsKept: 4, packsDeleted: 5,
                                packsRepacked: 6, packsWritten: 7, orphanPacksDeleted: 8, orphanPacksKept: 9, blobsRemoved: 10,
                                bytesDeleted: 11, bytesWritten: 12, indexFilesWritten: 13, indexFilesDeleted: 14,
                                temporaryBytesRemoved: 15, seconds: 16, objectsRetained: 17, retainedUntilEarliest: "a", retainedUntilLatest: "b")
        try check(prune, ["snapshots", "seconds", "dry_run", "blobs_referenced", "packs_before", "packs_kept", "packs_deleted",
                          "packs_repacked", "packs_written", "orphan_packs_deleted", "orphan_packs_kept", "blobs_removed", "bytes_deleted",
                          "bytes_written", "index_files_written", "index_files_deleted", "temporary_bytes_removed", "objects_retained",
                          "retained_until_earliest", "retained_until_latest", "attestations_deleted",
                          "segments_deleted", "segments_compacted", "segments_written"])
        let verification = AuditVerification(ok: false, localPath: "/p", localRecords: 1, repositoryRecords: 2, chains: 3,
                                             problems: [AuditProblem(place: "local", chain: "c", seq: 1, message: "m", record: "r")])
        try check(verification, ["ok", "chains", "problems", "local_path", "local_records", "repository_records"])
        try check(verification, ["place", "chain", "seq", "message", "record"], at: ["problems"])
        try check(KeySlotInfo(id: "i", created: "c", host: "h", user: "u", kdf: "scrypt", scryptN: 1, scryptR: 2, scryptP: 3,
                              generations: [0], current: true),
                  ["id", "created", "host", "user", "kdf", "generations", "current", "scrypt_n", "scrypt_r", "scrypt_p"])
        try check(RotationResult(generation: 1, slot: "s", removedSlots: ["r"]), ["generation", "slot", "removed_slots"])

        // Restore's output has always had two camelCase keys; it is printed as written.
        let restore = RestoreResult(snapshot: "s", source: "s", time: "t", target: "/t", pages: 1, bytes: 2, fetchedBytes: 3,
                                    integrity: "ok", seconds: 4, phases: ["fetch_decrypt_write": 1], workerSeconds: ["fetch": 1])
        try check(restore, ["snapshot", "source", "time", "target", "pages", "bytes", "fetchedBytes", "integrity", "seconds",
                            "phases", "workerSeconds", "resumed", "reusedPages", "replayedTransactions", "replayedSegments"], keys: .asWritten)
        try check(restore, ["fetch_decrypt_write"], at: ["phases"], keys: .asWritten)
    }

    /// The two reports built inside CLI commands, through the binary.
    func testCommandRowsKeepTheirKeys() throws {
        let sb = try Sandbox()
        let db = sb.path("k.db")
        try TestDB.create(db, rows: 50)
        try sb.lifeboat("init")
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--quiet").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--quiet").status, 0)
        let rows = try sb.lifeboat("snapshots", "--json")
        XCTAssertEqual(try keys(Array(rows.stdout.utf8)), ["bytes_added", "id", "journal_mode", "page_size", "pages", "pages_new",
                                                           "parent", "size", "source", "time", "verified"])
        let forget = try sb.lifeboat("forget", "--keep-last", "1", "--prune", "--json")
        XCTAssertEqual(forget.status, 0, forget.stderr)
        let out = Array(forget.stdout.utf8)
        XCTAssertEqual(try keys(out), ["dry_run", "forgotten", "groups", "prune"])
        XCTAssertEqual(try keys(out, ["groups"]), ["keep", "policy", "remove", "source"])
        XCTAssertEqual(try keys(out, ["groups", "keep"]), ["id", "reasons", "time"])
        XCTAssertTrue(try keys(out, ["prune"]).contains("orphan_packs_deleted"))
    }
}
