/// Collects every blob the snapshots of a repository need: table roots, leaves and deltas,
/// and the pages each snapshot's image is made of — its base pages *as overridden by its
/// delta*. A page a delta replaced is not needed by that snapshot even though its base still
/// lists the old id: that is how a deleted row leaves the repository once the snapshots that
/// held it are forgotten, although later snapshots share their base.
/// Roots and leaves are decoded once however many snapshots share them. Any snapshot that
/// cannot be read stops the collection: what it needs is unknown, and guessing would delete data.
struct ReferenceCollector {
    let repo: Repository
    let index: BlobIndex
    let codec: BlobCodec

    func collect(_ records: [SnapshotRecord], progress: ((Int) -> Void)? = nil) throws -> Set<BlobID> {
        var used = Set<BlobID>()
        var roots: [BlobID: PageTableFormat.Root] = [:]
        var leaves: [BlobID: [BlobID]] = [:]
        func blob(_ id: BlobID, _ r: SnapshotRecord) throws -> [UInt8] {
            guard index.contains(id) else { throw Self.missing(id, r) }
            used.insert(id)
            return try repo.readBlob(id, index: index, codec: codec)
        }
        for (n, r) in records.enumerated() {
            let m = r.manifest
            guard let rootID = BlobID(hex: m.tableRoot), let deltaID = m.tableDelta.map({ BlobID(hex: $0) }) ?? .some(nil) else {
                throw LifeboatError(.corrupt, "snapshot \(r.shortID) has a malformed table reference; prune refuses to run on a damaged repository: run 'lifeboat check'")
            }
            let root: PageTableFormat.Root
            if let cached = roots[rootID] { root = cached } else {
                root = try PageTableFormat.decodeRoot(try blob(rootID, r))
                roots[rootID] = root
            }
            var ids = [BlobID]()
            ids.reserveCapacity(m.pageCount)
            for (k, leafID) in root.leaves.enumerated() {
                let start = k * root.fanout
                if start >= m.pageCount { break }
                if leaves[leafID] == nil {
                    leaves[leafID] = try PageTableFormat.decodeLeaf(try blob(leafID, r), expectedCount: min(root.fanout, root.pageCount - start))
                }
                ids.append(contentsOf: (leaves[leafID] ?? []).prefix(m.pageCount - start))
            }
            var isSet = [Bool](repeating: true, count: ids.count)
            if ids.count < m.pageCount {
                isSet += [Bool](repeating: false, count: m.pageCount - ids.count)
                ids += [BlobID](repeating: .zero, count: m.pageCount - ids.count)
            }
            if let deltaID {
                for e in try PageTableFormat.decodeDelta(try blob(deltaID, r), pageCount: m.pageCount) {
                    ids[Int(e.page)] = e.id
                    isSet[Int(e.page)] = true
                }
            }
            guard !isSet.contains(false) else {
                throw LifeboatError(.corrupt, "snapshot \(r.shortID) has a page table that does not cover every page; prune refuses to run on a damaged repository: run 'lifeboat check'")
            }
            // The same check restore makes: the table is the image the manifest describes.
            let digest = ids.withUnsafeBytes { codec.hasher.mac(Array($0)) }
            guard Hex.encode(digest) == m.imageDigest else {
                throw LifeboatError(.corrupt, "snapshot \(r.shortID) has a page table that does not match its image digest; prune refuses to run on a damaged repository: run 'lifeboat check'")
            }
            for id in ids {
                guard index.contains(id) else { throw Self.missing(id, r) }
                used.insert(id)
            }
            progress?(n + 1)
        }
        return used
    }

    static func missing(_ id: BlobID, _ r: SnapshotRecord) -> LifeboatError {
        LifeboatError(.corrupt, "snapshot \(r.shortID) needs blob \(id.hex.prefix(16)), which no index lists; prune refuses to run on a damaged repository: run 'lifeboat check'")
    }
}
