import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Collects every blob the snapshots of a repository need: table roots, leaves and deltas,
/// and the pages each snapshot's image is made of — its base pages *as overridden by its
/// delta*. A page a delta replaced is not needed by that snapshot even though its base still
/// lists the old id: that is how a deleted row leaves the repository once the snapshots that
/// held it are forgotten, although later snapshots share their base.
/// Each snapshot is read with the keys of its manifest's generation (after `key rotate`, old
/// and new snapshots coexist), and each needed blob is returned with that generation, so prune
/// can repack it under the same key.
/// Roots and leaves are decoded once however many snapshots share them. Any snapshot that
/// cannot be read stops the collection: what it needs is unknown, and guessing would delete data.
package struct ReferenceCollector {
    package let repo: Repository
    package let index: BlobIndex

    /// Every needed blob, with the key (generation or source key) it is sealed with.
    package func collect(_ records: [SnapshotRecord], progress: ((Int) -> Void)? = nil) throws -> [BlobID: KeyTag] {
        var used: [BlobID: KeyTag] = [:]
        var roots: [BlobID: PageTableFormat.Root] = [:]
        var leaves: [BlobID: [BlobID]] = [:]
        var codecs: [KeyTag: BlobCodec] = [:]
        var generation = KeyTag(generation: 0, sourceKey: nil)
        // Ids are keyed hashes, so one blob cannot belong to two generations; if a table says
        // otherwise, the repository is damaged or forged.
        func need(_ id: BlobID, _ r: SnapshotRecord) throws {
            guard index.contains(id) else { throw Self.missing(id, r) }
            if let g = used.updateValue(generation, forKey: id), g != generation {
                throw LifeboatError(.corrupt, "snapshot \(r.shortID) (\(Self.describe(generation))) needs blob \(id.hex.prefix(16)) of \(Self.describe(g)); prune refuses to run on a damaged repository: run 'lifeboat check'")
            }
        }
        func blob(_ id: BlobID, _ r: SnapshotRecord, _ codec: BlobCodec) throws -> [UInt8] {
            try need(id, r)
            return try repo.readBlob(id, index: index, codec: codec)
        }
        for (n, r) in records.enumerated() {
            let m = r.manifest
            generation = m.keyTag
            let codec: BlobCodec
            if let cached = codecs[generation] { codec = cached } else {
                codec = try BlobCodec(keys: repo.keys(for: m))
                codecs[generation] = codec
            }
            guard let rootID = BlobID(hex: m.tableRoot), let deltaID = m.tableDelta.map({ BlobID(hex: $0) }) ?? .some(nil) else {
                throw LifeboatError(.corrupt, "snapshot \(r.shortID) has a malformed table reference; prune refuses to run on a damaged repository: run 'lifeboat check'")
            }
            let root: PageTableFormat.Root
            if let cached = roots[rootID] { root = cached; try need(rootID, r) } else {
                root = try PageTableFormat.decodeRoot(try blob(rootID, r, codec))
                roots[rootID] = root
            }
            var ids = [BlobID]()
            ids.reserveCapacity(m.pageCount)
            for (k, leafID) in root.leaves.enumerated() {
                let start = k * root.fanout
                if start >= m.pageCount { break }
                if leaves[leafID] == nil {
                    leaves[leafID] = try PageTableFormat.decodeLeaf(try blob(leafID, r, codec), expectedCount: min(root.fanout, root.pageCount - start))
                } else {
                    try need(leafID, r)
                }
                ids.append(contentsOf: (leaves[leafID] ?? []).prefix(m.pageCount - start))
            }
            var isSet = [Bool](repeating: true, count: ids.count)
            if ids.count < m.pageCount {
                isSet += [Bool](repeating: false, count: m.pageCount - ids.count)
                ids += [BlobID](repeating: .zero, count: m.pageCount - ids.count)
            }
            if let deltaID {
                for e in try PageTableFormat.decodeDelta(try blob(deltaID, r, codec), pageCount: m.pageCount) {
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
            for id in ids { try need(id, r) }
            progress?(n + 1)
        }
        return used
    }

    package static func describe(_ t: KeyTag) -> String {
        t.sourceKey.map { "source key \($0.prefix(8))" } ?? "key generation \(t.generation)"
    }

    package static func missing(_ id: BlobID, _ r: SnapshotRecord) -> LifeboatError {
        LifeboatError(.corrupt, "snapshot \(r.shortID) needs blob \(id.hex.prefix(16)), which no index lists; prune refuses to run on a damaged repository: run 'lifeboat check'")
    }
}
