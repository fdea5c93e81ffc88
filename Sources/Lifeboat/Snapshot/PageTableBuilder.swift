/// How a new snapshot's page table is stored.
enum TablePlan {
    /// Write fresh leaves (only changed ones are new blobs) and a root.
    case newBase
    /// Reuse the parent's base root; store the pages that differ from it.
    case delta(root: BlobID, entries: [(page: UInt32, id: BlobID)])

    var isNewBase: Bool { if case .newBase = self { return true } else { return false } }
    var deltaCount: Int { if case .delta(_, let e) = self { return e.count } else { return 0 } }
}

/// Decides between a delta and a new base, comparing the captured page ids with the parent's
/// base table. Leaves whose id equals the id of the same slice of the current table are
/// unchanged and are not even read.
struct PageTableBuilder {
    let repo: Repository
    let index: BlobIndex
    let codec: BlobCodec

    /// A delta may hold at most this share of the table before a new base is cheaper to keep.
    static func deltaLimit(pageCount: Int) -> Int { max(64, pageCount / 8) }

    func plan(current: [BlobID], pageSize: Int, fanout: Int, parent: Manifest?) throws -> TablePlan {
        guard let parent, parent.pageSize == pageSize, let rootID = BlobID(hex: parent.tableRoot) else { return .newBase }
        let root = try PageTableFormat.decodeRoot(try repo.readBlob(rootID, index: index, codec: codec))
        guard root.fanout == fanout, root.pageSize == pageSize else { return .newBase }
        let limit = Self.deltaLimit(pageCount: current.count)
        var entries: [(page: UInt32, id: BlobID)] = []
        // The leaves that differ from the same slice of the current table.
        var changed: [Int] = []
        for (k, leafID) in root.leaves.enumerated() {
            let start = k * fanout
            if start >= current.count { break }
            let end = min(start + fanout, root.pageCount)
            if min(end, current.count) == end, current[start..<end].withUnsafeBytes({ codec.hasher.id($0) }) == leafID { continue }
            changed.append(k)
        }
        // Read 64 at a time (in parallel on network stores), compared in order.
        for group in stride(from: 0, to: changed.count, by: 64) {
            let ks = changed[group..<min(changed.count, group + 64)]
            let blobs = try repo.readBlobs(ks.map { root.leaves[$0] }, index: index, keys: codec.keys)
            for (k, blob) in zip(ks, blobs) {
                let start = k * fanout
                let end = min(start + fanout, root.pageCount)
                let base = try PageTableFormat.decodeLeaf(blob, expectedCount: end - start)
                for p in start..<min(end, current.count) where current[p] != base[p - start] {
                    entries.append((UInt32(p), current[p]))
                }
                if entries.count > limit { return .newBase }
            }
        }
        if root.pageCount < current.count {
            for p in root.pageCount..<current.count { entries.append((UInt32(p), current[p])) }
        }
        return entries.count > limit ? .newBase : .delta(root: rootID, entries: entries)
    }
}
