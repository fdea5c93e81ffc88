import LifeboatCore
import LifeboatStorage

/// Rebuilds the full list of page ids of a snapshot from its base and delta, and checks it
/// against the manifest's image digest.
package struct PageTableReader {
    package let repo: Repository
    package let index: BlobIndex
    package let codec: BlobCodec

    package func pageIDs(of m: Manifest) throws -> [BlobID] {
        let cursor = try PageTableCursor(repo: repo, index: index, codec: codec, manifest: m)
        let ids = try cursor.next(m.pageCount)
        try cursor.verify()
        return ids
    }

    package init(repo: Repository, index: BlobIndex, codec: BlobCodec) {
        self.repo = repo
        self.index = index
        self.codec = codec
    }
}

/// A snapshot's page ids read in order, a range of pages at a time, so a restore holds the ids
/// of the pages it is restoring now, not of the whole database. The ids read so far are
/// hashed as they go; `verify()` after the last page compares the whole list with the
/// manifest's image digest.
package final class PageTableCursor {
    private let repo: Repository
    private let index: BlobIndex
    private let codec: BlobCodec
    private let pageCount: Int
    private let expectedDigest: String
    private let root: PageTableFormat.Root
    /// The delta's entries (sorted by page) and the next one not yet applied.
    private let delta: [(page: UInt32, id: BlobID)]
    private var nextEntry = 0
    private let digest: KeyedHash.Stream
    /// The next page to read.
    package private(set) var position = 0

    package init(repo: Repository, index: BlobIndex, codec: BlobCodec, manifest m: Manifest) throws {
        self.repo = repo
        self.index = index
        self.codec = codec
        pageCount = m.pageCount
        expectedDigest = m.imageDigest
        guard let rootID = BlobID(hex: m.tableRoot) else { throw LifeboatError(.corrupt, "snapshot manifest has a malformed table reference") }
        root = try PageTableFormat.decodeRoot(try repo.readBlob(rootID, index: index, codec: codec))
        guard root.pageSize == m.pageSize else { throw LifeboatError(.corrupt, "snapshot page table does not match its manifest") }
        if let deltaHex = m.tableDelta {
            guard let deltaID = BlobID(hex: deltaHex) else { throw LifeboatError(.corrupt, "snapshot manifest has a malformed delta reference") }
            delta = try PageTableFormat.decodeDelta(try repo.readBlob(deltaID, index: index, codec: codec), pageCount: m.pageCount)
            guard delta.count == m.deltaCount else { throw LifeboatError(.corrupt, "snapshot delta does not match its manifest") }
        } else {
            delta = []
        }
        digest = try codec.hasher.stream()
    }

    /// The ids of the next `count` pages (fewer at the end of the table).
    package func next(_ count: Int) throws -> [BlobID] {
        let first = position, end = min(pageCount, position + max(0, count))
        var ids = [BlobID]()
        ids.reserveCapacity(end - first)
        // Leaves are fetched 64 at a time (in parallel on network stores) and decoded in order.
        let fanout = max(1, root.fanout)
        let fromBase = min(end, root.pageCount)
        if first < fromBase {
            let leaves = (first / fanout)...((fromBase - 1) / fanout)
            for group in stride(from: leaves.lowerBound, through: leaves.upperBound, by: 64) {
                let ks = group..<min(leaves.upperBound + 1, group + 64)
                let blobs = try repo.readBlobs(root.leaves[ks], index: index, keys: codec.keys)
                for (k, blob) in zip(ks, blobs) {
                    let start = k * fanout
                    let leaf = try PageTableFormat.decodeLeaf(blob, expectedCount: min(start + fanout, root.pageCount) - start)
                    ids.append(contentsOf: leaf[max(first, start) - start ..< min(fromBase, start + fanout) - start])
                }
            }
        }
        // Pages past the base (the database grew) must all be in the delta.
        var covered = max(first, fromBase)
        if covered < end { ids.append(contentsOf: repeatElement(BlobID.zero, count: end - covered)) }
        while nextEntry < delta.count, Int(delta[nextEntry].page) < end {
            let e = delta[nextEntry]
            nextEntry += 1
            guard Int(e.page) >= first else { continue }
            ids[Int(e.page) - first] = e.id
            if Int(e.page) == covered { covered += 1 }
        }
        guard covered >= end else { throw LifeboatError(.corrupt, "snapshot page table does not cover every page") }
        ids.withUnsafeBytes { digest.update($0) }
        position = end
        return ids
    }

    /// Compares every id read with the image digest (all pages must have been read).
    package func verify() throws {
        guard position == pageCount, Hex.encode(digest.finish()) == expectedDigest else {
            throw LifeboatError(.corrupt, "snapshot page table does not match the image digest in its manifest")
        }
    }
}
