import Foundation
import LifeboatCore
import LifeboatStorage

/// A snapshot manifest: one point in time of one source. Stored encrypted under snapshots/,
/// named by the SHA-256 of its stored bytes; written last, so a snapshot exists only once
/// everything it references is stored.
public struct Manifest: Codable, Sendable {
    public var version: Int
    public var source: String
    /// Milliseconds since the epoch (UTC) when the consistent image was captured.
    public var timeMs: Int64
    public var host: String
    public var database: String
    public var pageSize: Int
    public var pageCount: Int
    public var journalMode: String
    /// Root blob of the base page table, and the delta against it (nil when none).
    public var tableRoot: String
    public var tableDelta: String?
    public var deltaCount: Int
    public var parent: String?
    /// HMAC (identifier key) over the ordered page ids: the image as a whole.
    public var imageDigest: String
    public var pagesNew: Int
    /// Bytes of packs and index this snapshot added (the manifest itself not counted).
    public var bytesAdded: Int
    public var toolVersion: String
    /// Key generation the page table and pages are sealed with (nil: 0, before any rotation).
    public var keyGeneration: UInt32? = nil
    /// The source key object (sourcekeys/<id>) its page table and pages are sealed with, when
    /// the source has a key of its own (nil: the master key of `keyGeneration`).
    public var sourceKey: String? = nil
    /// Set on snapshots `lifeboat replicate` takes: the image is the state after this
    /// transaction of this lineage, so a restore replays the lineage's segments from there.
    public var replication: ReplicationPoint? = nil

    public var time: Date { Date(unixMilliseconds: timeMs) }
    public var databaseSize: Int { pageCount * pageSize }

    package init(version: Int, source: String, timeMs: Int64, host: String, database: String, pageSize: Int, pageCount: Int, journalMode: String, tableRoot: String, tableDelta: String? = nil, deltaCount: Int, parent: String? = nil, imageDigest: String, pagesNew: Int, bytesAdded: Int, toolVersion: String, keyGeneration: UInt32? = nil, sourceKey: String? = nil, replication: ReplicationPoint? = nil) {
        self.version = version
        self.source = source
        self.timeMs = timeMs
        self.host = host
        self.database = database
        self.pageSize = pageSize
        self.pageCount = pageCount
        self.journalMode = journalMode
        self.tableRoot = tableRoot
        self.tableDelta = tableDelta
        self.deltaCount = deltaCount
        self.parent = parent
        self.imageDigest = imageDigest
        self.pagesNew = pagesNew
        self.bytesAdded = bytesAdded
        self.toolVersion = toolVersion
        self.keyGeneration = keyGeneration
        self.sourceKey = sourceKey
        self.replication = replication
    }
}

extension Manifest {
    /// Parses a manifest's plaintext and rejects values no snapshot can have, so later
    /// arithmetic (page count × page size) cannot overflow.
    public static func decode(_ bytes: [UInt8], id: String) throws -> Manifest {
        let malformed = LifeboatError(.corrupt, "snapshot \(id.prefix(8)) has a malformed manifest")
        guard let m = try? JSONCoding.decode(Manifest.self, from: bytes) else { throw malformed }
        guard (512...65536).contains(m.pageSize), m.pageSize & (m.pageSize - 1) == 0,
              (0...Int(UInt32.max)).contains(m.pageCount), (0...m.pageCount).contains(m.deltaCount) else { throw malformed }
        return m
    }
}

/// A transaction of a replication lineage (see Segment.swift).
public struct ReplicationPoint: Codable, Sendable, Equatable {
    public var lineage: String
    public var seq: UInt64
    /// The WAL position of that transaction (what a restarted `replicate` resumes from).
    public var wal: WALPosition?

    public init(lineage: String, seq: UInt64, wal: WALPosition?) {
        self.lineage = lineage
        self.seq = seq
        self.wal = wal
    }
}

/// A manifest with the name it is stored under.
public struct SnapshotRecord: Sendable {
    public let id: String
    public let manifest: Manifest
    public var shortID: String { String(id.prefix(8)) }
}

extension Repository {
    public func storeManifest(_ m: Manifest) throws -> (id: String, size: Int) {
        let stored = try storeObject(.snapshots, try JSONCoding.encode(m))
        return (stored.key.name, stored.size)
    }

    public func loadManifest(_ id: String) throws -> Manifest {
        try Manifest.decode(try loadObject(ObjectKey(.snapshots, id)), id: id)
    }

    /// Every snapshot, oldest first. Damaged manifests are reported through `damaged`.
    /// `workers` > 1 reads that many manifests at once (a repository of many sources on S3).
    public func listSnapshots(source: String? = nil, workers: Int = 1, damaged: ((String, LifeboatError) -> Void)? = nil) throws -> [SnapshotRecord] {
        let infos = try backend.list(.snapshots)
        var loaded: [Result<Manifest, LifeboatError>?]
        if workers > 1 && infos.count > 1 {
            let results = Locked([Result<Manifest, LifeboatError>?](repeating: nil, count: infos.count))
            try Parallel.forEach(count: infos.count, workers: workers) { _, i in
                let r: Result<Manifest, LifeboatError>
                do { r = .success(try loadManifest(infos[i].key.name)) } catch let e as LifeboatError { r = .failure(e) }
                results.withLock { $0[i] = r }
            }
            loaded = results.current
        } else {
            loaded = []
            for info in infos {
                do { loaded.append(.success(try loadManifest(info.key.name))) } catch let e as LifeboatError { loaded.append(.failure(e)) }
            }
        }
        var out: [SnapshotRecord] = []
        for (info, result) in zip(infos, loaded) {
            switch result {
            case .success(let m)?:
                if source == nil || m.source == source { out.append(SnapshotRecord(id: info.key.name, manifest: m)) }
            case .failure(let e)?:
                guard let damaged else { throw e }
                damaged(info.key.name, e)
            case nil:
                throw LifeboatError(.internalError, "snapshot \(info.key.name.prefix(8)) was not read")
            }
        }
        return out.sorted { ($0.manifest.timeMs, $0.id) < ($1.manifest.timeMs, $1.id) }
    }

    /// Resolves "latest", a full id or a unique id prefix (optionally within a source).
    public func findSnapshot(_ spec: String, source: String?) throws -> SnapshotRecord {
        let all = try listSnapshots(source: source)
        if spec == "latest" {
            guard let last = all.last else {
                throw LifeboatError(.notFound, source.map { "no snapshot of source '\($0)' in the repository" } ?? "the repository has no snapshots")
            }
            return last
        }
        let matches = all.filter { $0.id.hasPrefix(spec.lowercased()) }
        guard !matches.isEmpty else { throw LifeboatError(.notFound, "no snapshot with id \(spec)\(source.map { " for source '\($0)'" } ?? ""); list them with 'lifeboat snapshots'") }
        guard matches.count == 1 else { throw LifeboatError(.usage, "snapshot id \(spec) is ambiguous (\(matches.count) match); give more digits") }
        return matches[0]
    }

    /// The newest snapshot of a source taken at or before `time`.
    public func findSnapshot(at time: Date, source: String) throws -> SnapshotRecord {
        let all = try listSnapshots(source: source)
        guard let pick = all.last(where: { $0.manifest.time <= time }) else {
            let first = all.first.map { " (the oldest is \(RFC3339.format($0.manifest.time)))" } ?? ""
            throw LifeboatError(.notFound, "no snapshot of source '\(source)' at or before \(RFC3339.format(time))\(first)")
        }
        return pick
    }
}
