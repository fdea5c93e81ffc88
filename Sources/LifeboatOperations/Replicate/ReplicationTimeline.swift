import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// What a source can be restored to: its snapshots, and the runs of shipped transactions that
/// continue them (lineages), with any gap named. Read from listings and manifests only.
public struct ReplicationTimeline: Codable, Sendable {
    /// One unbroken run of transactions of a lineage, from a snapshot of it.
    public struct Range: Codable, Sendable {
        public var lineage: String
        public var fromSeq: UInt64
        public var toSeq: UInt64
        /// The first state restorable (the lineage's first snapshot) and the last transaction.
        public var from: String
        public var to: String
        public var segments: Int
        public var snapshots: Int
    }

    /// Transactions missing between two segments: a restore cannot pass it.
    public struct Gap: Codable, Sendable {
        public var lineage: String
        public var missingFrom: UInt64
        public var missingTo: UInt64
        public var after: String
        public var before: String
    }

    public var source: String
    public var ranges: [Range]
    public var gaps: [Gap]
    /// Snapshots not taken by `replicate` (restorable to their own time only).
    public var plainSnapshots: Int

    /// A restore's way to a point: a snapshot, then these segments' transactions up to `until`.
    package struct Plan {
        var base: SnapshotRecord
        var segments: [SegmentName]
        var until: Date?
        /// The last transaction's time the plan reaches (ms), as the names tell it.
        var reachMs: Int64
        var gap: Gap?
    }

    package struct Lineage {
        var id: String
        var bases: [SnapshotRecord]
        var segments: [SegmentName]
    }

    package static func lineages(_ repo: Repository, source: String, snapshots: [SnapshotRecord]) throws -> [Lineage] {
        var bySegment: [String: [SegmentName]] = [:]
        for n in try repo.listSegments(source: source) { bySegment[n.lineage, default: []].append(n) }
        var bases: [String: [SnapshotRecord]] = [:]
        for s in snapshots { if let p = s.manifest.replication { bases[p.lineage, default: []].append(s) } }
        return Set(bySegment.keys).union(bases.keys).sorted().map { id in
            // One copy of each sequence range (a resumed run may ship one twice, identical).
            var seen = Set<String>()
            let segs = (bySegment[id] ?? []).sorted().filter { seen.insert("\($0.firstSeq)-\($0.lastSeq)").inserted }
            return Lineage(id: id, bases: (bases[id] ?? []).sorted { ($0.manifest.replication?.seq ?? 0) < ($1.manifest.replication?.seq ?? 0) }, segments: segs)
        }
    }

    public static func build(_ repo: Repository, source: String) throws -> ReplicationTimeline {
        let snapshots = try repo.listSnapshots(source: source)
        var ranges: [Range] = []
        var gaps: [Gap] = []
        for l in try lineages(repo, source: source, snapshots: snapshots) {
            guard let first = l.bases.first, let firstSeq = first.manifest.replication?.seq else { continue }
            var expect = firstSeq
            var from = first.manifest.timeMs, to = first.manifest.timeMs
            var count = 0
            var start = firstSeq
            func close() {
                ranges.append(Range(lineage: l.id, fromSeq: start, toSeq: expect, from: RFC3339.format(Date(unixMilliseconds: from), fractional: true),
                                    to: RFC3339.format(Date(unixMilliseconds: to), fractional: true), segments: count,
                                    snapshots: l.bases.filter { ($0.manifest.replication?.seq ?? 0) >= start && ($0.manifest.replication?.seq ?? 0) <= expect }.count))
            }
            for n in l.segments where n.lastSeq > expect {
                if n.firstSeq > expect + 1 {
                    close()
                    gaps.append(Gap(lineage: l.id, missingFrom: expect + 1, missingTo: n.firstSeq - 1,
                                    after: RFC3339.format(Date(unixMilliseconds: to), fractional: true),
                                    before: RFC3339.format(Date(unixMilliseconds: n.firstTimeMs), fractional: true)))
                    // Past a gap only a later snapshot of the lineage restores again.
                    guard let next = l.bases.first(where: { ($0.manifest.replication?.seq ?? 0) >= n.firstSeq - 1 }), let s = next.manifest.replication?.seq else { break }
                    start = s; expect = s; from = next.manifest.timeMs; to = from; count = 0
                    if n.lastSeq <= expect { continue }
                }
                expect = n.lastSeq
                to = n.lastTimeMs
                count += 1
            }
            close()
        }
        return ReplicationTimeline(source: source, ranges: ranges, gaps: gaps, plainSnapshots: snapshots.filter { $0.manifest.replication == nil }.count)
    }

    /// How to restore the state at `time` (nil: the newest): from the snapshot and segments
    /// reaching closest to it. Throws when a gap stands between the best start and `time`.
    package static func plan(_ repo: Repository, source: String, at time: Date?) throws -> Plan? {
        let snapshots = try repo.listSnapshots(source: source)
        let limit = time?.unixMilliseconds ?? .max
        var best: Plan?
        func consider(_ p: Plan) {
            guard let b = best else { best = p; return }
            if p.reachMs > b.reachMs || (p.reachMs == b.reachMs && p.segments.count < b.segments.count) { best = p }
        }
        if let plain = snapshots.last(where: { $0.manifest.timeMs <= limit }) {
            consider(Plan(base: plain, segments: [], until: time, reachMs: plain.manifest.timeMs, gap: nil))
        }
        for l in try lineages(repo, source: source, snapshots: snapshots) {
            guard let base = l.bases.last(where: { $0.manifest.timeMs <= limit }), let baseSeq = base.manifest.replication?.seq else { continue }
            var expect = baseSeq
            var reach = base.manifest.timeMs
            var needed: [SegmentName] = []
            var gap: Gap?
            for n in l.segments where n.lastSeq > expect {
                if n.firstTimeMs > limit { break }
                if n.firstSeq > expect + 1 {
                    gap = Gap(lineage: l.id, missingFrom: expect + 1, missingTo: n.firstSeq - 1,
                              after: RFC3339.format(Date(unixMilliseconds: reach), fractional: true),
                              before: RFC3339.format(Date(unixMilliseconds: n.firstTimeMs), fractional: true))
                    break
                }
                needed.append(n)
                expect = n.lastSeq
                reach = min(n.lastTimeMs, limit)
            }
            consider(Plan(base: base, segments: needed, until: time, reachMs: reach, gap: gap))
        }
        if let b = best, let gap = b.gap {
            throw LifeboatError(.incomplete, "transactions \(gap.missingFrom)–\(gap.missingTo) of source '\(source)' (lineage \(gap.lineage)) are missing from the repository, between \(gap.after) and \(gap.before): the newest state restorable before the gap is at \(gap.after); restore with --at \(gap.after), or run 'lifeboat sync' from a replica that holds them")
        }
        return best
    }
}
