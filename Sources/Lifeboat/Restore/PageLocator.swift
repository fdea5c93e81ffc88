/// Finds where each page of a snapshot is stored without building the repository's whole
/// index: at about 50 bytes a blob, that index was the largest thing a restore held, and it
/// grows with everything the repository keeps, not with the snapshot restored.
///
/// Two passes over the index files, one file decoded at a time:
/// 1. the page table's own blobs (root, leaves, delta): a few hundred entries a GiB;
/// 2. with the snapshot's page ids known, a table of page numbers keyed by those ids (4 bytes a
///    slot) picks out the entries the snapshot uses, and the rest are dropped as they are read.
/// What it holds is proportional to the snapshot: ids (16 bytes a page), the lookup table
/// (about 5), and the pieces the reads are planned from (20).
struct PageLocator {
    let repo: Repository
    let keys: MasterKeys

    struct Located {
        var ids: [BlobID]
        var pieces: [Restorer.Piece]
        /// Pack names, by the numbers pieces use.
        var packs: [String]
    }

    func locate(_ m: Manifest) throws -> Located {
        let files = try repo.backend.list(.index)

        // Pass 1: every pack's number, and the table blobs.
        var tables = BlobIndex(capacity: 1024)
        try forEachIndexFile(files) { file in
            for p in file.packs {
                let n = tables.addPack(p.name, size: p.size)
                for e in p.entries where e.type != .page && e.type != .framedPage {
                    tables.insert(e.id, BlobLocation(pack: n, offset: e.offset, length: e.length, rawLength: e.rawLength, type: e.type, slot: e.slot))
                }
            }
        }
        let ids = try PageTableReader(repo: repo, index: tables, codec: try BlobCodec(keys: keys)).pageIDs(of: m)

        // Pass 2: the pages' locations. Identical pages (ids) each get their own slot.
        let unlocated = UInt32.max
        var pieces = [Restorer.Piece](repeating: Restorer.Piece(pack: unlocated, offset: 0, length: 0, page: 0, type: .page, slot: 0), count: ids.count)
        let lookup = PageLookup(ids: ids)
        var missing = ids.count
        try forEachIndexFile(files) { file in
            for p in file.packs {
                guard let n = tables.packNumber(p.name) else { continue }
                for e in p.entries where e.type == .page || e.type == .framedPage {
                    lookup.forEachPage(of: e.id, in: ids) { page in
                        // The first location recorded for an id wins (duplicates are copies).
                        guard pieces[page].pack == unlocated else { return }
                        pieces[page] = Restorer.Piece(pack: n, offset: e.offset, length: e.length, page: Int32(page), type: e.type, slot: e.slot)
                        missing -= 1
                    }
                }
            }
        }
        if missing > 0, let p = pieces.firstIndex(where: { $0.pack == unlocated }) {
            throw LifeboatError(.corrupt, "page \(p + 1) of the snapshot is in no index (blob \(ids[p].hex.prefix(16))): data is missing; run 'lifeboat check' and restore an older snapshot or from a replica")
        }
        return Located(ids: ids, pieces: pieces, packs: tables.packs)
    }

    private func forEachIndexFile(_ files: [ObjectInfo], _ body: (IndexFile) throws -> Void) throws {
        for info in files {
            try body(try IndexFile.decode(try repo.loadObject(info.key), name: info.key.name))
        }
    }
}

/// Page numbers in an open-addressing table keyed by their ids (looked up in the snapshot's id
/// list, so a slot is 4 bytes). Pages sharing an id (zeroed free pages, often by the thousand)
/// take one slot and are chained through `next`: a run of equal keys would make every probe
/// that lands in it walk its length.
struct PageLookup {
    private var slots: [UInt32]
    private var next: [UInt32]
    private static let none = UInt32.max

    init(ids: [BlobID]) {
        slots = Array(repeating: Self.none, count: max(16, ids.count * 4 / 3 + 1))
        next = Array(repeating: Self.none, count: ids.count)
        // Backwards, so each chain lists its pages in ascending order.
        for page in ids.indices.reversed() {
            let id = ids[page]
            var i = home(id)
            while slots[i] != Self.none, ids[Int(slots[i])] != id { i = i + 1 == slots.count ? 0 : i + 1 }
            next[page] = slots[i]
            slots[i] = UInt32(page)
        }
    }

    private func home(_ id: BlobID) -> Int {
        Int(truncatingIfNeeded: id.lo.multipliedFullWidth(by: UInt64(slots.count)).high)
    }

    /// Calls `body` with every page whose id is `id`.
    func forEachPage(of id: BlobID, in ids: [BlobID], _ body: (Int) -> Void) {
        var i = home(id)
        while slots[i] != Self.none {
            if ids[Int(slots[i])] == id {
                var page = slots[i]
                while page != Self.none {
                    body(Int(page))
                    page = next[Int(page)]
                }
                return
            }
            i = i + 1 == slots.count ? 0 : i + 1
        }
    }
}
