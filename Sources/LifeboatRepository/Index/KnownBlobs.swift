import Foundation
import LifeboatCore
import LifeboatStorage

/// Which blob ids the repository holds, for a snapshot's dedup, in memory that hardly grows
/// with the repository. A hash set of every id cost 21–24 bytes a stored page (24 MiB for a
/// 4 GiB database, more for every database a repository keeps); here:
/// - the ids added last, up to `inMemory` of them, are in an exact hash set;
/// - the others are spilled, sorted, to unlinked temporary files (16 bytes an id on disk, see
///   SortedIDRun), merged so that each run is over three times the next (at most `maxRuns`);
/// - a Bloom filter over every id (12 bits an id) answers at once for most ids the repository
///   lacks, the common question; a "maybe" is settled by one 4 KiB read a run.
/// Answers are exact: an id is reported held only if it was added, never on a Bloom "maybe".
///
/// `contains` may be called from several threads at once, but not while `insert` runs.
// Unchecked: that phase discipline (no lock, for the per-page lookups) is the caller's to keep.
package final class KnownBlobs: @unchecked Sendable {
    private var recent: BlobIDSet
    private let inMemory: Int
    private let maxRuns: Int
    private var runs: [SortedIDRun] = []
    private var bloom: BlobBloomFilter
    private let directory: String
    /// Ids added (one added again after its spill counts twice).
    package private(set) var count = 0
    /// Ids seen in distrusted packs (damaged or missing): the parent-page shortcut must not
    /// take the Bloom filter's "maybe" for them, so they are looked up exactly.
    private var suspect = BlobIDSet(capacity: 16)
    /// Packs not trusted for dedup in this run, and those its own size check found that the
    /// damage ledger did not know yet (see PackTrust).
    package var distrustedPacks: [String: String] = [:]
    package var damageFound: [String: String] = [:]

    /// `expected`: about how many ids will be added (sizes the Bloom filter; it is rebuilt
    /// larger if outgrown). `directory`: where spill files are made (TMPDIR by default).
    package init(expected: Int, inMemory: Int = 1 << 16, maxRuns: Int = 12, directory: String = KnownBlobs.defaultDirectory) {
        self.inMemory = max(16, inMemory)
        self.maxRuns = max(2, maxRuns)
        recent = BlobIDSet(capacity: self.inMemory + 64)
        bloom = BlobBloomFilter(planned: expected)
        self.directory = directory
    }

    package static var defaultDirectory: String {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"] ?? ""
        return tmp.isEmpty ? "/tmp" : tmp
    }

    /// Ids on disk, in how many runs (for tests and reports).
    package var spilled: (ids: Int, runs: Int) { (runs.reduce(0) { $0 + $1.count }, runs.count) }

    package func contains(_ id: BlobID) throws -> Bool {
        if recent.contains(id) { return true }
        guard !runs.isEmpty, bloom.mayContain(id) else { return false }
        for run in runs.reversed() where try run.contains(id) { return true }
        return false
    }

    /// False only for an id certainly never added (the Bloom filter, no read): a cheap
    /// second opinion where the answer is expected to be yes.
    package func mayContain(_ id: BlobID) -> Bool { bloom.mayContain(id) && (suspect.count == 0 || !suspect.contains(id)) }

    /// An id held only by a distrusted pack, as far as this set knows (call before any lookup).
    package func distrust(_ id: BlobID) { suspect.insert(id) }

    package func insert(_ id: BlobID) throws {
        let before = recent.count
        recent.insert(id)
        guard recent.count > before else { return }
        bloom.add(id)
        count += 1
        if recent.count >= inMemory { try spill() }
    }

    /// The in-memory ids, sorted, become a run on disk; the newest runs are merged while the
    /// one before is at most three times the size of the last, so runs grow geometrically: a
    /// few runs to search, and each id rewritten a few times (log3 of the spills), not once
    /// every few spills.
    private func spill() throws {
        var ids = [BlobID]()
        ids.reserveCapacity(recent.count)
        recent.forEach { ids.append($0) }
        ids.sort()
        runs.append(try SortedIDRun.write(in: directory) { writer in
            for id in ids { try writer.append(id) }
        })
        recent.removeAll()
        while runs.count >= 2, runs[runs.count - 2].count <= 3 * runs[runs.count - 1].count || runs.count > maxRuns {
            let last = runs.removeLast(), before = runs.removeLast()
            runs.append(try merge([before, last]))
        }
        if count > bloom.planned { try rebuildBloom() }
    }

    /// Runs merged into one (repeats dropped).
    private func merge(_ parts: [SortedIDRun]) throws -> SortedIDRun {
        var cursors = try parts.map { try SortedIDRun.Cursor($0) }
        return try SortedIDRun.write(in: directory) { writer in
            while true {
                var best = -1
                var lowest = BlobID.zero
                for (i, c) in cursors.enumerated() {
                    if let id = c.current, best < 0 || id < lowest { best = i; lowest = id }
                }
                guard best >= 0 else { return }
                try writer.append(lowest)
                try cursors[best].advance()
            }
        }
    }

    /// More ids than the filter was planned for: a filter twice the size, from every id.
    private func rebuildBloom() throws {
        var rebuilt = BlobBloomFilter(planned: 2 * count)
        for run in runs {
            var cursor = try SortedIDRun.Cursor(run)
            while let id = cursor.current {
                rebuilt.add(id)
                try cursor.advance()
            }
        }
        recent.forEach { rebuilt.add($0) }
        bloom = rebuilt
    }
}
