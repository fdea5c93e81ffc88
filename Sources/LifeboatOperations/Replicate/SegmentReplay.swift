import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Replays a lineage's shipped transactions over a restored snapshot image, in order, up to
/// a time: each transaction's pages are written where they belong and the file is cut to the
/// size its commit left. Segments are fetched and opened several at a time, applied one by one;
/// every sequence number must follow the one before, so a missing transaction stops the
/// restore rather than leaving a hole.
package struct SegmentReplay {
    package struct Outcome: Sendable {
        var transactions = 0
        var segments = 0
        var lastTimeMs: Int64?
        var lastSeq: UInt64 = 0
        var pageCount: Int
    }

    let repo: Repository
    let source: String
    let plan: ReplicationTimeline.Plan

    package func apply(fd: Int32, path: String, pageSize: Int) throws -> Outcome {
        guard let point = plan.base.manifest.replication else { return Outcome(pageCount: plan.base.manifest.pageCount) }
        var out = Outcome(pageCount: plan.base.manifest.pageCount)
        var expect = point.seq
        let limit = plan.until?.unixMilliseconds ?? .max
        let batch = max(4, 2 * repo.backend.preferredConcurrency)
        var start = 0
        replay: while start < plan.segments.count {
            let names = Array(plan.segments[start..<min(start + batch, plan.segments.count)])
            start += names.count
            let loaded = Locked<[Int: Result<Segment, Error>]>([:])
            try Parallel.forEach(count: names.count, workers: batch) { _, i in
                let r = Result { try repo.loadSegment(names[i], source: source) }
                loaded.withLock { $0[i] = r }
            }
            let segments = loaded.current
            for i in names.indices {
                guard let r = segments[i] else { continue }
                let segment = try r.get()
                guard segment.pageSize == pageSize else {
                    throw LifeboatError(.corrupt, "segment \(names[i].firstSeq)-\(names[i].lastSeq) of '\(source)' has pages of \(segment.pageSize) bytes, the snapshot \(pageSize)")
                }
                out.segments += 1
                // A compacted entry may start at or before `expect` (the snapshot's point lies
                // inside it): replaying all of it still gives the state after its last one.
                for t in segment.transactions where t.lastSeq > expect {
                    if t.timeMs > limit { break replay }
                    guard t.seq <= expect + 1 else {
                        throw LifeboatError(.incomplete, "transaction \(expect + 1) of source '\(source)' is missing from the repository (segment \(names[i].firstSeq)-\(names[i].lastSeq) follows \(segment.follows)); restore to a time before \(RFC3339.format(Date(unixMilliseconds: out.lastTimeMs ?? plan.base.manifest.timeMs)))")
                    }
                    try t.data.withUnsafeBytes { raw in
                        // Runs of consecutive pages go in one write.
                        var k = 0
                        while k < t.pages.count {
                            var e = k + 1
                            while e < t.pages.count && t.pages[e] == t.pages[e - 1] + 1 { e += 1 }
                            let chunk = UnsafeRawBufferPointer(rebasing: raw[(k * pageSize)..<(e * pageSize)])
                            try FileIO.pwriteAll(fd: fd, chunk, offset: Int(t.pages[k] - 1) * pageSize, path: path)
                            k = e
                        }
                    }
                    out.pageCount = Int(t.databasePages)
                    out.transactions += 1
                    out.lastTimeMs = t.timeMs
                    out.lastSeq = t.lastSeq
                    expect = t.lastSeq
                }
            }
        }
        if out.transactions > 0 && ftruncate(fd, off_t(out.pageCount * pageSize)) != 0 {
            throw LifeboatError.posix(errno, "cannot set the size of", path: path)
        }
        return out
    }
}
