import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Where `replicate` stands for one source, as `status` sees it from the repositories (and,
/// when the database is on this host, from its WAL): the newest shipped transaction, each
/// replica's, and how far the database is ahead of them.
public struct ReplicationStatus: Codable, Sendable {
    public struct Replica: Codable, Sendable {
        public var location: String
        public var seq: UInt64?
        public var lastShipped: String?
        public var problem: String?
    }

    public var lineage: String
    public var seq: UInt64
    /// When replicate saw the newest transaction every listed replica... the primary stores.
    public var lastShipped: String
    public var lastShippedAgeSeconds: Double
    /// Committed in the database and not shipped yet (nil: the database is not readable here).
    public var lagBytes: Int?
    /// Seconds the oldest unshipped commit may have waited: since the last shipped one while
    /// bytes wait, else 0 (nil: the database is not readable here).
    public var lagSeconds: Double?
    public var replicas: [Replica]
    /// Why the lag could not be measured, when it could not.
    public var note: String?

    /// Nil when the source has never been replicated.
    package static func build(primary: Repository, replicas: [(location: String, repository: Result<Repository, LifeboatError>)],
                              source: String, databasePath: String?, snapshots: [SnapshotRecord] = [], now: Date) throws -> ReplicationStatus? {
        let names = try primary.listSegments(source: source)
        // A lineage begins at a snapshot `replicate` took (its first run, or after a break): when
        // that is newer than every segment, the stream stands at the snapshot.
        let base = snapshots.last { $0.manifest.replication?.wal != nil }
        let newest = names.max(by: { $0.lastTimeMs < $1.lastTimeMs })
        let start: (lineage: String, seq: UInt64, timeMs: Int64, wal: WALPosition, pageSize: Int)?
        if let base, let point = base.manifest.replication, let wal = point.wal, base.manifest.timeMs > newest?.lastTimeMs ?? .min {
            start = (point.lineage, point.seq, base.manifest.timeMs, wal, base.manifest.pageSize)
        } else {
            start = nil
        }
        guard start != nil || newest != nil else { return nil }
        let lineage = start?.lineage ?? newest?.lineage ?? ""
        let last = names.filter { $0.lineage == lineage }.max { $0.lastSeq < $1.lastSeq }
        let seq = last?.lastSeq ?? start?.seq ?? 0
        let lastMs = last?.lastTimeMs ?? start?.timeMs ?? 0
        var status = ReplicationStatus(lineage: lineage, seq: seq,
                                       lastShipped: RFC3339.format(Date(unixMilliseconds: lastMs), fractional: true),
                                       lastShippedAgeSeconds: max(0, now.timeIntervalSince(Date(unixMilliseconds: lastMs))),
                                       lagBytes: nil, lagSeconds: nil, replicas: [], note: nil)
        status.replicas.append(Replica(location: primary.backend.location, seq: seq, lastShipped: status.lastShipped))
        for (location, result) in replicas {
            switch result {
            case .failure(let e):
                status.replicas.append(Replica(location: location, problem: e.message))
            case .success(let r):
                do {
                    let theirs = try r.listSegments(source: source).filter { $0.lineage == lineage }.max { $0.lastSeq < $1.lastSeq }
                    status.replicas.append(Replica(location: location, seq: theirs?.lastSeq,
                                                   lastShipped: theirs.map { RFC3339.format(Date(unixMilliseconds: $0.lastTimeMs), fractional: true) }))
                } catch let e as LifeboatError {
                    status.replicas.append(Replica(location: location, problem: e.message))
                }
            }
        }
        guard let databasePath, FileManager.default.fileExists(atPath: databasePath) else {
            status.note = "the database is not on this host: lag is the age of the last shipped transaction"
            return status
        }
        do {
            let at: (wal: WALPosition, pageSize: Int)
            if let last {
                let segment = try primary.loadSegment(last, source: source)
                at = (segment.walEnd, segment.pageSize)
            } else if let start {
                at = (start.wal, start.pageSize)
            } else {
                return status
            }
            guard WALFollower.databaseInode(databasePath) == at.wal.inode else {
                status.note = "the database file was replaced since the last shipped transaction; replicate starts a new lineage"
                return status
            }
            let follower = WALFollower(databasePath: databasePath, pageSize: at.pageSize)
            switch try follower.read(after: at.wal, maxBytes: .max, keepData: false) {
            case .broken(let why):
                status.note = why
            case .transactions(let ts):
                let frames = ts.last.map { Int($0.end.frames) - (ts[0].end.salt1 == at.wal.salt1 ? Int(at.wal.frames) : 0) } ?? 0
                status.lagBytes = frames * (WALIndex.frameHeaderSize + at.pageSize)
                status.lagSeconds = ts.isEmpty ? 0 : status.lastShippedAgeSeconds
            }
        } catch let e as LifeboatError {
            status.note = "lag not measured: \(e.message)"
        }
        return status
    }
}
