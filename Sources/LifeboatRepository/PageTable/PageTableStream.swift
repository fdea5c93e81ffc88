import LifeboatCore
import LifeboatStorage

/// How a new snapshot's page table is stored.
package enum TablePlan {
    /// Fresh leaves (only changed ones are new blobs), listed by a new root.
    case newBase(leaves: [BlobID])
    /// The parent's base root, and the pages that differ from it.
    case delta(root: BlobID, entries: [(page: UInt32, id: BlobID)])

    package var isNewBase: Bool { if case .newBase = self { return true } else { return false } }
    package var deltaCount: Int { if case .delta(_, let e) = self { return e.count } else { return 0 } }
}

/// Builds a snapshot's page table from its page ids as they are captured, in page order,
/// holding one leaf's worth of ids at a time instead of one id for every page (16 bytes a
/// page: 16 MiB at 4 GiB).
///
/// Against a parent of the same key generation it keeps a delta: each completed leaf is
/// compared with the parent's leaf for the same pages (equal leaf ids: unchanged, not even
/// read), and the pages that differ are recorded. When the delta passes 1/8 of the table a
/// new base is cheaper: the leaves already passed are rebuilt from the parent's leaves plus the
/// delta, and every later leaf is stored as it completes. Leaves are content-addressed, so
/// unchanged ones are shared with earlier bases.
package final class PageTableStream {
    /// A delta may hold at most this share of the table before a new base is cheaper to keep.
    package static func deltaLimit(pageCount: Int) -> Int { max(64, pageCount / 8) }

    private let fanout: Int
    private let pageCount: Int
    private let hasher: KeyedHash
    private let digest: KeyedHash.Stream
    private let readLeaves: ([BlobID]) throws -> [[UInt8]]
    private let storeLeaf: ([UInt8]) throws -> BlobID

    private let parent: (id: BlobID, root: PageTableFormat.Root)?
    private var entries: [(page: UInt32, id: BlobID)] = []
    private var leaves: [BlobID] = []
    private var delta: Bool
    /// The ids of the leaf being filled, and the page its first id is for.
    private var window: [BlobID] = []
    private var windowStart = 0
    /// Parent leaves read ahead, 64 at a time (one round trip each on a network store).
    private var parentLeaves: [Int: [BlobID]] = [:]

    /// `parent`: the parent's base root (nil: a new base from the start). `readLeaves` reads
    /// leaf blobs by id, `storeLeaf` stores one and returns its id.
    package init(pageCount: Int, fanout: Int, hasher: KeyedHash, parent: (id: BlobID, root: PageTableFormat.Root)?,
         readLeaves: @escaping ([BlobID]) throws -> [[UInt8]], storeLeaf: @escaping ([UInt8]) throws -> BlobID) throws {
        self.pageCount = pageCount
        self.fanout = max(1, fanout)
        self.hasher = hasher
        self.readLeaves = readLeaves
        self.storeLeaf = storeLeaf
        digest = try hasher.stream()
        self.parent = parent.flatMap { $0.root.fanout == fanout ? $0 : nil }
        delta = self.parent != nil
        window.reserveCapacity(self.fanout)
    }

    /// The next ids, in page order.
    package func append(_ ids: UnsafeBufferPointer<BlobID>) throws {
        digest.update(UnsafeRawBufferPointer(ids))
        var rest = ids[...]
        while !rest.isEmpty {
            let take = min(rest.count, fanout - window.count)
            window.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            if window.count == fanout { try completeLeaf() }
        }
    }

    /// The table, and the HMAC of all page ids (the manifest's image digest).
    package func finish() throws -> (plan: TablePlan, digest: [UInt8]) {
        if !window.isEmpty { try completeLeaf() }
        let mac = digest.finish()
        if delta, let parent {
            return (.delta(root: parent.id, entries: entries), mac)
        }
        return (.newBase(leaves: leaves), mac)
    }

    private func completeLeaf() throws {
        let start = windowStart
        defer {
            windowStart += window.count
            window.removeAll(keepingCapacity: true)
        }
        if delta, let parent {
            try compare(start: start, with: parent.root)
            if entries.count > Self.deltaLimit(pageCount: pageCount) { try switchToBase(upTo: start, parent: parent.root) }
        }
        if !delta { leaves.append(try storeLeaf(window.withUnsafeBytes { Array($0) })) }
    }

    /// Records the pages of the window that differ from the parent's.
    private func compare(start: Int, with root: PageTableFormat.Root) throws {
        let k = start / fanout
        // Pages the parent did not have are new entries.
        let parentEnd = k < root.leaves.count ? min(start + fanout, root.pageCount) : start
        if parentEnd == start + window.count, window.withUnsafeBytes({ hasher.id($0) }) == root.leaves[k] { return }
        if parentEnd > start {
            let base = try parentLeaf(k, root: root)
            for i in 0..<min(window.count, parentEnd - start) where window[i] != base[i] {
                entries.append((UInt32(start + i), window[i]))
            }
        }
        if start + window.count > parentEnd {
            for i in max(0, parentEnd - start)..<window.count { entries.append((UInt32(start + i), window[i])) }
        }
    }

    /// The delta outgrew its limit: the leaves before `end` are stored as the parent's leaves
    /// with the delta applied, and the stream goes on as a new base.
    private func switchToBase(upTo end: Int, parent root: PageTableFormat.Root) throws {
        delta = false
        var e = 0
        for k in 0..<(end / fanout) {
            let start = k * fanout
            // Every leaf before `end` is full, and the parent had all of its pages or some.
            var ids = start < root.pageCount ? Array(try parentLeaf(k, root: root).prefix(fanout)) : []
            let have = ids.count
            if have < fanout { ids.append(contentsOf: repeatElement(BlobID.zero, count: fanout - have)) }
            // Pages past the parent's are all in the delta (as growth); checked, not assumed.
            var grown = 0
            while e < entries.count, Int(entries[e].page) < start + fanout {
                let i = Int(entries[e].page) - start
                ids[i] = entries[e].id
                if i >= have { grown += 1 }
                e += 1
            }
            guard grown == fanout - have else {
                throw LifeboatError(.internalError, "page table rebuild found pages \(start + 1)–\(start + fanout) incomplete")
            }
            leaves.append(try storeLeaf(ids.withUnsafeBytes { Array($0) }))
        }
        entries = []
        parentLeaves = [:]
    }

    /// Parent leaf `k`, read with the next 63 when it is not at hand; leaves behind are dropped.
    private func parentLeaf(_ k: Int, root: PageTableFormat.Root) throws -> [BlobID] {
        if let leaf = parentLeaves[k] { return leaf }
        parentLeaves = [:]
        let group = k..<min(root.leaves.count, k + 64)
        let blobs = try readLeaves(Array(root.leaves[group]))
        for (j, blob) in zip(group, blobs) {
            let start = j * fanout
            parentLeaves[j] = try PageTableFormat.decodeLeaf(blob, expectedCount: min(start + fanout, root.pageCount) - start)
        }
        guard let leaf = parentLeaves[k] else { throw LifeboatError(.corrupt, "the parent snapshot's page table has no leaf \(k)") }
        return leaf
    }
}
