/// Rebuilds the full list of page ids of a snapshot from its base and delta, and checks it
/// against the manifest's image digest.
struct PageTableReader {
    let repo: Repository
    let index: BlobIndex
    let codec: BlobCodec

    func pageIDs(of m: Manifest) throws -> [BlobID] {
        guard let rootID = BlobID(hex: m.tableRoot) else { throw LifeboatError(.corrupt, "snapshot manifest has a malformed table reference") }
        let root = try PageTableFormat.decodeRoot(try repo.readBlob(rootID, index: index, codec: codec))
        guard root.pageSize == m.pageSize else { throw LifeboatError(.corrupt, "snapshot page table does not match its manifest") }
        var ids = [BlobID]()
        ids.reserveCapacity(m.pageCount)
        // Leaves are fetched 64 at a time (in parallel on network stores) and decoded in order.
        let needed = min(root.leaves.count, (m.pageCount + root.fanout - 1) / max(1, root.fanout))
        for group in stride(from: 0, to: needed, by: 64) {
            let blobs = try repo.readBlobs(root.leaves[group..<min(needed, group + 64)], index: index, keys: codec.keys)
            for (j, blob) in blobs.enumerated() {
                let start = (group + j) * root.fanout
                let end = min(start + root.fanout, root.pageCount)
                let leaf = try PageTableFormat.decodeLeaf(blob, expectedCount: end - start)
                ids.append(contentsOf: leaf.prefix(m.pageCount - start))
            }
        }
        let fromBase = ids.count
        if fromBase < m.pageCount { ids.append(contentsOf: repeatElement(BlobID.zero, count: m.pageCount - fromBase)) }
        var covered = fromBase
        if let deltaHex = m.tableDelta {
            guard let deltaID = BlobID(hex: deltaHex) else { throw LifeboatError(.corrupt, "snapshot manifest has a malformed delta reference") }
            let delta = try PageTableFormat.decodeDelta(try repo.readBlob(deltaID, index: index, codec: codec), pageCount: m.pageCount)
            guard delta.count == m.deltaCount else { throw LifeboatError(.corrupt, "snapshot delta does not match its manifest") }
            for e in delta {
                ids[Int(e.page)] = e.id
                if Int(e.page) == covered { covered += 1 }
            }
        }
        guard covered >= m.pageCount else { throw LifeboatError(.corrupt, "snapshot page table does not cover every page") }
        let digest = ids.withUnsafeBytes { codec.hasher.mac(Array($0)) }
        guard Hex.encode(digest) == m.imageDigest else {
            throw LifeboatError(.corrupt, "snapshot page table does not match the image digest in its manifest")
        }
        return ids
    }
}
