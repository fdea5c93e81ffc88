import Foundation

/// Which blob ids the repository holds, for a snapshot's dedup, in memory that hardly grows
/// with the repository. A hash set of every id cost 21–24 bytes a stored page (24 MiB for a
/// 4 GiB database, more for every database a repository keeps); here:
/// - the ids added last, up to `inMemory` of them, are in an exact hash set;
/// - the others are spilled, sorted, to unlinked temporary files (16 bytes an id on disk, see
///   SortedIDRun), merged into one when there are `maxRuns`;
/// - a Bloom filter over every id (12 bits an id) answers at once for most ids the repository
///   lacks, the common question; a "maybe" is settled by one 4 KiB read a run.
/// Answers are exact: an id is reported held only if it was added, never on a Bloom "maybe".
///
/// `contains` may be called from several threads at once, but not while `insert` runs.
final class KnownBlobs: @unchecked Sendable {
    private var recent: BlobIDSet
    private let inMemory: Int
    private let maxRuns: Int
    private var runs: [SortedIDRun] = []
    private var bloom: BlobBloomFilter
    private let directory: String
    /// Ids added (one added again after its spill counts twice).
    private(set) var count = 0

    /// `expected`: about how many ids will be added (sizes the Bloom filter; it is rebuilt
    /// larger if outgrown). `directory`: where spill files are made (TMPDIR by default).
    init(expected: Int, inMemory: Int = 1 << 16, maxRuns: Int = 8, directory: String = KnownBlobs.defaultDirectory) {
        self.inMemory = max(16, inMemory)
        self.maxRuns = max(2, maxRuns)
        recent = BlobIDSet(capacity: self.inMemory + 64)
        bloom = BlobBloomFilter(planned: expected)
        self.directory = directory
    }

    static var defaultDirectory: String {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"] ?? ""
        return tmp.isEmpty ? "/tmp" : tmp
    }

    /// Ids on disk, in how many runs (for tests and reports).
    var spilled: (ids: Int, runs: Int) { (runs.reduce(0) { $0 + $1.count }, runs.count) }

    func contains(_ id: BlobID) throws -> Bool {
        if recent.contains(id) { return true }
        guard !runs.isEmpty, bloom.mayContain(id) else { return false }
        for run in runs.reversed() where try run.contains(id) { return true }
        return false
    }

    func insert(_ id: BlobID) throws {
        let before = recent.count
        recent.insert(id)
        guard recent.count > before else { return }
        bloom.add(id)
        count += 1
        if recent.count >= inMemory { try spill() }
    }

    /// The in-memory ids, sorted, become a run on disk.
    private func spill() throws {
        var ids = [BlobID]()
        ids.reserveCapacity(recent.count)
        recent.forEach { ids.append($0) }
        ids.sort()
        var writer = try SortedIDRun.Writer(directory: directory)
        do {
            for id in ids { try writer.append(id) }
            runs.append(try writer.finish())
        } catch {
            writer.abandon()
            throw error
        }
        recent.removeAll()
        if runs.count >= maxRuns { try merge() }
    }

    /// All runs become one (repeats dropped); the Bloom filter is rebuilt larger if outgrown.
    private func merge() throws {
        let total = runs.reduce(0) { $0 + $1.count } + recent.count
        var rebuilt: BlobBloomFilter? = total > bloom.planned ? BlobBloomFilter(planned: total * 2) : nil
        var cursors = try runs.map { try SortedIDRun.Cursor($0) }
        var writer = try SortedIDRun.Writer(directory: directory)
        do {
            while true {
                var best = -1
                var lowest = BlobID.zero
                for (i, c) in cursors.enumerated() {
                    if let id = c.current, best < 0 || id < lowest { best = i; lowest = id }
                }
                guard best >= 0 else { break }
                try writer.append(lowest)
                rebuilt?.add(lowest)
                try cursors[best].advance()
            }
            runs = [try writer.finish()]
        } catch {
            writer.abandon()
            throw error
        }
        if var rebuilt {
            recent.forEach { rebuilt.add($0) }
            bloom = rebuilt
        }
    }
}
