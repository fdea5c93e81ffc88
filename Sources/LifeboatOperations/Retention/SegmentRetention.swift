import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// What prune does with `replicate`'s segments: deletes those no kept snapshot can replay
/// (they end at or before the oldest kept snapshot of their lineage, or their lineage has no
/// kept snapshot, or their source has none), and compacts older ones: the segments of a lineage
/// within one `window` (default an hour), once older than `compactAfter`, become one segment of
/// one entry holding the newest image of every page they wrote. A restore can then reach the
/// end of that hour, no longer each transaction inside it; storage drops to about the pages
/// the hour changed. New segments first, then the old ones deleted: a kill in between leaves
/// both, and restores use either.
package struct SegmentRetention {
    package struct Outcome: Sendable {
        var deleted = 0
        var compacted = 0
        var written = 0
        var bytesDeleted = 0
        var bytesWritten = 0
        var retainedUntil: [Date] = []
    }

    let repo: Repository
    /// The snapshots prune keeps (all of them: forget already removed the others).
    let records: [SnapshotRecord]
    let compactAfter: TimeInterval?
    let window: TimeInterval
    let now: Date

    package func run(dryRun: Bool, delete: (ObjectKey) throws -> Date?) throws -> Outcome {
        var out = Outcome()
        let listed = try repo.backend.list(.segments)
        let sizes = Dictionary(listed.map { ($0.key.name, $0.size) }, uniquingKeysWith: { a, _ in a })
        let names = listed.compactMap { SegmentName($0.key.name) }
        guard !names.isEmpty else { return out }
        var sources: [String: String] = [:]
        for r in records { sources[try repo.segmentTag(source: r.manifest.source)] = r.manifest.source }
        // The oldest kept point of each lineage.
        var oldestBase: [String: UInt64] = [:]
        for r in records { if let p = r.manifest.replication { oldestBase[p.lineage] = min(oldestBase[p.lineage] ?? .max, p.seq) } }

        var doomed: [SegmentName] = []
        var keep: [String: [SegmentName]] = [:]
        for n in names {
            guard sources[n.sourceTag] != nil, let base = oldestBase[n.lineage], n.lastSeq > base else { doomed.append(n); continue }
            keep[n.lineage, default: []].append(n)
        }
        if let compactAfter, !dryRun {
            let cutoff = now.addingTimeInterval(-compactAfter).unixMilliseconds
            let windowMs = Int64(max(1, window) * 1000)
            for (_, list) in keep {
                let old = list.sorted().filter { $0.lastTimeMs < cutoff }
                var groups: [[SegmentName]] = []
                for n in old {
                    if let last = groups.last?.last, last.firstTimeMs / windowMs == n.firstTimeMs / windowMs, n.firstSeq == last.lastSeq + 1 {
                        groups[groups.count - 1].append(n)
                    } else {
                        groups.append([n])
                    }
                }
                for g in groups where g.count > 1 {
                    guard let source = sources[g[0].sourceTag] else { continue }
                    let merged = try merge(g, source: source)
                    let sealed = try repo.sealSegment(merged)
                    do { try repo.backend.put(sealed.key, sealed.bytes) } catch let e as LifeboatError where e.kind == .exists {}
                    out.written += 1
                    out.bytesWritten += sealed.bytes.count
                    out.compacted += g.count
                    doomed += g
                }
            }
        }
        for n in doomed {
            out.bytesDeleted += sizes[n.name] ?? 0
            if dryRun { out.deleted += 1; continue }
            if let until = try delete(n.key) { out.retainedUntil.append(until) } else { out.deleted += 1 }
        }
        return out
    }

    /// One segment of one entry: every page's newest image over the group, the last size.
    private func merge(_ group: [SegmentName], source: String) throws -> Segment {
        var pages: [UInt32: [UInt8]] = [:]
        var first: Segment?
        var last: Segment?
        var size: UInt32 = 0
        var span: UInt64 = 0
        for n in group {
            let s = try repo.loadSegment(n, source: source)
            if first == nil { first = s }
            for t in s.transactions {
                for (i, p) in t.pages.enumerated() { pages[p] = Array(t.data[(i * s.pageSize)..<((i + 1) * s.pageSize)]) }
                // Pages past a shrunken end are gone with it.
                if t.databasePages < size { pages = pages.filter { $0.key <= t.databasePages } }
                size = t.databasePages
                span += UInt64(t.span)
            }
            last = s
        }
        guard let first, let last, let end = last.transactions.last, span <= UInt64(UInt32.max) else {
            throw LifeboatError(.internalError, "nothing to compact")
        }
        let order = pages.keys.sorted()
        var data: [UInt8] = []
        data.reserveCapacity(order.count * first.pageSize)
        for p in order { data += pages[p] ?? [] }
        let entry = Segment.Transaction(seq: first.firstSeq, span: UInt32(span), timeMs: end.timeMs, databasePages: size, pages: order, data: data)
        return Segment(source: source, lineage: first.lineage, pageSize: first.pageSize, follows: first.follows, transactions: [entry], walEnd: last.walEnd)
    }
}
