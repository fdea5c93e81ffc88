/// Collects every blob the snapshots of a repository need: table roots, leaves, deltas and
/// pages. Bases and leaves are shared between snapshots, so each is read once.
/// Any snapshot that cannot be read stops it: what such a snapshot needs is unknown, and
/// guessing would delete data.
struct ReferenceCollector {
    let repo: Repository
    let index: BlobIndex
    let codec: BlobCodec

    func collect(_ records: [SnapshotRecord], progress: ((Int) -> Void)? = nil) throws -> Set<BlobID> {
        var used = Set<BlobID>()
        var rootsDone = Set<BlobID>()
        var leavesDone = Set<BlobID>()
        func need(_ id: BlobID, _ r: SnapshotRecord) throws {
            guard index.contains(id) else {
                throw LifeboatError(.corrupt, "snapshot \(r.shortID) needs blob \(id.hex.prefix(16)), which no index lists; prune refuses to run on a damaged repository: run 'lifeboat check'")
            }
            used.insert(id)
        }
        for (n, r) in records.enumerated() {
            let m = r.manifest
            guard let rootID = BlobID(hex: m.tableRoot) else {
                throw LifeboatError(.corrupt, "snapshot \(r.shortID) has a malformed table reference; run 'lifeboat check'")
            }
            try need(rootID, r)
            if rootsDone.insert(rootID).inserted {
                let root = try PageTableFormat.decodeRoot(try repo.readBlob(rootID, index: index, codec: codec))
                for (k, leafID) in root.leaves.enumerated() {
                    try need(leafID, r)
                    guard leavesDone.insert(leafID).inserted else { continue }
                    let count = min(root.fanout, root.pageCount - k * root.fanout)
                    for id in try PageTableFormat.decodeLeaf(try repo.readBlob(leafID, index: index, codec: codec), expectedCount: count) {
                        try need(id, r)
                    }
                }
            }
            if let deltaHex = m.tableDelta {
                guard let deltaID = BlobID(hex: deltaHex) else {
                    throw LifeboatError(.corrupt, "snapshot \(r.shortID) has a malformed delta reference; run 'lifeboat check'")
                }
                try need(deltaID, r)
                for e in try PageTableFormat.decodeDelta(try repo.readBlob(deltaID, index: index, codec: codec), pageCount: m.pageCount) {
                    try need(e.id, r)
                }
            }
            progress?(n + 1)
        }
        return used
    }
}
